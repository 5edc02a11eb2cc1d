"""A pair member against a real PostgreSQL (no Asterisk needed for the lease): it serves
only while it holds the lock, and the moment its lock connection is cut it closes its
FastAGI listener and waits as the standby, while another holder takes over."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import asyncpg
import pytest

from ccqueue.config.models import Agi, Ami, Asterisk, Config, Http, Standby
from ccqueue.standby import Pair
from ccqueue.store import migrate
from ccqueue.store.lease import PAIR_LOCK_KEY

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def refuses(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) != 0


def health(port: int) -> dict:  # type: ignore[type-arg]
    """/healthz's body, 200 or 503 (an active with no Asterisk here is degraded)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())  # type: ignore[no-any-return]


async def until(check: Callable[[], bool], what: str, timeout: float = 10) -> float:
    began = time.monotonic()
    while not check():
        assert time.monotonic() - began < timeout, f"no {what} within {timeout} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - began


async def test_a_member_whose_lock_connection_is_cut_stops_serving_and_waits_as_standby(pg_dsn: str, tmp_path: Path) -> None:
    await migrate(pg_dsn)
    agi_port, http_port = free_port(), free_port()
    config = Config(
        asterisk=Asterisk(
            ami=Ami(port=free_port(), username="ccqueue", secret="s"),  # type: ignore[arg-type]  # nobody there
            agi=Agi(port=agi_port),
        ),
        http=Http(port=http_port),
        standby=Standby(poll_s=0.1, check_timeout_s=1),
    )
    member = Pair(config, dsn=pg_dsn, spool_dir=tmp_path / "spool", config_path=str(tmp_path))
    stop = asyncio.Event()
    running = asyncio.create_task(member.run(stop))
    other: asyncpg.Connection | None = None
    try:
        await until(lambda: member.daemon is not None and not refuses(agi_port), "activation")
        first_epoch = member.role.epoch
        assert member.role.active and first_epoch is not None
        body = await asyncio.to_thread(health, http_port)
        assert (body["role"], body["epoch"]) == ("active", first_epoch)

        # The database drops the member's lock session (a failover, a network cut), and
        # another holder, already queued for the lock, gets it as the session ends.
        other = await asyncpg.connect(pg_dsn)
        queued = asyncio.create_task(other.execute("SELECT pg_advisory_lock($1)", PAIR_LOCK_KEY))
        await asyncio.sleep(0.2)
        conn = await asyncpg.connect(pg_dsn)
        try:
            cut = await conn.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'ccqueue-lease'"
            )
        finally:
            await conn.close()
        assert cut == 1
        await asyncio.wait_for(queued, 5)
        taken = await other.fetchval("UPDATE ccqueue_lease SET epoch = epoch + 1, holder = 'other' RETURNING epoch")
        assert taken == first_epoch + 1
        stepped = await until(lambda: not member.role.active and member.daemon is None, "step-down", timeout=5)
        assert stepped < 3.0
        await until(lambda: refuses(agi_port), "FastAGI closed", timeout=2)

        # The other holds the lock: the member stays standby, healthy as such.
        await asyncio.sleep(0.5)
        body = await asyncio.to_thread(health, http_port)
        assert (body["role"], body["active"], body["takeovers"]) == ("standby", False, 1)
        assert refuses(agi_port) and not member.role.active
        # Released: the member takes over again, with a newer epoch, through a fresh daemon.
        await other.close()
        other = None
        await until(lambda: member.role.active and member.daemon is not None, "second activation")
        assert member.role.epoch == taken + 1 and member.role.takeovers == 2
    finally:
        stop.set()
        await asyncio.wait_for(running, 20)
        if other is not None:
            await other.close()
