"""A reloaded configuration in the core: all or nothing, places kept."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import AgentSettings, CallState, QueueSettings
from ccqueue.core.errors import ReloadRefused
from ccqueue.core.waiting import Admission
from tests.unit.core.test_waiting import arrive, login, make_acd, of


def test_waiting_callers_keep_their_places_under_new_queue_rules() -> None:
    acd = make_acd(agents=1)
    for n in (1, 2, 3):
        arrive(acd, n, float(n))
    new = replace(
        acd.settings,
        queues=MappingProxyType(
            {"support": QueueSettings(name="support", ring_timeout_s=20, admission=Admission(max_waiting=3))}
        ),
    )
    acd.handle(ev.SettingsReplaced(settings=new), 10.0)
    assert acd.router.waiting_calls("support") == ["c1", "c2", "c3"]
    out = login(acd, "a1", 11.0)
    (offer,) = of(cmd.OriginateAgent, out)
    assert offer.call_id == "c1" and offer.ring_timeout_s == 20  # the new ring time applies
    # c1 ringing, c2 and c3 waiting: 3 not yet answered, the new limit.
    assert of(cmd.ReleaseCaller, arrive(acd, 4, 12.0))
    assert "c4" not in acd.calls and acd.calls["c2"].state is CallState.WAITING


def test_a_new_agent_and_new_skills_take_effect() -> None:
    acd = make_acd(agents=1)
    arrive(acd, 1, 1.0)
    agents = dict(acd.settings.agents)
    agents["a9"] = AgentSettings(agent_id="a9", name="A9", endpoint="PJSIP/a9", queues=("support",))
    acd.handle(ev.SettingsReplaced(settings=replace(acd.settings, agents=MappingProxyType(agents))), 2.0)
    assert acd.agent_for_endpoint("PJSIP/a9") == "a9"
    (offer,) = of(cmd.OriginateAgent, login(acd, "a9", 3.0))
    assert offer.agent_id == "a9" and offer.call_id == "c1"


def test_a_reload_that_would_strand_callers_or_agents_changes_nothing() -> None:
    acd = make_acd(agents=2)
    login(acd, "a2", 0.5)
    acd.handle(ev.AgentRequested(agent_id="a2", action=ev.AgentAction.PAUSE, reason="x"), 0.6)
    arrive(acd, 1, 1.0)
    before = acd.settings
    no_queue = replace(before, queues=MappingProxyType({"other": QueueSettings(name="other")}))
    with pytest.raises(ReloadRefused, match="callers waiting in queues"):
        acd.handle(ev.SettingsReplaced(settings=no_queue), 2.0)
    no_agent = replace(before, agents=MappingProxyType({"a1": before.agents["a1"]}))
    with pytest.raises(ReloadRefused, match=r"logged-in agents \['a2'\]"):
        acd.handle(ev.SettingsReplaced(settings=no_agent), 3.0)
    assert acd.settings is before and "a2" in acd.agents
    assert acd.router.waiting_calls("support") == ["c1"]
