"""The batched record writer between the engine and PostgreSQL.

Rules kept here:

1. ``submit`` never blocks and never fails because PostgreSQL is down: it appends to
   an in-memory buffer. Only ``run`` touches the network and the disk.
2. ``run`` sends the buffer in batches of at most ``batch_max`` records, as soon as a
   batch is full or ``flush_interval_s`` after the first record of a batch arrived —
   at once for an agent's presence (a login or a pause, rare, which a restart gives
   back only if it is stored).
3. A batch that fails for a reason a retry can cure (no connection, server shutting
   down, missing table, timeout, anything unrecognised) goes to the on-disk spool
   (``ccqueue.store.spool``); the writer reconnects with backoff (0.5 s doubling to
   10 s). After every reconnect it replays the spool, oldest first, before anything
   new. Writes are idempotent (``ccqueue.store.tables``), so a record written twice
   (a write that committed but whose answer was lost, then was spooled) counts once.
4. A batch the database refuses for its content (classes 21, 22, 23, or
   ``InvalidRecord``) is retried record by record; the records refused alone go to the
   spool's ``rejected.jsonl`` and ``records_rejected``. One bad record never holds
   back the others, and never blocks the spool.
5. Nothing submitted is dropped silently: at ``close`` and on cancellation, what is
   still in memory is spooled; the next ``run`` replays it.
6. Counters are plain attributes for metrics to read. ``records_written`` counts
   records committed to PostgreSQL (including those replayed from the spool, which
   ``records_replayed`` also counts); ``records_spooled`` counts records appended to
   the spool; ``batches_failed`` counts batch writes that did not commit;
   ``spool_failures`` counts spool appends the disk refused (full: ENOSPC, over the
   process's file size limit: EFBIG, ...). Such a batch stays in memory, in its order,
   and is offered to PostgreSQL, then to the spool, again every ``SPOOL_RETRY_S``: each
   refusal is logged as an error (``record_spool_failed``, ``error_id`` ``spool-write-failed``)
   with how many records memory holds.
7. Fencing (docs/standby.md): a writer given an ``epoch`` writes each batch in one
   transaction that first checks the pair's epoch (``ccqueue.store.lease.check_epoch``).
   Once a newer epoch exists the writer is fenced for good: that batch and every later
   record go to ``rejected.jsonl`` (``records_fenced``), never to the spool, and
   ``on_fenced`` is told once, so the process steps down.
8. ``spool_replayed`` turns true (and ``wait_spool_replayed`` returns) the first time
   the spool has been replayed to the end after a connect: from then on PostgreSQL
   holds everything earlier runs spooled, so reading state back from it (the open
   callbacks, at start-up) sees their last word.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from ccqueue.core.lease import Fenced
from ccqueue.core.records import AgentPresenceRecord, Record
from ccqueue.store.lease import LEASE_SERVER_SETTINGS, check_epoch
from ccqueue.store.spool import SEGMENT_MAX_RECORDS, Spool
from ccqueue.store.tables import InvalidRecord, write_records

# A database-side refusal of the data itself: cardinality (21), data exception (22),
# integrity constraint (23). Everything else is treated as transient and spooled.
_CONTENT_ERROR_CLASSES = frozenset({"21", "22", "23"})
SPOOL_RETRY_S = 1.0  # pause after the disk itself refused a spool append
POOL_CLOSE_TIMEOUT_S = 5.0


def _is_content_error(exc: BaseException) -> bool:
    if isinstance(exc, InvalidRecord):
        return True
    if isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError):
        return True  # asyncpg could not encode an argument (e.g. int out of range)
    if isinstance(exc, asyncpg.PostgresError):
        return (exc.sqlstate or "")[:2] in _CONTENT_ERROR_CLASSES
    return False


class RecordWriter:
    def __init__(
        self,
        dsn: str,
        *,
        spool_dir: Path,
        batch_max: int = 500,
        flush_interval_s: float = 0.2,
        log: Any = None,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 10.0,
        connect_timeout_s: float = 5.0,
        command_timeout_s: float = 30.0,
        segment_max_records: int = SEGMENT_MAX_RECORDS,
        epoch: int | None = None,
        on_fenced: Callable[[Fenced], None] | None = None,
    ) -> None:
        if batch_max < 1:
            raise ValueError(f"batch_max must be >= 1, got {batch_max}")
        self._dsn = dsn
        self._batch_max = batch_max
        self._flush_interval_s = flush_interval_s
        self._backoff_initial_s = backoff_initial_s
        self._backoff_max_s = backoff_max_s
        self._connect_timeout_s = connect_timeout_s
        self._command_timeout_s = command_timeout_s
        base_log = log if log is not None else structlog.get_logger("ccqueue.store.writer")
        self._log = base_log.bind(component="record_writer")
        self.spool = Spool(spool_dir, segment_max_records=segment_max_records)
        self.epoch = epoch  # None: a lone process, no fencing (rule 7)
        self._on_fenced = on_fenced
        self.fenced: Fenced | None = None

        self.records_submitted = 0
        self.records_written = 0
        self.records_replayed = 0
        self.records_spooled = 0
        self.records_rejected = 0
        self.records_fenced = 0
        self.batches_written = 0
        self.batches_failed = 0
        self.spool_failures = 0

        self._buffer: deque[Record] = deque()
        self._inflight: list[Record] = []  # taken from the buffer, not yet settled
        self._settled = 0  # records written, spooled or rejected, in submit order
        self._settled_changed = asyncio.Condition()
        self._wakeup = asyncio.Event()
        self._flush_requested = False
        self._closing = False
        self._running = False
        self._stopped = asyncio.Event()
        self._spool_replayed = asyncio.Event()
        self._pool: asyncpg.Pool | None = None
        self._backoff_s = backoff_initial_s
        self._next_connect_at = 0.0

    # -- the engine's side -------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._pool is not None

    @property
    def buffered(self) -> int:
        return len(self._buffer) + len(self._inflight)

    @property
    def spool_replayed(self) -> bool:
        return self._spool_replayed.is_set()

    async def wait_spool_replayed(self) -> None:
        """Return once what earlier runs spooled is in PostgreSQL (rule 7)."""
        await self._spool_replayed.wait()

    def submit(self, record: Record) -> None:
        """Queue one record for writing; call from the event loop's thread."""
        if self._closing and not self._running:
            self._log.error("record_submitted_after_close", record_type=type(record).__name__)
        self._buffer.append(record)
        self.records_submitted += 1
        if isinstance(record, AgentPresenceRecord):
            self._flush_requested = True
            self._wakeup.set()
        elif len(self._buffer) == 1 or len(self._buffer) >= self._batch_max:
            self._wakeup.set()

    async def flush(self, timeout: float) -> None:
        """Wait until all submitted so far is in PostgreSQL or spooled (TimeoutError)."""
        target = self.records_submitted
        if self._settled >= target:
            return
        self._flush_requested = True
        self._wakeup.set()
        async with asyncio.timeout(timeout), self._settled_changed:
            await self._settled_changed.wait_for(lambda: self._settled >= target)

    async def close(self, timeout: float = 10.0) -> None:
        """Flush, then stop ``run``; records that could not be written stay spooled."""
        if not self._running:
            self._closing = True
            await asyncio.to_thread(self._spool_leftovers)
            return
        self._closing = True
        self._flush_requested = True
        self._wakeup.set()
        async with asyncio.timeout(timeout):
            await self._stopped.wait()

    # -- the long-lived task -----------------------------------------------------------

    async def run(self) -> None:
        if self._running:
            raise RuntimeError("RecordWriter.run is already running")
        self._running = True
        self._closing = False
        self._stopped.clear()
        try:
            await asyncio.to_thread(self.spool.open)
            while True:
                if self._pool is None and self._now() >= self._next_connect_at:
                    await self._connect_and_replay()
                await self._drain()
                if self._closing and not self._buffer:
                    await self._close_pool()
                    return
                await self._wait_for_work()
        except asyncio.CancelledError:
            self._spool_leftovers()  # blocking, but the task is going away
            raise
        finally:
            if self._pool is not None:
                self._pool.terminate()
                self._pool = None
            self.spool.close()
            self._running = False
            self._stopped.set()

    async def _wait_for_work(self) -> None:
        if not self._buffer:
            self._wakeup.clear()
            idle_until = None if self._pool is not None else self._next_connect_at
            await self._wait_wakeup(None if idle_until is None else idle_until - self._now())
        if self._buffer and len(self._buffer) < self._batch_max and not (self._flush_requested or self._closing):
            self._wakeup.clear()  # let the batch fill for one flush interval
            await self._wait_wakeup(self._flush_interval_s)

    async def _wait_wakeup(self, timeout: float | None) -> None:
        if timeout is None:
            await self._wakeup.wait()
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout)):
                await self._wakeup.wait()

    async def _drain(self) -> None:
        self._flush_requested = False
        while self._buffer:
            count = min(self._batch_max, len(self._buffer))
            batch = [self._buffer.popleft() for _ in range(count)]
            self._inflight = batch
            if self._pool is None or not await self._write_batch(batch):
                if not await self._spool_batch(batch):
                    self._buffer.extendleft(reversed(batch))
                    self._inflight = []
                    await asyncio.sleep(SPOOL_RETRY_S)
                    return
            self._inflight = []
            self._settled += count
            async with self._settled_changed:
                self._settled_changed.notify_all()

    # -- PostgreSQL ------------------------------------------------------------------------

    async def _connect_and_replay(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=1,
                timeout=self._connect_timeout_s,
                command_timeout=self._command_timeout_s,
                # A fenced pair's writer is dropped by the server as fast as its lease
                # (a batch holding the epoch row must not outlive a cut-off process).
                server_settings={**LEASE_SERVER_SETTINGS, "application_name": "ccqueue-writer"}
                if self.epoch is not None
                else None,
            )
        except Exception as exc:
            self._disconnect(exc, during="connect")
            return
        self._log.info("record_store_connected")
        await self._replay()

    async def _write_batch(self, batch: list[Record]) -> bool:
        """Write or reject every record; False (and disconnected) on a transient error."""
        if self.fenced is not None:
            await self._refuse_fenced(batch, self.fenced)
            return True
        assert self._pool is not None
        try:
            async with self._pool.acquire() as conn:
                try:
                    await self._write(conn, batch)
                    written = len(batch)
                except Exception as exc:
                    if isinstance(exc, Fenced) or not _is_content_error(exc):
                        raise
                    self.batches_failed += 1
                    self._log.warning("record_batch_refused", error=repr(exc), size=len(batch))
                    written = await self._write_one_by_one(conn, batch)
        except Fenced as exc:
            self._fence(exc)
            await self._refuse_fenced(batch, exc)
            return True
        except Exception as exc:
            self.batches_failed += 1
            self._disconnect(exc, during="write")
            return False
        self.records_written += written
        self.batches_written += 1
        self._backoff_s = self._backoff_initial_s
        return True

    async def _write_one_by_one(self, conn: asyncpg.Connection, batch: list[Record]) -> int:
        written = 0
        for record in batch:
            try:
                await self._write(conn, [record])
                written += 1
            except Exception as exc:
                if isinstance(exc, Fenced) or not _is_content_error(exc):
                    raise
                self.records_rejected += 1
                self._log.error("record_rejected", error=repr(exc), record=repr(record))
                await asyncio.to_thread(self.spool.reject, repr(exc), raw=repr(record))
        return written

    async def _write(self, conn: asyncpg.Connection, batch: list[Record]) -> None:
        if self.epoch is None:
            await write_records(conn, batch)
            return
        async with conn.transaction():  # the epoch checked and the batch written together
            await check_epoch(conn, self.epoch)
            await write_records(conn, batch)

    def _fence(self, exc: Fenced) -> None:
        if self.fenced is not None:
            return
        self.fenced = exc
        self._log.error("record_writer_fenced", epoch=exc.mine, active_epoch=exc.current, hint="a newer active took over")
        if self._on_fenced is not None:
            self._on_fenced(exc)

    async def _refuse_fenced(self, batch: list[Record], exc: Fenced) -> None:
        """Rule 7: kept for a person to read, never replayed."""
        for record in batch:
            try:
                await asyncio.to_thread(self.spool.reject, f"fenced: {exc}", raw=repr(record))
            except OSError as disk:
                self._log.error("fenced_record_not_kept", error=repr(disk), record=repr(record))
        self.records_fenced += len(batch)

    def _disconnect(self, exc: BaseException, *, during: str) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool = None
        delay = self._backoff_s
        self._next_connect_at = self._now() + delay
        self._backoff_s = min(self._backoff_s * 2, self._backoff_max_s)
        self._log.warning("record_store_unavailable", during=during, error=repr(exc), retry_in_s=delay)

    async def _close_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(POOL_CLOSE_TIMEOUT_S):
                await pool.close()
        except Exception:
            pool.terminate()

    # -- the spool -------------------------------------------------------------------------------

    async def _spool_batch(self, batch: list[Record]) -> bool:
        try:
            spooled = await asyncio.to_thread(self.spool.append, batch)
        except OSError as exc:
            self.spool_failures += 1
            self._log.error(
                "record_spool_failed",
                error_id="spool-write-failed",
                error=repr(exc),
                size=len(batch),
                held_in_memory=len(self._buffer) + len(batch),
                retry_in_s=SPOOL_RETRY_S,
            )
            return False
        self.records_spooled += spooled
        self.records_rejected += len(batch) - spooled
        return True

    async def _replay(self) -> None:
        """Write every spool segment, oldest first; stop at the first transient error."""
        try:
            paths = await asyncio.to_thread(self.spool.pending)
        except OSError as exc:
            self._log.error("spool_unreadable", error=repr(exc))
            return
        for path in paths:
            try:
                segment = await asyncio.to_thread(self.spool.load, path)
            except OSError as exc:
                self._log.error("spool_segment_unreadable", segment=path.name, error=repr(exc))
                continue
            self.records_rejected += segment.rejected_lines
            if segment.torn_tail:
                self._log.warning("spool_torn_line_ignored", segment=path.name)
            records = segment.records
            for start in range(0, len(records), self._batch_max):
                if not await self._write_batch(records[start : start + self._batch_max]):
                    return  # kept on disk; replayed after the next reconnect
            await asyncio.to_thread(self.spool.remove, path)
            self.records_replayed += len(records)
            self._log.info("spool_segment_replayed", segment=path.name, records=len(records))
        self._spool_replayed.set()

    def _spool_leftovers(self) -> None:
        """Blocking: spool whatever is still in memory (at close, or on cancellation)."""
        leftovers = [*self._inflight, *self._buffer]
        if not leftovers:
            return
        try:
            was_open = self.spool.is_open
            if not was_open:
                self.spool.open()
            spooled = self.spool.append(leftovers)
            if not was_open:
                self.spool.close()
        except (OSError, RuntimeError) as exc:  # disk trouble, or SpoolBusy
            self._log.error("records_lost", error=repr(exc), count=len(leftovers))
            return
        self._buffer.clear()
        self._inflight = []
        self.records_spooled += spooled
        self.records_rejected += len(leftovers) - spooled
        self._settled = self.records_submitted

    @staticmethod
    def _now() -> float:
        return asyncio.get_running_loop().time()
