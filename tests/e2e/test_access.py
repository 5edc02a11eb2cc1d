"""Who may do what, against a real ``ccqueue run`` (real Asterisk, baresip agents and
PostgreSQL): the users come from its configuration folder, a reload revokes a token at
once, an agent cannot move another agent's phone out of service, and every change,
accepted or refused, is a row of the daemon's ``audit_log``."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ccqueue.credentials import hash_token
from testbed.baresip import Softphone
from testbed.daemon import ADMIN_TOKEN
from testbed.sandbox import AsteriskSandbox
from tests.e2e.conftest import Daemon, running_daemon, wait_row

pytestmark = pytest.mark.e2e

AGENT_TOKEN = "ccq_e2e-agent1-token"


@pytest.fixture
def editable(
    asterisk: AsteriskSandbox, phones: dict[str, Softphone], e2e_config: Path, database: str, tmp_path: Path
) -> Iterator[tuple[Daemon, Path]]:
    """A daemon on a copy of the session's configuration folder, which the test edits."""
    folder = tmp_path / "config"
    shutil.copytree(e2e_config, folder)
    with running_daemon(asterisk, phones, folder, database, tmp_path) as d:
        yield d, folder


async def test_users_tokens_and_the_audit_in_a_running_daemon(editable: tuple[Daemon, Path], database: str) -> None:
    daemon, folder = editable
    users = folder / "users.yaml"
    base = users.read_text()
    status, body = daemon.http("POST", "/api/agents/agent1/login", token=None)
    assert (status, body["error"]) == (401, "not-signed-in")
    # An agent user for agent1, added by a reload.
    users.write_text(base + f'  alice:\n    role: agent\n    agent: agent1\n    tokens: ["{hash_token(AGENT_TOKEN)}"]\n')
    assert daemon.http("POST", "/api/config/reload")[0] == 200
    assert daemon.http("POST", "/api/agents/agent1/login", token=AGENT_TOKEN)[0] == 200
    status, body = daemon.http("POST", "/api/agents/agent2/logout", token=AGENT_TOKEN)
    assert (status, body["error"]) == (403, "forbidden")
    status, body = daemon.http("POST", "/api/config/reload", token=AGENT_TOKEN)
    assert (status, body["error"]) == (403, "forbidden")
    # Revoked: removed from the file and reloaded, the token is refused at once.
    users.write_text(base)
    assert daemon.http("POST", "/api/config/reload")[0] == 200
    status, body = daemon.http("POST", "/api/agents/agent1/logout", token=AGENT_TOKEN)
    assert (status, body["error"]) == (401, "not-signed-in")
    assert daemon.http("GET", "/api/agents/agent1")[1]["state"] == "available"

    rows = await wait_row(
        database,
        "SELECT array_agg(coalesce(actor, '-') || ' ' || method || ' ' || path || ' ' || status || ' ' || outcome"
        " ORDER BY at) AS trail FROM audit_log",
        check=lambda row: row["trail"] is not None and len(row["trail"]) >= 7,
    )
    trail = [re.sub(r"\s+", " ", line) for line in rows["trail"]]
    assert trail == [
        "- POST /api/agents/agent1/login 401 refused",
        "testbed POST /api/config/reload 200 accepted",
        "alice POST /api/agents/agent1/login 200 accepted",
        "alice POST /api/agents/agent2/logout 403 refused",
        "alice POST /api/config/reload 403 refused",
        "testbed POST /api/config/reload 200 accepted",
        "- POST /api/agents/agent1/logout 401 refused",
    ]
    assert ADMIN_TOKEN not in daemon.log_text() and AGENT_TOKEN not in daemon.log_text()
