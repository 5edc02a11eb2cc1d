"""How long a large CSV contact list takes to import, and whether memory stays flat.

Run from the repository root: ``python bench/contacts_import.py``. The lines printed say
what is measured; the last line is one JSON object with the figures. Under a minute.

A CSV file is written to a temporary folder: ``--rows`` rows (100,000 by default) of
distinct valid North American numbers in the ways people write them (``(212) 555-0101``,
``+1 212 555 0101``, ``212.555.0101``), a name with a comma in quotes for one row in
ten, an IANA zone for one row in five, and two extra columns (an account id and a
balance): about 7 MB, with a byte-order mark as Excel writes it. A throwaway PostgreSQL
(the tests' ``PgServer``: loopback, durability off) is migrated with the shipped
migrations.

Timed: the same function ``ccqueue contacts import`` runs (``import_contacts``: read in
64 KiB blocks, every number normalised with phonenumbers, COPY into a staging table in
batches, duplicates found by SQL, one INSERT), first over a tenth of the file's rows
(another file), then over the whole file, each into a campaign of its own. The process's
resident memory is sampled every 5 ms during each: memory is flat when the whole file's
import peaks little higher than the tenth's (``rss_growth_mb``; ``peak_rss_mb`` is the
whole file's peak, the process's baseline included).

Targets: 100,000 rows in under 30 s (``import_s``), the peak grown by under 20 MB from
the small import to the large one (``target_met``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncpg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ccqueue.contacts import import_contacts
from ccqueue.store import migrate
from tests.support.postgres import PgServer, find_bindir

IMPORT_TARGET_S = 30.0
GROWTH_TARGET_MB = 20.0
# Area codes in use (New York, Chicago, San Francisco, Boston, Houston, Washington,
# Miami, Atlanta, Portland, Denver): phonenumbers calls NXX-XXXX under each valid.
AREAS = (212, 312, 415, 617, 713, 202, 305, 404, 503, 303)
ZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "America/Denver")


class _Quiet:
    def info(self, *args: object, **kwargs: object) -> None:
        pass


def write_list(path: Path, rows: int, seed: int) -> int:
    """A CSV list of ``rows`` distinct numbers; returns its size in bytes."""
    draw = random.Random(seed)
    # Distinct numbers: a walk over area x exchange x line without repeats.
    picks = draw.sample(range(len(AREAS) * 800 * 10_000), rows)
    with path.open("w", encoding="utf-8-sig", newline="") as out:
        out.write("number,name,tz,account,balance\r\n")
        for i, pick in enumerate(picks):
            area = AREAS[pick % len(AREAS)]
            exchange = 200 + (pick // len(AREAS)) % 800
            line = pick // (len(AREAS) * 800)
            shape = i % 3
            if shape == 0:
                number = f"({area}) {exchange}-{line:04d}"
            elif shape == 1:
                number = f"+1 {area} {exchange} {line:04d}"
            else:
                number = f"{area}.{exchange}.{line:04d}"
            name = f'"Doe, Jane {i}"' if i % 10 == 0 else f"Contact {i}"
            tz = ZONES[i % len(ZONES)] if i % 5 == 0 else ""
            out.write(f"{number},{name},{tz},AC-{i:07d},{draw.randint(0, 99_999) / 100:.2f}\r\n")
    return path.stat().st_size


def rss_mb() -> float:
    """The resident memory now (``/proc/self/statm``, in pages)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


class PeakRss:
    """The highest resident memory seen while it runs, sampled every 5 ms in a thread
    (``ru_maxrss`` cannot be reset, and writing the files would set it)."""

    def __init__(self) -> None:
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


async def timed_import(dsn: str, campaign: str, path: Path) -> tuple[float, int, int, float]:
    conn = await asyncpg.connect(dsn)
    try:
        with PeakRss() as memory:
            began = time.perf_counter()
            with path.open("rb") as stream:
                report = await import_contacts(conn, campaign, stream, region="US", source=path.name)
            seconds = time.perf_counter() - began
        stored = await conn.fetchval("SELECT count(*) FROM contacts WHERE campaign = $1", campaign)
    finally:
        await conn.close()
    return seconds, report.imported, int(stored), memory.peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    bindir = find_bindir()
    if bindir is None:
        print("bench/contacts_import.py: PostgreSQL's server binaries are not installed", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="ccqueue-contacts-bench-"))
    small_rows = max(1, args.rows // 10)
    small, large = work / "small.csv", work / "large.csv"
    small_bytes = write_list(small, small_rows, seed=1)
    large_bytes = write_list(large, args.rows, seed=2)
    print(f"wrote {small_rows} rows ({small_bytes / 1e6:.1f} MB) and {args.rows} rows ({large_bytes / 1e6:.1f} MB)", flush=True)
    pg = PgServer(bindir, Path(tempfile.mkdtemp(prefix="ccqueue-contacts-bench-pg-")))
    try:
        pg.init()
        pg.start()
        dsn = pg.create_database("contacts_bench")
        asyncio.run(migrate(dsn, log=_Quiet()))
        before = rss_mb()
        small_s, small_imported, _, after_small = asyncio.run(timed_import(dsn, "small", small))
        print(f"{small_imported} rows imported in {small_s:.2f} s; peak RSS {after_small:.1f} MB", flush=True)
        large_s, large_imported, stored, after_large = asyncio.run(timed_import(dsn, "large", large))
        print(f"{large_imported} rows imported in {large_s:.2f} s; peak RSS {after_large:.1f} MB", flush=True)
    finally:
        pg.remove()
        shutil.rmtree(work, ignore_errors=True)
    growth = after_large - after_small
    result = {
        "rows": args.rows,
        "imported": large_imported,
        "stored": stored,
        "file_mb": round(large_bytes / 1e6, 2),
        "import_s": round(large_s, 2),
        "rows_per_s": round(large_imported / large_s),
        "small_rows": small_rows,
        "small_import_s": round(small_s, 2),
        "rss_mb_before": round(before, 1),
        "peak_rss_mb_small": round(after_small, 1),
        "peak_rss_mb": round(after_large, 1),
        "rss_growth_mb": round(growth, 1),
        "target_met": large_s < IMPORT_TARGET_S and growth < GROWTH_TARGET_MB and large_imported == args.rows,
    }
    print(json.dumps(result))
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
