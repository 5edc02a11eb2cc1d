"""The ``ccqueue`` command as an administrator runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

REPO = Path(__file__).resolve().parents[2]


def ccqueue(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ccqueue.cli", *args], cwd=REPO, capture_output=True, text=True, timeout=60, env=env
    )


def test_check_accepts_the_shipped_configuration() -> None:
    result = ccqueue("check", "-c", "config")
    assert result.returncode == 0, result.stderr
    assert "configuration OK" in result.stdout


def test_check_names_file_line_and_key_of_every_problem(tmp_path: Path) -> None:
    for name in ("ccqueue.yaml", "queues.yaml"):
        (tmp_path / name).write_text((REPO / "config" / name).read_text())
    (tmp_path / "agents.yaml").write_text(
        "agents:\n"
        "  agent1:\n"
        "    name: Alice\n"
        "    password: x\n"
        "    queues: [suport]\n"  # a typo: no such queue
        "    wrapup: 3\n"  # a typo: the key is wrapup_s
    )
    result = ccqueue("check", "-c", str(tmp_path))
    assert result.returncode == 2
    agents = str(tmp_path / "agents.yaml")
    assert f"{agents}:5: agents.agent1.queues" in result.stderr
    assert "suport" in result.stderr
    assert f"{agents}:6: agents.agent1.wrapup" in result.stderr
    assert "wrapup_s" in result.stderr  # the suggestion


@pytest.mark.integration
async def test_migrate_is_idempotent_and_takes_dsn_from_environment(pg_dsn: str) -> None:
    import os

    first = ccqueue("migrate", "--dsn", pg_dsn)
    assert first.returncode == 0, first.stderr
    shipped = sorted(p.name.split("_")[0] for p in (Path(__file__).parents[2] / "ccqueue/store/migrations").glob("*.sql"))
    assert f"applied {len(shipped)} migration(s): {', '.join(shipped)}" in first.stdout, first.stdout
    second = ccqueue("migrate", env={**os.environ, "CCQUEUE_DSN": pg_dsn})
    assert second.returncode == 0, second.stderr
    assert "schema up to date" in second.stdout
    conn = await asyncpg.connect(pg_dsn)
    try:
        tables = {r["tablename"] for r in await conn.fetch("select tablename from pg_tables where schemaname = 'public'")}
    finally:
        await conn.close()
    assert {"calls", "call_events", "agent_state_intervals", "schema_migrations"} <= tables


def test_migrate_without_a_database_says_how_to_give_one() -> None:
    import os

    env = {k: v for k, v in os.environ.items() if k != "CCQUEUE_DSN"}
    result = ccqueue("migrate", env=env)
    assert result.returncode == 2
    assert "--dsn" in result.stderr and "CCQUEUE_DSN" in result.stderr
