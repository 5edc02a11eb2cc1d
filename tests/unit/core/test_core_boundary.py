"""The distributor's state is read outside the core only through its views."""

from __future__ import annotations

import ast
import dataclasses
import pathlib
import re
import sys
from types import MappingProxyType

import pytest

from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.agent_state import AgentState
from ccqueue.core.calls import CallState

ROOT = pathlib.Path(__file__).resolve().parents[3]
# The parts' live state, and anything private of the facade.
INTERNALS = re.compile(r"\bacd\.(calls|agents|callbacks|offers|live_offers|_\w+)\b")


def test_nothing_outside_the_core_reads_the_distributors_internals() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{n}"
        for folder in ("ccqueue", "bench")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "core" not in path.relative_to(ROOT).parts
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if INTERNALS.search(line)
    ]
    assert found == []


def test_views_are_frozen_values_of_the_moment() -> None:
    queue = QueueSettings(name="support")
    acd = Acd(
        AcdSettings(
            queues=MappingProxyType({"support": queue}),
            agents=MappingProxyType({"a1": AgentSettings(agent_id="a1", name="Ann", endpoint="PJSIP/a1", queues=("support",))}),
            hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
        )
    )
    acd.handle(ev.CallArrived(call_id="c1", hotline="100", caller="+1", channel="ch1", uniqueid="u1"), 1.0)
    (agent,) = acd.views.agents()
    (support,) = acd.views.queues()
    caller = acd.views.caller("c1")
    assert (agent.agent_id, agent.name, agent.state, agent.queues) == ("a1", "Ann", AgentState.LOGGED_OUT, ("support",))
    assert (support.name, support.waiting, support.oldest_arrival, support.callbacks_open) == ("support", 1, 1.0, 0)
    assert caller is not None and caller.state is CallState.WAITING and caller.queue == "support"
    assert [c.call_id for c in acd.views.waiting_callers("support")] == ["c1"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        agent.state = AgentState.AVAILABLE  # type: ignore[misc]
    acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN), 2.0)
    assert agent.state is AgentState.LOGGED_OUT  # the view taken before does not move
    assert acd.views.agent("a1") is not None and acd.views.agent("a1").state is AgentState.RINGING  # type: ignore[union-attr]
    assert acd.views.agent("nobody") is None and acd.views.caller("nobody") is None


def core_imports() -> dict[str, set[str]]:
    """Each core module and the core modules it imports (type-checking imports too)."""
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "ccqueue" / "core").glob("*.py")):
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ccqueue.core"):
                if node.module == "ccqueue.core":
                    deps |= {alias.name for alias in node.names}
                else:
                    deps.add(node.module.removeprefix("ccqueue.core."))
        graph[path.stem] = deps - {path.stem}
    return graph


def test_the_core_modules_import_one_another_without_a_circle() -> None:
    graph = core_imports()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        assert module not in path, " -> ".join((*path, module))
        if module in done:
            return
        for dep in sorted(graph.get(module, ())):
            visit(dep, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())
    assert "acd" not in graph["events"]


def test_the_core_imports_only_itself_and_the_standard_library() -> None:
    # The configuration maps itself onto the core (ccqueue.config.to_core), never the reverse.
    outside: list[str] = []
    for path in sorted((ROOT / "ccqueue" / "core").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            outside += [
                f"{path.name}: {name}"
                for name in names
                if not (name == "ccqueue.core" or name.startswith("ccqueue.core."))
                and name.split(".")[0] not in sys.stdlib_module_names | {"__future__"}
            ]
    assert outside == []
