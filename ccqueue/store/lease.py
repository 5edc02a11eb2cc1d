"""The pair's lease in PostgreSQL: an advisory lock on a dedicated connection, and the
fencing epoch beside it (migration 0013, docs/standby.md).

Rules kept here:

1. The lock is session-level (``pg_try_advisory_lock``) on a connection used for
   nothing else: it is held exactly as long as that session lives. A crash, a kill -9,
   a network cut or a database failover ends the session and frees the lock; no clock
   or heartbeat of ours decides.
2. Taking the lock is followed, in one transaction on the same connection, by a check
   that the session really holds it (``pg_locks``) and ``epoch = epoch + 1``. The
   update waits for record batches still reading the row ``FOR SHARE``, so after it
   commits no batch of an older epoch can commit (``check_epoch``).
3. The lock connection asks the server to drop it when the client goes silent (TCP
   keepalives of a few seconds), so the lock of an active cut off from the network is
   freed in seconds, not after the operating system's two hours.
4. ``alive`` is the active's watch on its lease: a round trip on the lock connection
   within a deadline. A connection that fails or is slow counts as lost; the caller
   steps down first and asks questions later. A connection the server closes (its
   session ended by a failover or by an administrator) is told at once through
   ``on_closed``, without waiting for the next round trip: the standby polling for the
   lock may take it within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import asyncpg

from ccqueue.core.lease import Fenced, writable

__all__ = ["LEASE_SERVER_SETTINGS", "PAIR_LOCK_KEY", "Lease", "check_epoch", "current_epoch"]

# "ccqueue\x02" read as a big-endian integer; the migrator's lock is "ccqueue\x01".
PAIR_LOCK_KEY = 0x6363_7175_6575_6502

# Rule 3: the server probes a silent client after 2 s idle, every 1 s, and gives up
# after 2 misses (Linux's defaults are 7200 s, 75 s and 9).
LEASE_SERVER_SETTINGS = {
    "application_name": "ccqueue-lease",
    "tcp_keepalives_idle": "2",
    "tcp_keepalives_interval": "1",
    "tcp_keepalives_count": "2",
}

# How long the epoch update may wait for an old batch's row lock before the attempt is
# given up (the lock released, tried again at the next poll).
EPOCH_LOCK_TIMEOUT = "3s"


async def current_epoch(conn: asyncpg.Connection) -> int:
    value = await conn.fetchval("SELECT epoch FROM ccqueue_lease WHERE id = 1")
    if value is None:
        raise asyncpg.UndefinedTableError("ccqueue_lease has no row: run ccqueue migrate")
    return int(value)


async def check_epoch(conn: asyncpg.Connection, mine: int) -> None:
    """Inside a batch's transaction: raise ``Fenced`` unless ``mine`` is still the epoch.

    ``FOR SHARE`` keeps the row as read until the batch commits, so a successor's epoch
    update lands either before (this batch is refused) or after (it was written first).
    """
    value = await conn.fetchval("SELECT epoch FROM ccqueue_lease WHERE id = 1 FOR SHARE")
    if value is None:
        raise asyncpg.UndefinedTableError("ccqueue_lease has no row: run ccqueue migrate")
    if not writable(mine, int(value)):
        raise Fenced(mine=mine, current=int(value))


class Lease:
    """One process's side of the lock: try to take it, watch it, give it back."""

    def __init__(
        self,
        dsn: str,
        *,
        holder: str,
        key: int = PAIR_LOCK_KEY,
        connect_timeout_s: float = 5.0,
        on_closed: Callable[[], None] = lambda: None,
    ) -> None:
        self._dsn = dsn
        self._on_closed = on_closed  # rule 4: the lock connection closed, whoever closed it
        self._holder = holder
        self._key = key
        self._connect_timeout_s = connect_timeout_s
        self._conn: asyncpg.Connection | None = None
        self.epoch: int | None = None

    @property
    def held(self) -> bool:
        return self.epoch is not None and self._conn is not None and not self._conn.is_closed()

    async def try_take(self) -> int | None:
        """The new epoch if the lock is now ours (rule 2), else None. Connection
        errors propagate; the connection is dropped so the next try starts afresh."""
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await asyncpg.connect(
                    self._dsn, timeout=self._connect_timeout_s, server_settings=LEASE_SERVER_SETTINGS
                )
                self._conn.add_termination_listener(lambda _conn: self._on_closed())
            conn = self._conn
            if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key):
                return None
            try:
                async with conn.transaction():
                    await conn.execute(f"SET LOCAL lock_timeout = '{EPOCH_LOCK_TIMEOUT}'")
                    held = await conn.fetchval(
                        """SELECT count(*) FROM pg_locks
                            WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
                              AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1""",
                        self._key & 0xFFFF_FFFF_FFFF_FFFF,
                    )
                    if not held:
                        raise RuntimeError("the advisory lock is not held by this session after taking it")
                    epoch = await conn.fetchval(
                        "UPDATE ccqueue_lease SET epoch = epoch + 1, holder = $1, taken_at = now() WHERE id = 1 RETURNING epoch",
                        self._holder,
                    )
                if epoch is None:
                    raise asyncpg.UndefinedTableError("ccqueue_lease has no row: run ccqueue migrate")
            except BaseException:
                with contextlib.suppress(Exception):
                    await conn.fetchval("SELECT pg_advisory_unlock($1)", self._key)
                raise
        except BaseException:
            await self.drop()
            raise
        self.epoch = int(epoch)
        return self.epoch

    async def alive(self, timeout: float) -> bool:
        """Rule 4: does the lock connection still answer within ``timeout``?"""
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            async with asyncio.timeout(timeout):
                await conn.fetchval("SELECT 1")
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False
        return True

    async def drop(self) -> None:
        """Close the lock connection at once (the server frees the lock with the session)."""
        conn, self._conn = self._conn, None
        self.epoch = None
        if conn is not None:
            conn.terminate()

    async def release(self, timeout: float = 2.0) -> None:
        """A graceful goodbye: unlock, then close; dropping does as much if this fails."""
        conn = self._conn
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(timeout):
                    await conn.fetchval("SELECT pg_advisory_unlock($1)", self._key)
                    await conn.close()
        await self.drop()

    def describe(self) -> dict[str, Any]:
        return {"epoch": self.epoch, "held": self.held}
