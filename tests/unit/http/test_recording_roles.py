"""Who may play a recording: an admin, a supervisor of its queue, the agent who took it."""

from __future__ import annotations

import pytest

from ccqueue.config.users import Role
from ccqueue.http.access import ROUTES, Principal
from ccqueue.http.recordings import may_play

RECORDING = {"id": "c.1", "queue": "support", "agent_id": "agent1"}

CASES = [
    (Principal(name="root", role=Role.ADMIN, via="token"), True),
    (Principal(name="sam", role=Role.SUPERVISOR, via="token", queues=frozenset({"support"})), True),
    (Principal(name="sue", role=Role.SUPERVISOR, via="token", queues=frozenset({"billing"})), False),
    (Principal(name="alice", role=Role.AGENT, via="token", agent="agent1"), True),
    (Principal(name="bob", role=Role.AGENT, via="token", agent="agent2"), False),
    (Principal(name="nobody", role=Role.AGENT, via="token", agent=None), False),
]


@pytest.mark.parametrize(("principal", "allowed"), CASES)
def test_who_may_play(principal: Principal, allowed: bool) -> None:
    assert may_play(principal, RECORDING) is allowed


def test_a_recording_of_no_queue_is_for_admins_and_its_agent_only() -> None:
    sam = Principal(name="sam", role=Role.SUPERVISOR, via="token", queues=frozenset({"support"}))
    assert not may_play(sam, {**RECORDING, "queue": None})


def test_playback_routes_are_audited_and_erasure_is_for_admins() -> None:
    assert ROUTES[("GET", "/api/recordings/{recording_id}/audio")].audited
    assert ROUTES[("GET", "/api/recordings/{recording_id}")].audited
    assert ROUTES[("POST", "/api/erasures")].role is Role.ADMIN
