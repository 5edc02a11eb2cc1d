"""baresip softphones playing ccqueue agents in tests and demos.

Each `Softphone` is one ``baresip`` process with a config folder of its own,
registered to the agent's PJSIP endpoint on 127.0.0.1. It answers by itself
(``answermode='auto'``) or rings until told (``'manual'``), plays a WAV file
(repeated, for up to ``max_call_s`` per call: baresip hangs up when its audio
source ends) and throws away what it hears. It is driven over baresip's
``ctrl_tcp`` module: netstring-framed JSON commands, with baresip's events
(``CALL_INCOMING``, ``CALL_ESTABLISHED``, ``CALL_CLOSED``, ...) arriving on the
same connection; a reader thread keeps them, so a test can ask whether the phone
is ringing or in a call, or wait for an event.

``auto_answer_header=True`` makes the phone answer at once a call whose INVITE asks
for it, whatever its answermode, as desk phones do for an outbound dialer's agent
leg: ``Call-Info: ...;answer-after=0`` or an ``Alert-Info`` naming auto-answer
(``info=alert-autoanswer``, ``;answer-after=0``). baresip 1.0.0 ignores these
headers, so the phone runs baresip with its SIP trace (``-s``), finds the INVITE of
each incoming call there by its Call-ID, and accepts the call over ctrl_tcp;
``auto_answered`` lists the Call-IDs it answered so (each noted as the phone accepts it).

    phone = Softphone("agent1", "secret", sip_server_port=5060, listen_port=15070,
                      ctrl_port=14444, audio_file=Path("sounds/en/agent-silence.wav"))
    phone.start()
    phone.wait_registered(10, check=lambda: sandbox.is_registered("agent1"))
    phone.wait_event("CALL_INCOMING", 10); phone.command("accept")
    phone.stop()
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

__all__ = ["PhoneEvent", "Softphone", "SoftphoneError", "ensure_baresip"]

MODULE_PATH = "/usr/lib/baresip/modules"
# baresip hangs up a call when its audio source file ends, so the phone plays
# the given WAV repeated into a file of its own that lasts ``max_call_s``.
SOURCE_WAV = "source.wav"
_SAFE = re.compile(r"^[A-Za-z0-9_.!~*'()&=+$,%#\-]+$")
_REGISTERED = re.compile(r"\b200 OK\b.*\bbinding")
# What in an INVITE asks the phone to answer by itself (RFC 5373's answer-after in
# Call-Info, and the Alert-Info forms Polycom, Yealink and Snom phones take).
_AUTO_ANSWER = re.compile(r"^(call-info|alert-info):.*(answer-after=0\b|auto-?answer)", re.IGNORECASE | re.MULTILINE)
_BLANK_LINE = re.compile(r"\r?\n[ \t]*\r?\n")
_INVITE_LINE = re.compile(r"^INVITE sip:", re.MULTILINE)
# How long to look for an incoming call's INVITE in the trace (written just before
# baresip reports the call).
_TRACE_WAIT_S = 2.0


class SoftphoneError(RuntimeError):
    pass


@dataclass(frozen=True)
class PhoneEvent:
    """One event baresip reported over ctrl_tcp."""

    type: str  # CALL_INCOMING, CALL_RINGING, CALL_ESTABLISHED, CALL_CLOSED, REGISTER_OK, ...
    param: str
    at: float  # time.monotonic()
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


def ensure_baresip() -> str:
    """Path of the baresip binary, installing ``baresip-core`` if it is missing."""
    path = shutil.which("baresip")
    if path and Path(MODULE_PATH, "ctrl_tcp.so").exists():
        return path
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", "baresip-core"]
    if subprocess.run(cmd, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
        subprocess.run(cmd, env=env, capture_output=True, check=True)
    path = shutil.which("baresip")
    if not path:
        raise SoftphoneError("baresip is not installed and could not be installed")
    return path


def _write_looped_wav(src: Path, dst: Path, seconds: int) -> None:
    """``src`` (mono 16-bit PCM WAV) repeated to last at least ``seconds``."""
    with wave.open(str(src), "rb") as w:
        params = w.getparams()
        frames = w.readframes(params.nframes)
    if params.nchannels != 1 or params.sampwidth != 2 or not frames:
        raise SoftphoneError(f"{src}: expected a mono 16-bit PCM WAV file")
    per_copy = params.nframes / params.framerate
    copies = max(1, math.ceil(seconds / per_copy))
    with wave.open(str(dst), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(params.framerate)
        for _ in range(copies):
            out.writeframesraw(frames)


def _netstring(payload: bytes) -> bytes:
    return b"%d:%s," % (len(payload), payload)


class Softphone:
    """An agent's SIP phone: one baresip process."""

    def __init__(
        self,
        agent_id: str,
        password: str,
        *,
        sip_server_port: int,
        listen_port: int,
        ctrl_port: int,
        answermode: Literal["auto", "manual"] = "auto",
        audio_file: Path | str,
        sip_server_host: str = "127.0.0.1",
        rtp_ports: tuple[int, int] | None = None,
        workdir: Path | str | None = None,
        max_call_s: int = 600,
        auto_answer_header: bool = False,
    ) -> None:
        for what, value in (("agent id", agent_id), ("password", password)):
            if not _SAFE.match(value):
                raise ValueError(f"{what} {value!r} cannot be written into a baresip account line")
        if answermode not in ("auto", "manual"):
            raise ValueError(f"answermode must be 'auto' or 'manual', not {answermode!r}")
        self.agent_id = agent_id
        self.password = password
        self.sip_server_host = sip_server_host
        self.sip_server_port = sip_server_port
        self.listen_port = listen_port
        self.ctrl_port = ctrl_port
        self.answermode = answermode
        self.audio_file = Path(audio_file).resolve()
        self.max_call_s = max_call_s
        self.auto_answer_header = auto_answer_header
        self.auto_answered: list[str] = []
        if rtp_ports is None:
            # 20 ports of their own per phone, away from Asterisk's range
            base = 20000 + (listen_port % 1000) * 20
            rtp_ports = (base, base + 19)
        self.rtp_ports = rtp_ports
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"baresip-{agent_id}-"))
        self.log_path = self.workdir / "baresip.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: Any = None
        self._sock: socket.socket | None = None
        self._reader: threading.Thread | None = None
        self._lock = threading.Condition()
        self._events: list[PhoneEvent] = []
        self._responses: dict[str, dict[str, Any]] = {}
        self._tokens = itertools.count(1)
        self._closed = False

    # ---- config ---------------------------------------------------------------

    @property
    def aor(self) -> str:
        return f"sip:{self.agent_id}@{self.sip_server_host}:{self.sip_server_port}"

    def write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.audio_file.is_file():
            raise SoftphoneError(f"audio file {self.audio_file} does not exist")
        config = f"""\
# baresip config of the ccqueue test agent {self.agent_id}
poll_method		epoll
sip_listen		127.0.0.1:{self.listen_port}
call_local_timeout	120
call_max_calls		4
audio_player		aufile,/dev/null
audio_source		aufile,{self.workdir / SOURCE_WAV}
audio_alert		aufile,/dev/null
ausrc_srate		8000
auplay_srate		8000
ausrc_channels		1
auplay_channels		1
audio_level		no
rtp_ports		{self.rtp_ports[0]}-{self.rtp_ports[1]}
rtp_timeout		0
net_interface		127.0.0.1
module_path		{MODULE_PATH}
module			g711.so
module			aufile.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:{self.ctrl_port}
"""
        (self.workdir / "config").write_text(config)
        (self.workdir / "accounts").write_text(
            f"<{self.aor}>;auth_user={self.agent_id};auth_pass={self.password};"
            f"answermode={self.answermode};regint=60;audio_codecs=PCMU,PCMA\n"
        )
        (self.workdir / "contacts").write_text("")
        _write_looped_wav(self.audio_file, self.workdir / SOURCE_WAV, self.max_call_s)
        return self.workdir

    # ---- process --------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> None:
        """Start baresip and connect to its ctrl_tcp port."""
        if self._proc is not None:
            raise SoftphoneError("already started")
        binary = ensure_baresip()
        self.write_config()
        self._log_file = open(self.log_path, "ab", buffering=0)  # noqa: SIM115 -- open for the phone's life, closed in stop()
        cmd = [binary, "-f", str(self.workdir)]
        if self.auto_answer_header:
            # the SIP trace, line by line (stdbuf), so an INVITE is in the log when its call is reported
            cmd = [*(["stdbuf", "-oL"] if shutil.which("stdbuf") else []), binary, "-s", "-f", str(self.workdir)]
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            if self._proc.poll() is not None:
                raise SoftphoneError(f"baresip exited with {self._proc.returncode}:\n{self.log_text()}")
            try:
                self._sock = socket.create_connection(("127.0.0.1", self.ctrl_port), timeout=1.0)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    self.stop()
                    raise SoftphoneError(f"baresip ctrl_tcp did not open on port {self.ctrl_port}") from None
                time.sleep(0.05)
        self._sock.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, name=f"baresip-{self.agent_id}", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop baresip (by its pid: TERM, then KILL) and close the control link."""
        self._closed = True
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.shutdown(socket.SHUT_RDWR)
            self._sock.close()
            self._sock = None
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        if self._reader is not None:
            self._reader.join(timeout)
            self._reader = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def cleanup(self) -> None:
        """Stop, and remove the config folder if this object made it."""
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Softphone:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ---- control --------------------------------------------------------------

    def _read_loop(self) -> None:
        sock = self._sock
        assert sock is not None
        buf = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                with self._lock:
                    self._lock.notify_all()
                return
            buf += chunk
            while True:
                colon = buf.find(b":")
                if colon < 0:
                    break
                try:
                    size = int(buf[:colon])
                except ValueError:  # out of step: drop what we have
                    buf = b""
                    break
                end = colon + 1 + size
                if len(buf) < end + 1:
                    break
                payload, buf = buf[colon + 1 : end], buf[end + 1 :]
                try:
                    msg = json.loads(payload)
                except ValueError:
                    continue
                self._dispatch(msg)

    def _dispatch(self, msg: dict[str, Any]) -> None:
        with self._lock:
            if msg.get("response"):
                self._responses[str(msg.get("token", ""))] = msg
            elif msg.get("event"):
                event = PhoneEvent(str(msg.get("type", "")), str(msg.get("param", "")), time.monotonic(), msg)
                self._events.append(event)
                if self.auto_answer_header and event.type == "CALL_INCOMING":
                    # not on this thread: command() waits for a response this thread reads
                    threading.Thread(target=self._auto_answer, args=(event,), daemon=True).start()
            self._lock.notify_all()

    def invite_of(self, call_id: str, timeout: float = _TRACE_WAIT_S) -> str:
        """The INVITE with Call-ID ``call_id`` in baresip's SIP trace ('' if not seen)."""
        header = re.compile(rf"^(call-id|i):[ \t]*{re.escape(call_id)}[ \t]*\r?$", re.IGNORECASE | re.MULTILINE)
        deadline = time.monotonic() + timeout
        while True:
            # one SIP message per block: the trace separates them, and a message's
            # headers end, with a blank line
            for block in _BLANK_LINE.split(self.log_text()):
                if _INVITE_LINE.search(block) and header.search(block):
                    return block
            if time.monotonic() >= deadline:
                return ""
            time.sleep(0.05)

    def _auto_answer(self, event: PhoneEvent) -> None:
        call_id = str(event.raw.get("id", ""))
        if not call_id or not _AUTO_ANSWER.search(self.invite_of(call_id)):
            return
        self.auto_answered.append(call_id)
        with contextlib.suppress(SoftphoneError, OSError):
            self.command("accept")

    def command(self, cmd: str, params: str = "", timeout: float = 5.0) -> dict[str, Any]:
        """Send one command (``accept``, ``hangup``, ``answermode``, ``callstat``,
        ``listcalls``, ``reginfo``, ...) and return baresip's response:
        ``{"response": true, "ok": bool, "data": str, "token": str}``."""
        if self._sock is None:
            raise SoftphoneError("not started")
        token = f"t{next(self._tokens)}"
        body = json.dumps({"command": cmd, "params": params, "token": token}).encode()
        self._sock.sendall(_netstring(body))
        deadline = time.monotonic() + timeout
        with self._lock:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0 or self._reader is None or not self._reader.is_alive():
                    raise SoftphoneError(f"no response to {cmd!r} within {timeout} s")
                self._lock.wait(left)
            return self._responses.pop(token)

    def accept(self) -> dict[str, Any]:
        return self.command("accept")

    def hangup(self) -> dict[str, Any]:
        return self.command("hangup")

    def set_answermode(self, mode: Literal["auto", "manual"]) -> dict[str, Any]:
        resp = self.command("answermode", mode)
        self.answermode = mode
        return resp

    # ---- state ----------------------------------------------------------------

    @property
    def events(self) -> list[PhoneEvent]:
        with self._lock:
            return list(self._events)

    def wait_event(self, type_: str, timeout: float = 10.0, *, after: float = 0.0) -> PhoneEvent:
        """The first event of ``type_`` seen at or after ``after`` (a monotonic time)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for ev in self._events:
                    if ev.type == type_ and ev.at >= after:
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [e.type for e in self._events]
                    raise TimeoutError(f"{self.agent_id}: no {type_} within {timeout} s (seen: {seen})")
                self._lock.wait(left)

    @property
    def call_state(self) -> Literal["idle", "ringing", "in_call"]:
        """From the events so far: ``ringing`` after CALL_INCOMING, ``in_call``
        after CALL_ESTABLISHED, ``idle`` after CALL_CLOSED (single call)."""
        state: Literal["idle", "ringing", "in_call"] = "idle"
        for ev in self.events:
            if ev.type == "CALL_INCOMING":
                state = "ringing"
            elif ev.type == "CALL_ESTABLISHED":
                state = "in_call"
            elif ev.type == "CALL_CLOSED":
                state = "idle"
        return state

    @property
    def ringing(self) -> bool:
        return self.call_state == "ringing"

    @property
    def in_call(self) -> bool:
        return self.call_state == "in_call"

    def registered_in_log(self) -> bool:
        """Whether baresip logged a successful registration (``200 OK ... binding``)."""
        return bool(_REGISTERED.search(self.log_text()))

    def wait_registered(self, timeout: float = 10.0, check: Callable[[], bool] | None = None) -> None:
        """Wait until the phone is registered: by ``check`` (for example
        ``lambda: sandbox.is_registered(agent_id)``, the registrar's view) if
        given, else by baresip's own log."""
        probe = check or self.registered_in_log
        deadline = time.monotonic() + timeout
        while True:
            if self._proc is None or self._proc.poll() is not None:
                raise SoftphoneError(f"baresip is not running:\n{self.log_text()}")
            if probe():
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.agent_id} not registered after {timeout} s:\n{self.log_text()[-2000:]}")
            time.sleep(0.2)
