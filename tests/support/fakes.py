"""Shared stand-ins for unit tests of the engine and the adapters: Asterisk's side of
AMI and FastAGI, the record store, the callers' sessions, the engine's inbox and a clock.

Fakes are for unit tests only; what a feature does with the real parts is proved by the
end-to-end tests (real Asterisk, baresip, PostgreSQL).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from panoramisk.fast_agi import Request

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.records import Record

# What Asterisk answers to an AGI command on a channel that hung up, and afterwards.
HANGUP = "HANGUP"
DEAD = "511 Command Not Permitted on a dead channel or intercept routine"


class RecordingTelephony:
    """Asterisk as the engine sees it: every Originate, hang-up and redirect is kept;
    an agent's phone answers unless ``failure`` says otherwise."""

    def __init__(self, failure: ev.RingFailure | None = None) -> None:
        self.failure = failure
        self.originated: list[cmd.OriginateAgent] = []
        self.hung_up: list[str] = []
        self.redirected: list[tuple[str, str, str, str]] = []
        self.dialled: list[cmd.DialContact] = []
        self.dial_failure: ev.DialFailure | None = None  # a campaign's callee: answers unless set

    async def originate_contact(self, command: cmd.DialContact) -> tuple[ev.DialFailure | None, str]:
        self.dialled.append(command)
        return self.dial_failure, "reason 5" if self.dial_failure else ""

    async def originate_agent(self, command: cmd.OriginateAgent) -> ev.RingFailure | None:
        self.originated.append(command)
        return self.failure

    async def hangup(self, uniqueid: str) -> None:
        self.hung_up.append(uniqueid)

    async def redirect(self, channel: str, *, context: str, exten: str, priority: str) -> None:
        self.redirected.append((channel, context, exten, priority))


class Records:
    """The record store: keeps what was submitted, in order."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def submit(self, record: Record) -> None:
        self.records.append(record)

    def of(self, kind: type) -> list[Any]:
        return [r for r in self.records if isinstance(r, kind)]


class RecordingCallers:
    """The callers' sessions: keeps every caller-facing command delivered."""

    def __init__(self) -> None:
        self.delivered: list[cmd.Command] = []

    def deliver(self, command: cmd.Command) -> None:
        self.delivered.append(command)


class RecordingInbox:
    """The engine's inbox as an adapter sees it: every event asked or posted is kept;
    ``answer`` decides what an ask returns."""

    def __init__(self, answer: Callable[[ev.Event], Any] = lambda _event: None) -> None:
        self.asked: list[ev.Event] = []
        self.posted: list[ev.Event] = []
        self._answer = answer

    async def ask(self, event: ev.Event) -> Any:
        self.asked.append(event)
        return self._answer(event)

    def post(self, event: ev.Event) -> None:
        self.posted.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.posted if isinstance(e, ev.CallProgressed)]


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeAsterisk:
    """Asterisk's side of one FastAGI session for a scripted caller: answers each AGI
    command (keys pressed as ``keys`` says, a hang-up on ``hang_up_on``) and keeps the
    transcript."""

    def __init__(
        self,
        keys: list[str] | None = None,
        *,
        hang_up_on: str | None = None,
        replies: dict[str, str] | None = None,
        on_command: Callable[[str], None] | None = None,
    ) -> None:
        self.keys = list(keys or [])
        self.hang_up_on = hang_up_on  # a command prefix: the caller hangs up instead of answering it
        self.replies = replies or {}
        self.on_command = on_command
        self.commands: list[str] = []
        self.gone = False

    def reply(self, command: str) -> str:
        if self.on_command:
            self.on_command(command)
        if self.gone:
            return DEAD
        if self.hang_up_on and command.startswith(self.hang_up_on):
            self.gone = True
            return HANGUP
        for prefix, answer in self.replies.items():
            if command.startswith(prefix):
                return answer
        if command.startswith("STREAM FILE"):
            escape = command.rsplit(" ", 1)[1].strip('"')
            if escape and self.keys and self.keys[0] != "-" and self.keys[0] in escape:
                return f"200 result={ord(self.keys.pop(0))} endpos=800"
            return "200 result=0 endpos=8000"
        if command.startswith("WAIT FOR DIGIT"):
            key = self.keys.pop(0) if self.keys else "-"
            return "200 result=0" if key == "-" else f"200 result={ord(key)}"
        return "200 result=0"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            command = line.decode().rstrip("\n")
            self.commands.append(command)
            writer.write((self.reply(command) + "\n").encode())
            await writer.drain()
        writer.close()


async def agi_session(
    peer: FakeAsterisk, script: Callable[[Request], Awaitable[None]], *, headers: dict[str, str] | None = None
) -> None:
    """Run ``script`` as ccqueue's side of one FastAGI session, over loopback, with
    ``peer`` playing Asterisk; a failure of the script is raised here."""
    failures: list[Exception] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(Request(app=None, headers=headers or {"agi_extension": "300"}, reader=reader, writer=writer))
        except Exception as exc:
            failures.append(exc)
        finally:
            writer.close()

    server = await asyncio.start_server(accepted, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server, asyncio.timeout(20):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await peer.serve(reader, writer)
    if failures:
        raise failures[0]


async def raw_agi_session(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]], raw: bytes, *, max_commands: int = 20
) -> list[bytes]:
    """Play a FastAGI peer of our own making against ccqueue's ``handle`` on loopback:
    send ``raw`` (headers, well formed or not), answer every command with success, and
    return the commands ccqueue sent before it closed the session. A peer that stops
    mid-headers closes its side at once (the header deadline is tested on its own)."""
    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    sent: list[bytes] = []
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:  # a connection closed unread may be reset rather than closed
            writer.write(raw)
            if not raw.endswith(b"\n\n"):
                writer.write_eof()
            await writer.drain()
            async with asyncio.timeout(8):
                while len(sent) < max_commands and (line := await reader.readline()):
                    sent.append(line)
                    writer.write(b"200 result=0\n")
        except (ConnectionResetError, BrokenPipeError, TimeoutError):
            pass
        writer.close()
    finally:
        listener.close()
    return sent


def agi_headers(headers: dict[str, str]) -> bytes:
    """FastAGI headers as Asterisk sends them: ``key: value`` lines and a blank line."""
    return "".join(f"{k}: {v}\n" for k, v in headers.items()).encode() + b"\n"


# An earlier call every number has in the memory history store.
EARLIER = {"kind": "call", "at": "2026-01-02T10:00:00+00:00", "call_id": "old1", "queue": "support", "disposition": "resolved"}


@dataclass
class MemoryStore:
    """The agent workspace's history store over lists (the real one: tests/integration/test_history_store.py)."""

    calls: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)
    saved: list[dict[str, Any]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)

    async def history(self, number: str, limit: int) -> list[dict[str, Any]]:
        self.asked.append(number)
        return [EARLIER]

    async def recorded_call(self, call_id: str) -> tuple[str | None, str | None] | None:
        return self.calls.get(call_id)

    async def save_wrapup(self, **row: Any) -> dict[str, Any]:
        self.saved.append(row)
        return {k: v for k, v in row.items() if k != "at"}
