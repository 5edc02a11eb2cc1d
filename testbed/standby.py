"""An active/standby pair of ``ccqueue run`` against one Asterisk and one PostgreSQL,
and the measure of a takeover (docs/standby.md).

Both members read the same configuration folder (which has a ``standby`` section and
lists both FastAGI addresses under ``asterisk.agi.addresses``); the second one gets
its own HTTP and FastAGI ports on the command line. ``measure_takeover`` kills the
active with SIGKILL and times, from the kill, until the other one answers ``/healthz``
as active and serving (its AMI link ready, the restart's rebuild done); then it
starts the killed one again and checks that it stays the standby.

    pair = StandbyPair(config=folder, dsn=dsn, workdir=tmp, ports=[(http1, agi1), (http2, agi2)])
    pair.start()
    ... callers waiting, a conversation ...
    result = measure_takeover(pair)     # {"takeover_s": ..., "old_active_fenced": True, ...}
    pair.stop()
"""

from __future__ import annotations

import contextlib
import re
import signal
import time
from pathlib import Path
from typing import Any

from testbed.daemon import CcqueueProcess

__all__ = ["PairMember", "StandbyPair", "is_active", "is_standby", "measure_takeover"]

# A takeover is expected within 5 s; the wait for it is bounded well beyond that.
TAKEOVER_WAIT_S = 20.0
POLL_S = 0.05


def is_active(body: Any) -> bool:
    return isinstance(body, dict) and body.get("active") is True and body.get("status") == "ok"


def is_standby(body: Any) -> bool:
    return isinstance(body, dict) and body.get("role") == "standby" and body.get("active") is False


class PairMember(CcqueueProcess):
    """One ``ccqueue run`` of the pair, on its own HTTP and FastAGI ports."""

    def __init__(self, *, name: str, http_port: int, agi_port: int, **kwargs: Any) -> None:
        super().__init__(http_port=http_port, run_args=("--http-port", str(http_port), "--agi-port", str(agi_port)), **kwargs)
        self.name = name
        self.agi_port = agi_port

    def health(self) -> dict[str, Any] | None:
        with contextlib.suppress(OSError, ValueError):
            status, body = self.http("GET", "/healthz")
            if status in (200, 503) and isinstance(body, dict):
                return body
        return None

    def kill(self) -> float:
        """SIGKILL; the monotonic time it was sent."""
        proc, self.proc = self.proc, None
        assert proc is not None, f"{self.name} is not running"
        sent = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=20)
        return sent


class StandbyPair:
    def __init__(
        self,
        *,
        config: Path,
        dsn: str,
        workdir: Path,
        ports: list[tuple[int, int]],
        log_args: tuple[str, ...] = ("--log-level", "debug"),
    ) -> None:
        if len(ports) != 2:
            raise ValueError("a pair has two members: give two (http, agi) port pairs")
        self.members = [
            PairMember(
                name=f"member-{n + 1}",
                config=config,
                dsn=dsn,
                http_port=http,
                agi_port=agi,
                log_path=workdir / f"member-{n + 1}.log",
                spool_dir=workdir / f"spool-{n + 1}",
                log_args=log_args,
            )
            for n, (http, agi) in enumerate(ports)
        ]

    def start(self, timeout: float = 20.0) -> None:
        """The first member becomes active, then the second one waits as the standby."""
        first, second = self.members
        first.start(timeout, ready=is_active)
        second.start(timeout, ready=is_standby)

    def active(self) -> PairMember:
        found = [m for m in self.members if m.proc is not None and is_active(m.health())]
        if len(found) != 1:
            raise AssertionError(f"expected one active member, found {[m.name for m in found]}")
        return found[0]

    def other(self, member: PairMember) -> PairMember:
        return self.members[1] if member is self.members[0] else self.members[0]

    def stop(self) -> None:
        for member in self.members:
            member.stop()


def wait_for(member: PairMember, check: Any, *, since: float, timeout: float = TAKEOVER_WAIT_S) -> float:
    """Seconds from ``since`` until ``member``'s /healthz passes ``check``."""
    deadline = since + timeout
    while time.monotonic() < deadline:
        if check(member.health()):
            return time.monotonic() - since
        time.sleep(POLL_S)
    raise AssertionError(f"{member.name} not there within {timeout} s: {member.health()}\n{member.log_text()[-3000:]}")


def measure_takeover(pair: StandbyPair, *, restart_old: bool = True) -> dict[str, Any]:
    """Kill -9 the active; seconds until the standby is active and serving. With
    ``restart_old``, the killed member is started again and must come up as standby."""
    old = pair.active()
    new = pair.other(old)
    killed_at = old.kill()
    takeover_s = wait_for(new, is_active, since=killed_at)
    serving = None
    for _ in range(40):  # the new active logs its own figure within a poll of being healthy
        serving = re.search(r"active_serving.*?after_s=([0-9.]+)", new.log_text())
        if serving:
            break
        time.sleep(POLL_S)
    result: dict[str, Any] = {
        "takeover_s": round(takeover_s, 3),
        # the new active's own figure: from taking the lock to healthy with state rebuilt
        "rebuild_s": float(serving.group(1)) if serving else None,
        "old": old.name,
        "new": new.name,
        "new_epoch": (new.health() or {}).get("epoch"),
    }
    if restart_old:
        old.start(TAKEOVER_WAIT_S, ready=is_standby)
        body = old.health() or {}
        result["old_active_fenced"] = is_standby(body) and is_active(new.health())
    return result
