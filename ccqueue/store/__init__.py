"""PostgreSQL storage for what the core asks to be written down.

Rules kept here:

1. ``migrate`` brings the schema up to date; run it before the writer starts.
2. The engine hands records to ``RecordWriter.submit`` and never waits on the
   database; ``RecordWriter.run`` writes them in batches and spools them to disk
   while PostgreSQL is unreachable.
3. Every write is idempotent (``write_records``), so retries and replays are safe.
"""

from ccqueue.store.migrate import migrate
from ccqueue.store.restore import CallbacksNotRestored, restore_callbacks
from ccqueue.store.spool import Spool, SpoolBusy
from ccqueue.store.tables import (
    InvalidRecord,
    fetch_call,
    fetch_call_events,
    fetch_callback,
    fetch_survey,
    load_open_callbacks,
    write_records,
)
from ccqueue.store.writer import RecordWriter

__all__ = [
    "CallbacksNotRestored",
    "InvalidRecord",
    "RecordWriter",
    "Spool",
    "SpoolBusy",
    "fetch_call",
    "fetch_call_events",
    "fetch_callback",
    "fetch_survey",
    "load_open_callbacks",
    "migrate",
    "restore_callbacks",
    "write_records",
]
