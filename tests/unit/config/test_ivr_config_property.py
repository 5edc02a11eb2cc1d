"""Arbitrary YAML for the ivr and schedules sections never crashes the loader, and every
problem it reports names a file and (but for a whole file or section) a line."""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.config.test_config_property import assert_loads_or_explains

REPO = Path(__file__).resolve().parents[3]
BASE = {"asterisk": {"ami": {"username": "u", "secret": "s"}}, "queues": {"support": None},
        "hotlines": {"300": {"ivr": "main"}}}  # fmt: skip
WORDS = [
    "main", "office", "start", "menu", "bye", "support", "entry", "nodes", "transfer_allowed", "max_visits",
    "play", "collect", "say", "branch", "lookup", "set", "language", "queue", "callback", "voicemail", "transfer",
    "hangup", "goto", "prompt", "prompts", "keys", "next", "on_exhausted", "on_failure", "otherwise", "conditions",
    "variable", "equals", "matches", "caller_matches", "schedule_open", "schedule_closed", "timeout_s", "retries",
    "url", "fields", "name", "priority", "time_zone", "hours", "holidays", "date", "mon", "sat", "1", "#",
    "Europe/Berlin", "UTC", "09:00-18:00", "22:00-02:00", "24:00-01:00", "2025-12-25", "(", "[0-9]+", "en", "ru",
    "ccqueue/welcome", "vm-goodbye", "http://crm/{caller}", "{caller}", "format", "digits", "date", "to",
]  # fmt: skip
keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=6))
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(), st.sampled_from(WORDS),
                    st.text(max_size=10))  # fmt: skip
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=30,
)
node_bodies = st.dictionaries(st.sampled_from(WORDS), values, max_size=6)
nodes = st.dictionaries(st.sampled_from(WORDS), st.dictionaries(st.sampled_from(WORDS), node_bodies | values,
                                                                min_size=1, max_size=2), max_size=6)  # fmt: skip
trees = st.dictionaries(st.sampled_from(["main", "other", "Bad Name"]),
                        st.fixed_dictionaries({"entry": st.sampled_from(WORDS), "nodes": nodes},
                                              optional={"transfer_allowed": values, "max_visits": values}),
                        max_size=2)  # fmt: skip
schedules = st.dictionaries(st.sampled_from(["office", "x"]),
                            st.fixed_dictionaries({"time_zone": st.sampled_from(WORDS) | values},
                                                  optional={"hours": st.dictionaries(st.sampled_from(WORDS), values),
                                                            "holidays": values}),
                            max_size=2)  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trees, schedules)
def test_any_tree_loads_or_is_explained(ivr: dict[str, object], schedule: dict[str, object]) -> None:
    doc = {**copy.deepcopy(BASE), "ivr": ivr, "schedules": schedule}
    assert_loads_or_explains({"config.yaml": yaml.safe_dump(doc)}, {})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_mutated_sample_tree_loads_or_is_explained(data: st.DataObject) -> None:
    sample = yaml.safe_load((REPO / "config" / "ivr.yaml").read_text(encoding="utf-8"))
    doc = copy.deepcopy({**BASE, **sample})
    for _ in range(data.draw(st.integers(1, 4))):
        node: object = doc
        while isinstance(node, dict | list) and node and data.draw(st.booleans()):
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
            node = data.draw(st.sampled_from(children))[1]
        if isinstance(node, dict):
            node[data.draw(st.sampled_from(sorted(node) or ["x"]) | keys)] = data.draw(values)
        elif isinstance(node, list) and node:
            node[data.draw(st.integers(0, len(node) - 1))] = data.draw(values)
    assert_loads_or_explains({"config.yaml": yaml.safe_dump(doc)}, {})
