"""Checks of IVR trees and schedules that need more than one value, where file and line are known.

Rules kept here:

- Every node a tree names (its entry, a key's target, a next, an on_failure ...) must
  be one of the tree's nodes; every queue must be under ``queues``; every schedule under
  ``schedules``; every hotline's ``ivr`` (and a queue overflow's ``ivr``) a tree.
- Every node must be reachable from the entry: a node nothing leads to is a typo or
  left over.
- No loop may go round without waiting for the caller (play, say, set, branch, lookup
  and goto nodes only), and no loop may be one a caller who presses nothing goes round
  for ever (through menus and collects that give up, back to themselves).
- A transfer to a fixed number must match one of the tree's ``transfer_allowed``.
- Sounds must exist: ``ccqueue/...`` among the project's ``sounds/en``, any other among
  Asterisk's sounds when their folder is known (``CCQUEUE_SOUNDS_DIR``, else
  ``/usr/share/asterisk/sounds/en``). When it is not known those are not checked:
  `SoundCatalog.asterisk` is None and `ccqueue check` passes them unseen.
- A tree or a node that fails its own validation is left to the models' report; the
  checks here look at the rest, so one typo does not hide the others' problems.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ccqueue.config.ivr import Node
from ccqueue.config.problems import Collector, did_you_mean
from ccqueue.config.yamlfile import KeyPath

__all__ = ["SoundCatalog", "check_ivr", "default_sound_catalog", "edges", "sounds_in"]

PROJECT_SOUNDS = Path(__file__).resolve().parents[2] / "sounds" / "en"
ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en")
PROJECT_PREFIX = "ccqueue/"
# Nodes that wait for the caller's keys; the rest pass straight through.
_INPUT_TYPES = ("menu", "collect")
_SOUND_SUFFIXES = (".wav", ".gsm", ".ulaw", ".alaw", ".sln", ".g722", ".g729", ".mp3", ".ogg", ".sln16")


@dataclass(frozen=True, slots=True)
class SoundCatalog:
    """Sound names known to exist; None: that set is not known and is not checked."""

    project: frozenset[str] | None = None  # names under ccqueue/, without the prefix
    asterisk: frozenset[str] | None = None

    def missing(self, sound: str) -> str | None:
        """Why `sound` is not there, or None when it is (or cannot be checked)."""
        if sound.startswith(PROJECT_PREFIX):
            name = sound[len(PROJECT_PREFIX) :]
            if self.project is not None and name not in self.project:
                return f"no sound '{sound}': sounds/en has no {name}.wav (see sounds/README.md)"
            return None
        if self.asterisk is not None and sound not in self.asterisk:
            return f"Asterisk has no sound '{sound}'{did_you_mean(sound, self.asterisk)}"
        return None


def sounds_in(directory: Path) -> frozenset[str] | None:
    """Names (relative, without extension) of the sound files under `directory`."""
    if not directory.is_dir():
        return None
    names = set()
    for path in directory.rglob("*"):
        if path.suffix.lower() in _SOUND_SUFFIXES:
            names.add(path.relative_to(directory).with_suffix("").as_posix())
    return frozenset(names)


def default_sound_catalog(env: Mapping[str, str]) -> SoundCatalog:
    configured = env.get("CCQUEUE_SOUNDS_DIR")
    asterisk_dir = Path(configured) if configured else ASTERISK_SOUNDS
    return SoundCatalog(project=sounds_in(PROJECT_SOUNDS), asterisk=sounds_in(asterisk_dir))


# --- what a node refers to ------------------------------------------------------------------


def edges(node: Node) -> list[tuple[KeyPath, str]]:
    """(path under the node, target) of every node reference in `node`."""
    kind, body = node.type, node.body
    if kind == "goto":
        return [(("goto",), body)]
    found: list[tuple[KeyPath, str]] = []
    for field in ("next", "on_exhausted", "on_failure", "otherwise", "on_no_number", "on_refused"):
        target = getattr(body, field, None)
        if isinstance(target, str):
            found.append(((kind, field), target))
    if kind == "menu":
        found += [((kind, "keys", key), target) for key, target in body.keys.items()]
    if kind == "branch":
        found += [((kind, "conditions", i, "goto"), c.goto) for i, c in enumerate(body.conditions)]
    return found


def _silent_edges(node: Node) -> list[str]:
    """Where a caller who presses nothing can go from `node`."""
    if node.type in _INPUT_TYPES:
        return [node.body.on_exhausted]
    if node.type == "language" and node.body.keys:
        return [node.body.next]
    return [target for _, target in edges(node)]


def _waiting_edges(node: Node) -> list[str]:
    """Where `node` leads without waiting for a key (none for a node that waits)."""
    if node.type in _INPUT_TYPES or (node.type == "language" and node.body.keys):
        return []
    return [target for _, target in edges(node)]


def _node_sounds(node: Node) -> Iterator[tuple[KeyPath, str]]:
    kind, body = node.type, node.body
    for field in ("prompt", "invalid_prompt"):
        value = getattr(body, field, None)
        if isinstance(value, str):
            yield (kind, field), value
    for index, sound in enumerate(getattr(body, "prompts", ())):
        yield (kind, "prompts", index), sound


# --- the checks -------------------------------------------------------------------------------


def check_ivr(data: Mapping[str, object], collector: Collector, *, sounds: SoundCatalog, complete: bool = True) -> None:
    """Report every cross-reference and graph problem of the ``ivr`` and ``schedules`` sections.

    `complete` is false when a file could not be read: a section missing from `data`
    may be in it, and references to it are then not checked.
    """

    def names(section: str) -> list[str] | None:
        value = data.get(section)
        if isinstance(value, dict):
            return sorted(value)
        return [] if complete and value is None else None

    trees = data.get("ivr")
    trees = trees if isinstance(trees, dict) else {}
    if names("ivr") is not None:
        _check_tree_references(data, trees, collector)
    context = _Context(collector=collector, sounds=sounds, queues=names("queues"), schedules=names("schedules"))
    for name, tree in trees.items():
        if isinstance(tree, dict):
            _check_tree(name, tree, context)


def _check_tree_references(data: Mapping[str, object], trees: Mapping[str, object], collector: Collector) -> None:
    known = sorted(trees)

    def check(path: KeyPath, value: object) -> None:
        if isinstance(value, str) and value not in trees:
            collector.add(path, f"unknown IVR tree '{value}'{did_you_mean(value, known)}")

    hotlines = data.get("hotlines")
    for number, hotline in hotlines.items() if isinstance(hotlines, dict) else ():
        if isinstance(hotline, dict):
            check(("hotlines", number, "ivr"), hotline.get("ivr"))
    queues = data.get("queues")
    for name, queue in queues.items() if isinstance(queues, dict) else ():
        overflow = queue.get("overflow") if isinstance(queue, dict) else None
        for reason, dest in overflow.items() if isinstance(overflow, dict) else ():
            if isinstance(dest, dict):
                check(("queues", name, "overflow", reason, "ivr"), dest.get("ivr"))


@dataclass(frozen=True, slots=True)
class _Context:
    collector: Collector
    sounds: SoundCatalog
    queues: list[str] | None  # None: not known, not checked
    schedules: list[str] | None


def _valid_nodes(raw: Mapping[str, object]) -> tuple[dict[str, Node], bool]:
    """The nodes that validate on their own, and whether every one did."""
    nodes: dict[str, Node] = {}
    for name, node in raw.items():
        try:
            nodes[name] = Node.model_validate(node)
        except ValidationError:
            continue
    return nodes, len(nodes) == len(raw)


def _check_tree(name: str, tree: Mapping[str, Any], context: _Context) -> None:
    raw_nodes = tree.get("nodes")
    if not isinstance(raw_nodes, dict):
        return
    nodes, all_valid = _valid_nodes(raw_nodes)
    root: KeyPath = ("ivr", name)
    known = sorted(raw_nodes)
    entry = tree.get("entry")
    if isinstance(entry, str) and entry not in raw_nodes:
        context.collector.add((*root, "entry"), f"unknown node '{entry}'{did_you_mean(entry, known)}")
    for node_name, node in nodes.items():
        at = (*root, "nodes", node_name)
        for path, target in edges(node):
            if target not in raw_nodes:
                context.collector.add(at + path, f"unknown node '{target}'{did_you_mean(target, known)}")
        _check_node_names(at, node, context)
        _check_node_sounds(at, node, context)
    _check_transfers(root, tree, nodes, context)
    if all_valid and isinstance(entry, str) and entry in raw_nodes:
        _check_reachable(root, entry, nodes, context.collector)
    _check_loops(root, nodes, context.collector)


def _check_node_names(at: KeyPath, node: Node, context: _Context) -> None:
    """Queues and schedules a node names must exist."""
    if context.queues is not None and node.type in ("queue", "callback"):
        field = "name" if node.type == "queue" else "queue"
        queue = getattr(node.body, field)
        if queue not in context.queues:
            message = f"unknown queue '{queue}'{did_you_mean(queue, context.queues)}"
            context.collector.add((*at, node.type, field), message)
    if context.schedules is not None and node.type == "branch":
        for index, condition in enumerate(node.body.conditions):
            for field in ("schedule_open", "schedule_closed"):
                schedule = getattr(condition, field)
                if schedule is not None and schedule not in context.schedules:
                    message = f"unknown schedule '{schedule}'{did_you_mean(schedule, context.schedules)}"
                    context.collector.add((*at, "branch", "conditions", index, field), message)


def _check_node_sounds(at: KeyPath, node: Node, context: _Context) -> None:
    for path, sound in _node_sounds(node):
        reason = context.sounds.missing(sound)
        if reason is not None:
            context.collector.add(at + path, reason)


def _check_transfers(root: KeyPath, tree: Mapping[str, Any], nodes: Mapping[str, Node], context: _Context) -> None:
    allowed = tree.get("transfer_allowed", [])
    if not isinstance(allowed, list) or not all(isinstance(p, str) for p in allowed):
        return
    try:
        patterns = [re.compile(p) for p in allowed]
    except (re.error, RecursionError, OverflowError):
        return  # the models report the pattern
    for node_name, node in nodes.items():
        if node.type != "transfer" or "{" in node.body.to:
            continue  # a number from a variable is checked when the call reaches the node
        if not any(p.fullmatch(node.body.to) for p in patterns):
            message = f"'{node.body.to}' matches none of this tree's transfer_allowed patterns"
            context.collector.add((*root, "nodes", node_name, "transfer", "to"), message)


def _check_reachable(root: KeyPath, entry: str, nodes: Mapping[str, Node], collector: Collector) -> None:
    seen = {entry}
    pending = [entry]
    while pending:
        node = nodes.get(pending.pop())
        for _, target in edges(node) if node is not None else ():
            if target not in seen:
                seen.add(target)
                pending.append(target)
    for name in nodes:
        if name not in seen:
            collector.add((*root, "nodes", name), f"node '{name}' cannot be reached from the entry '{entry}'", at_key=True)


def _check_loops(root: KeyPath, nodes: Mapping[str, Node], collector: Collector) -> None:
    busy = _cycles({name: _waiting_edges(node) for name, node in nodes.items()})
    for cycle in busy:
        message = f"these nodes go round without ever waiting for the caller: {' -> '.join([*cycle, cycle[0]])}"
        collector.add((*root, "nodes", cycle[0]), message, at_key=True)
    reported = {name for cycle in busy for name in cycle}
    for cycle in _cycles({name: _silent_edges(node) for name, node in nodes.items()}):
        if reported.isdisjoint(cycle):
            message = (
                f"a caller who presses nothing goes round {' -> '.join([*cycle, cycle[0]])} for ever; "
                "let on_exhausted lead somewhere that ends"
            )
            collector.add((*root, "nodes", cycle[0]), message, at_key=True)


def _cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """One cycle per strongly connected component that has one (Tarjan), each from its first node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(start: str) -> None:
        # Iterative, so a long chain of nodes cannot exhaust Python's recursion limit.
        work = [(start, iter(graph.get(start, ())))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in graph), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in graph.get(node, ()):
                    found.append(_cycle_through(min(component), set(component), graph))

    for name in graph:
        if name not in index:
            visit(name)
    return found


def _cycle_through(start: str, component: set[str], graph: Mapping[str, list[str]]) -> list[str]:
    """A path from `start` back to itself inside `component` (breadth first: a short one)."""
    parents: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for child in graph.get(node, ()):
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(parents[path[-1]])
                    return list(reversed(path))
                if child in component and child not in parents:
                    parents[child] = node
                    following.append(child)
        frontier = following
    return [start]  # pragma: no cover - a component with a cycle always has one through start
