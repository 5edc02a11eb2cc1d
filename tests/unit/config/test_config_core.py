"""The configuration and the core agree: a key left out of the YAML means what the core
does when not told, and the YAML's words are the core's own values (one ``Strategy``)."""

from __future__ import annotations

import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import BaseModel

from ccqueue import config as config_package
from ccqueue.config import Config, load_config
from ccqueue.config.callbacks import GUARD_DIAL, Callbacks
from ccqueue.config.models import Agent, Announce, AutoPause, Hotline, Limits, Queue
from ccqueue.config.to_core import acd_settings
from ccqueue.core.callbacks import CallbackPolicy
from ccqueue.core.calls import (
    AcdSettings,
    AgentSettings,
    HotlineSettings,
    QueueSettings,
)
from ccqueue.core.skills import Strategy
from ccqueue.core.waiting import Announcements
from ccqueue.sim.scenario import parse_scenario

# Every section present, each with only the keys it cannot do without.
LEAST = """\
    asterisk:
      ami: {username: ccqueue, secret: s3cret}
    hotlines:
      "100": {queue: support}
    queues:
      support:
        announce: {}
    agents:
      alice: {name: Alice, password: pw, queues: [support]}
    callbacks:
      dial: "PJSIP/{digits}@trunk"
      caller_id: "+15550100"
      region: US
      allowed: ['\\+1\\d{10}']
    """


def load(tmp_path: Path, text: str) -> Config:
    (tmp_path / "ccqueue.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(tmp_path / "ccqueue.yaml", env={})


def test_a_configuration_left_to_its_defaults_becomes_the_cores_default_settings(tmp_path: Path) -> None:
    # The core's settings built with only what they require: every default the YAML
    # left out must be the core's own, or the two have drifted apart.
    assert acd_settings(load(tmp_path, LEAST)) == AcdSettings(
        queues={"support": QueueSettings(name="support", announcements=Announcements())},
        agents={"alice": AgentSettings(agent_id="alice", name="Alice", endpoint="PJSIP/alice", queues=("support",))},
        hotlines={"100": HotlineSettings(number="100", queue="support")},
        # ccqueue always dials through the dialplan guard, which dials the configured trunk
        callbacks=CallbackPolicy(dial=GUARD_DIAL, allowed=(r"\+1\d{10}",), caller_id="+15550100"),
    )


def test_an_empty_returning_customer_or_auto_pause_section_turns_the_feature_on(tmp_path: Path) -> None:
    text = LEAST.replace("        announce: {}", "        returning_customer: {}\n        auto_pause: {}")
    queue = acd_settings(load(tmp_path, text)).queues["support"]
    # The section's own defaults (the core has these features off); the rest are the core's.
    assert queue == QueueSettings(name="support", returning_window_s=3600.0, returning_wait_s=20.0, auto_pause_after=3)


def test_a_hotline_with_a_null_greeting_plays_none(tmp_path: Path) -> None:
    text = LEAST.replace('"100": {queue: support}', '"100": {queue: support, greeting: null}')
    assert acd_settings(load(tmp_path, text)).hotlines["100"] == HotlineSettings(number="100", queue="support", greeting=None)
    with pytest.raises(Exception, match="greeting"):
        load(tmp_path, LEAST.replace('"100": {queue: support}', '"100": {queue: support, greeting: ""}'))


# Each model with defaults taken from the core, and what it cannot do without.
REQUIRED: dict[type[BaseModel], dict[str, object]] = {
    Hotline: {"queue": "support"},
    Queue: {"name": "support"},
    Limits: {},
    Announce: {},
    AutoPause: {},
    Agent: {"id": "alice", "name": "Alice", "password": "pw"},
    Callbacks: {"dial": "PJSIP/{digits}@trunk", "caller_id": "+15550100", "region": "US", "allowed": [r"\+1\d{10}"]},
}


@pytest.mark.parametrize("model", list(REQUIRED), ids=lambda model: model.__name__)
def test_the_defaults_taken_from_the_core_pass_the_configurations_own_checks(model: type[BaseModel]) -> None:
    # Pydantic does not check a default: given as if written in the YAML, each one is
    # (a core greeting of None, or a language without prompts, would be refused here).
    defaults = {
        name: field.default
        for name, field in model.model_fields.items()
        if not field.is_required() and field.default_factory is None
    }
    model.model_validate({**defaults, **REQUIRED[model]})


@pytest.mark.parametrize("strategy", list(Strategy))
def test_the_yaml_word_is_the_cores_strategy(strategy: Strategy) -> None:
    queue = Queue.model_validate({"name": "q", "strategy": strategy.value})
    assert queue.strategy is strategy


def test_there_is_one_strategy() -> None:
    assert config_package.Strategy is Strategy


def test_a_simulated_callbacks_section_left_to_its_defaults_is_the_cores_policy() -> None:
    scenario = parse_scenario(
        {
            "duration_s": 60,
            "queues": {"support": {}},
            "agents": {"count": 1},
            "arrivals": [{"until_s": 60, "per_minute": 1}],
            "handle_time": {"distribution": "fixed", "mean_s": 30},
            "callbacks": {},
        }
    )
    policy = CallbackPolicy(dial=GUARD_DIAL, allowed=(r"\+\d+",), caller_id="sim")
    assert scenario.settings.callbacks == replace(policy, ring_timeout_s=30.0)  # three times ring_s
