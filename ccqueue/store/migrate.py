"""Schema migrations: numbered SQL files applied once, in order.

Rules kept here:

1. A migration is a file ``NNNN_name.sql`` in ``ccqueue/store/migrations``; its
   version is the four-digit number. Versions are unique; a released file is never
   edited or renamed (a change is a new, higher-numbered file).
2. Each migration runs in its own transaction together with the row that records it
   in ``schema_migrations``: a migration is applied entirely, or not at all.
3. Migrators serialise on a session-level advisory lock (``MIGRATION_LOCK_KEY``), taken
   before anything else is read or created, so two processes starting together
   cannot both apply the same file; the second finds the work done.
4. ``migrate`` is idempotent: a second run applies nothing and returns ``[]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import structlog

# "ccqueue\x01" read as a big-endian integer. Advisory lock keys are global to the
# database; the HA leader election uses a different key.
MIGRATION_LOCK_KEY = 0x6363_7175_6575_6501

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class Migration:
    version: str
    name: str
    sql: str


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """Read the migration files, sorted by version; a misnamed .sql file is an error."""
    if directory is None:
        folder: Any = resources.files("ccqueue.store").joinpath("migrations")
    else:
        folder = directory
    found: dict[str, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise ValueError(f"migration file {entry.name!r} is not named NNNN_name.sql")
        version = match["version"]
        if version in found:
            raise ValueError(f"migration version {version} used twice: {found[version].name!r} and {match['name']!r}")
        found[version] = Migration(version=version, name=match["name"], sql=entry.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]


async def migrate(dsn: str, *, directory: Path | None = None, log: Any = None) -> list[str]:
    """Apply the migrations not applied yet; return the versions applied by this call."""
    log = log if log is not None else structlog.get_logger("ccqueue.store.migrate")
    migrations = load_migrations(directory)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK_KEY)
        try:
            return await _apply_pending(conn, migrations, log)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK_KEY)
    finally:
        await conn.close()


async def _apply_pending(conn: asyncpg.Connection, migrations: list[Migration], log: Any) -> list[str]:
    await conn.execute(_CREATE_LEDGER)
    applied = {row["version"] for row in await conn.fetch("SELECT version FROM schema_migrations")}
    done: list[str] = []
    for migration in migrations:
        if migration.version in applied:
            continue
        async with conn.transaction():
            # No arguments: the simple query protocol runs the whole file at once.
            await conn.execute(migration.sql)
            await conn.execute("INSERT INTO schema_migrations (version) VALUES ($1)", migration.version)
        log.info("migration_applied", version=migration.version, name=migration.name)
        done.append(migration.version)
    return done
