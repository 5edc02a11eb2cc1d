"""A simulation scenario: plain data (as read from YAML) checked into frozen values.

Rules kept here:

- Every problem is collected before anything is raised: `ScenarioError` lists each one
  with its key path (``arrivals.1.per_minute``) and a message. The command line turns
  key paths into file lines; `simulate` callers passing a dict get the paths.
- Unknown keys are errors, with the closest known key suggested; types are strict as
  in the configuration (``"15"`` is not a number, an integer is a number of seconds).
- ``queues`` takes the schema of ``config/queues.yaml`` and is checked by the very
  model that checks it (``ccqueue.config.models.Queue``); agents given by id take the
  schema of ``config/agents.yaml`` (``name`` and ``password`` may be left out). The
  core's settings are then built by the configuration's own mapping
  (``ccqueue.config.to_core.acd_settings``), so a queue simulates as it would run.
- ``ivr`` takes trees and schedules in the schema of ``config/ivr.yaml``, checked by the
  same models and cross-checks (``ccqueue.config.ivr_checks``; sounds are not looked
  for). ``keys`` gives, per input node, the share of callers pressing each key.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ccqueue.config import ivr as ivr_models
from ccqueue.config.callbacks import Callbacks
from ccqueue.config.ivr_checks import SoundCatalog, check_ivr
from ccqueue.config.models import (
    Agent,
    AgentId,
    Ami,
    Asterisk,
    Config,
    Hotline,
    Queue,
    QueueName,
    SkillLevels,
)
from ccqueue.config.problems import Collector, describe_value, did_you_mean, dotted
from ccqueue.config.to_core import acd_settings, ivr_trees
from ccqueue.config.translate import known_keys
from ccqueue.core.acd import AcdSettings
from ccqueue.core.callbacks import CallbackPolicy
from ccqueue.core.errors import InputError
from ccqueue.core.ivr import IvrTree

__all__ = [
    "VIA_IVR",
    "AgentPlan",
    "Distribution",
    "IvrPlan",
    "Scenario",
    "ScenarioError",
    "ScenarioProblem",
    "Segment",
    "parse_scenario",
]

KeyPath = tuple[str | int, ...]
# The arrivals (and rows) of callers who start in the IVR rather than in a queue; not a
# queue name (those are a-z, 0-9, '_' and '-').
VIA_IVR = "(ivr)"
IVR_HOTLINE = "300"
NO_KEY = "none"
Seconds = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]


@dataclass(frozen=True, slots=True)
class ScenarioProblem:
    path: KeyPath
    message: str

    def __str__(self) -> str:
        return f"{dotted(self.path)}: {self.message}" if self.path else self.message


class ScenarioError(InputError, ValueError):
    """The scenario cannot be simulated; ``problems`` lists every reason."""

    error_id = "scenario-invalid"

    def __init__(self, problems: list[ScenarioProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


# ---------------------------------------------------------------------- the schema


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class DistributionModel(_Strict):
    distribution: Literal["exponential", "lognormal", "fixed"]
    mean_s: Positive
    sigma: Positive | None = None  # lognormal: the standard deviation of ln(x)


class SegmentModel(_Strict):
    until_s: Positive
    per_minute: Annotated[float, Field(ge=0)]
    queue: str | None = None  # needed when there are several queues


class GroupModel(_Strict):
    """``count`` alike agents (``a1``, ``a2``, ...), members of ``queues`` (default: all)."""

    count: Annotated[int, Field(ge=1, le=100_000)]
    queues: tuple[str, ...] | None = Field(default=None, strict=False)
    skills: SkillLevels = Field(default_factory=lambda: MappingProxyType({}))
    wrapup_s: Seconds | None = None
    order: int = 0
    login_s: Seconds = 0.0
    logout_s: Positive | None = None


class AgentEntryModel(_Strict):
    """One agent by id, as in ``config/agents.yaml``, plus when it works."""

    name: str | None = None
    password: str | None = None
    queues: tuple[str, ...] = Field(default=(), strict=False)
    wrapup_s: Seconds | None = None
    skills: SkillLevels = Field(default_factory=lambda: MappingProxyType({}))
    order: int = 0
    endpoint: str | None = None
    login_s: Seconds = 0.0
    logout_s: Positive | None = None


# The core's callback policy when not told otherwise: a scenario's defaults are a
# configuration's.
_POLICY = CallbackPolicy(dial="-", allowed=())


class SimCallbacks(_Strict):
    """Callbacks in a simulation: how callers answer the offer, and customers the phone."""

    accept: Annotated[float, Field(ge=0, le=1)] = 1.0  # share of callers offered one who take it
    answer: Annotated[float, Field(ge=0, le=1)] = 0.9  # share of attempts the customer answers
    ring_s: Positive = 10.0  # how long the customer's phone rings before an answer
    max_attempts: Annotated[int, Field(ge=1)] = _POLICY.max_attempts
    retry_delay_s: Seconds = _POLICY.retry_delay_s
    expire_s: Positive = _POLICY.expire_s
    offer_after_s: Positive | None = _POLICY.offer_after_s


class SimIvr(_Strict):
    """Callers who start in an IVR tree, and what they press there."""

    trees: Mapping[str, Any]  # as under ``ivr:`` in config/ivr.yaml
    tree: str | None = None  # the tree callers start in; needed when there are several
    schedules: Mapping[str, Any] = Field(default_factory=dict)  # as in config/ivr.yaml
    language: Literal["en", "ru"] = "en"
    prompt_s: Positive = 3.0  # how long each prompt (or value said) plays
    key_s: Positive = 1.0  # how long a caller takes for each key
    message_s: Positive = 20.0  # how long a message left in a voicemail node lasts (at most its max_s)
    keys: Mapping[str, Mapping[str, Annotated[float, Field(ge=0, le=1)]]] = Field(default_factory=dict)


class ScenarioModel(_Strict):
    seed: int = 0
    duration_s: Positive
    queues: Mapping[str, Any]
    agents: Any
    arrivals: Annotated[list[Any], Field(min_length=1)]
    handle_time: Any
    patience: Any = None
    answer_delay_s: Seconds = 0.0
    drain: bool = True
    callbacks: SimCallbacks | None = None
    ivr: SimIvr | None = None


# ---------------------------------------------------------------------- the result


@dataclass(frozen=True, slots=True, kw_only=True)
class Distribution:
    kind: str  # exponential, lognormal, fixed
    mean_s: float
    sigma: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    start_s: float
    until_s: float
    per_s: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentPlan:
    agent_id: str
    login_s: float
    logout_s: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class IvrPlan:
    """The IVR of a simulated hotline: its trees, timings and the callers' keys."""

    entry: str  # the tree callers start in
    trees: Mapping[str, IvrTree]
    language: str
    prompt_s: float
    key_s: float
    message_s: float
    keys: Mapping[str, tuple[tuple[str, float], ...]]  # node -> (key or '', share), shares summing to 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    seed: int
    duration_s: float
    settings: AcdSettings
    hotline_of: Mapping[str, str]  # queue -> the hotline number that leads to it
    agents: tuple[AgentPlan, ...]
    arrivals: Mapping[str, tuple[Segment, ...]]  # per queue, back to back from 0
    handle_time: Distribution
    patience: Distribution | None
    answer_delay_s: float
    drain: bool
    callbacks: SimCallbacks | None = None
    ivr: IvrPlan | None = None


# ---------------------------------------------------------------------- checking


class _Problems:
    def __init__(self) -> None:
        self.items: list[ScenarioProblem] = []

    def add(self, path: KeyPath, message: str) -> None:
        self.items.append(ScenarioProblem(path, message))

    def validate(self, model: type[BaseModel], data: object, path: KeyPath) -> Any:
        """``model`` from ``data``, or None with every error added under ``path``."""
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for item in exc.errors(include_url=False):
                self._translate(model, item, path)
            return None

    def _translate(self, model: type[BaseModel], item: Any, path: KeyPath) -> None:
        loc = tuple(part for part in item["loc"] if part != "[key]")
        where = path + loc
        kind = item["type"]
        if kind == "missing":
            self.add(where, "this key is required")
        elif kind == "extra_forbidden":
            self.add(where, f"unknown key '{loc[-1]}'{did_you_mean(str(loc[-1]), known_keys(loc[:-1], root=model))}")
        elif kind in ("model_type", "dict_type", "mapping_type", "model_attributes_type"):
            self.add(where, f"expected a mapping, got {describe_value(item.get('input'))}")
        elif kind in ("list_type", "tuple_type"):
            self.add(where, f"expected a list, got {describe_value(item.get('input'))}")
        elif kind == "value_error":
            self.add(where, str(item.get("ctx", {}).get("error", item["msg"])))
        else:
            self.add(where, f"{item['msg']} (got {describe_value(item.get('input'))})")


def parse_scenario(data: object) -> Scenario:
    """Check ``data`` and build the `Scenario`; raises `ScenarioError` listing every problem."""
    problems = _Problems()
    if not isinstance(data, Mapping):
        raise ScenarioError([ScenarioProblem((), f"a scenario is a mapping, got {describe_value(data)}")])
    raw = dict(data)
    top: ScenarioModel | None = problems.validate(ScenarioModel, raw, ())
    # Sections that are there in the right shape are checked further even when another
    # section is wrong: every problem is reported at once.
    broken = {p.path[0] for p in problems.items if p.path}

    def section(key: str, default: Any) -> Any:
        return default if key in broken else raw.get(key, default)

    written = section("queues", {})
    written = written if isinstance(written, Mapping) else {}
    queues = _queues(written, problems, check_empty="queues" not in broken)
    agents, plans = _agents(section("agents", {"count": 1}), queues, tuple(written), problems)
    duration_s = top.duration_s if top is not None else math.inf
    ivr_raw = section("ivr", None)
    trees, schedules = _ivr_sections(ivr_raw, written, problems) if isinstance(ivr_raw, Mapping) else ({}, {})
    via_ivr = isinstance(ivr_raw, Mapping)
    sim_ivr = top.ivr if top is not None else None
    entry = ""
    if sim_ivr is not None:
        entry = _entry_tree(sim_ivr, problems)
        _check_keys(sim_ivr, trees, problems)
    arrivals = _arrivals(section("arrivals", []), queues, tuple(written), duration_s, problems, via_ivr=via_ivr)
    handle_time = _distribution(section("handle_time", None), ("handle_time",), problems, allow_none=True)
    patience = _distribution(section("patience", None), ("patience",), problems, allow_none=True)
    if problems.items or top is None or handle_time is None:
        raise ScenarioError(problems.items)

    hotline_of = {name: str(100 + i) for i, name in enumerate(queues)}
    hotlines = {number: Hotline(queue=name) for name, number in hotline_of.items()}
    if sim_ivr is not None:
        hotline_of[VIA_IVR] = IVR_HOTLINE
        hotlines[IVR_HOTLINE] = Hotline(ivr=entry, language=sim_ivr.language)
    config = Config(
        asterisk=Asterisk(ami=Ami(username="sim", secret="sim")),  # type: ignore[arg-type]
        hotlines=MappingProxyType(hotlines),
        queues=MappingProxyType(queues),
        agents=MappingProxyType(agents),
        callbacks=_callbacks(top.callbacks),
        schedules=MappingProxyType(schedules),
        ivr=MappingProxyType(trees),
    )
    return Scenario(
        seed=top.seed,
        duration_s=top.duration_s,
        settings=acd_settings(config),
        hotline_of=MappingProxyType(hotline_of),
        agents=tuple(plans),
        arrivals=MappingProxyType(arrivals),
        handle_time=handle_time,
        patience=patience,
        answer_delay_s=top.answer_delay_s,
        drain=top.drain,
        callbacks=top.callbacks,
        ivr=None if sim_ivr is None else _ivr_plan(sim_ivr, entry, ivr_trees(config)),
    )


def _ivr_sections(
    raw: Mapping[str, Any], written: Mapping[str, Any], problems: _Problems
) -> tuple[dict[str, ivr_models.IvrTree], dict[str, ivr_models.Schedule]]:
    """The trees and schedules, each checked by config/ivr.yaml's models and cross-checks."""
    trees_raw = raw.get("trees")
    schedules_raw = raw.get("schedules") or {}
    trees: dict[str, ivr_models.IvrTree] = {}
    schedules: dict[str, ivr_models.Schedule] = {}
    if not isinstance(trees_raw, Mapping) or not isinstance(schedules_raw, Mapping):
        return trees, schedules  # the section's own model has said so
    if not trees_raw:
        problems.add(("ivr", "trees"), "at least one tree is needed")
    for name, data in schedules_raw.items():
        found = problems.validate(ivr_models.Schedule, data, ("ivr", "schedules", name))
        if found is not None:
            schedules[name] = found
    for name, data in trees_raw.items():
        found = problems.validate(ivr_models.IvrTree, data, ("ivr", "trees", name))
        if found is not None:
            trees[name] = found
    sections = {"ivr": dict(trees_raw), "schedules": dict(schedules_raw), "queues": dict(written)}
    # The checks only add and look up problems: `_IvrProblems` does that much of a Collector.
    check_ivr(sections, typing.cast(Collector, _IvrProblems(problems)), sounds=SoundCatalog())
    return trees, schedules


class _IvrProblems:
    """``ccqueue.config.ivr_checks``'s collector, placing its problems under ``ivr``."""

    def __init__(self, problems: _Problems) -> None:
        self._problems = problems
        self._reported: set[KeyPath] = set()

    @staticmethod
    def _where(path: KeyPath) -> KeyPath:
        head, rest = path[:1], path[1:]
        if head == ("ivr",):
            return ("ivr", "trees", *rest)
        if head == ("schedules",):
            return ("ivr", "schedules", *rest)
        return path

    def add(self, path: KeyPath, message: str, *, at: KeyPath | None = None, at_key: bool = False) -> None:
        self._problems.add(self._where(path), message)
        self._reported.add(path)

    def mark_reported(self, path: KeyPath) -> None:
        self._reported.add(path)

    def is_reported(self, path: KeyPath) -> bool:
        return any(path[:end] in self._reported for end in range(1, len(path) + 1))


def _entry_tree(sim: SimIvr, problems: _Problems) -> str:
    names = list(sim.trees)
    if sim.tree is None:
        if len(names) > 1:
            problems.add(("ivr", "tree"), f"say which tree callers start in: there are {len(names)}")
        return names[0] if names else ""
    if sim.tree not in sim.trees:
        problems.add(("ivr", "tree"), f"no tree '{sim.tree}' under ivr.trees{did_you_mean(sim.tree, names)}")
    return sim.tree


def _check_keys(sim: SimIvr, trees: Mapping[str, ivr_models.IvrTree], problems: _Problems) -> None:
    """Each ``keys`` entry names an input node (menu, collect, language by key), with
    shares of keys it can take that add up to 1."""
    inputs: dict[str, int] = {}  # node name -> most keys it reads
    for tree in trees.values():
        for name, node in tree.nodes.items():
            if node.menu is not None or (node.language is not None and node.language.keys):
                inputs[name] = max(inputs.get(name, 0), 1)
            elif node.collect is not None:
                inputs[name] = max(inputs.get(name, 0), node.collect.max_length)
    for node_name, shares in sim.keys.items():
        path: KeyPath = ("ivr", "keys", node_name)
        if node_name not in inputs:
            problems.add(path, f"no menu, collect or language-by-key node '{node_name}'{did_you_mean(node_name, inputs)}")
            continue
        for key in shares:
            if key != NO_KEY and (not all(c in "0123456789*#" for c in key) or not 1 <= len(key) <= inputs[node_name]):
                problems.add((*path, key), f"a key is 0-9, '*' or '#' (up to {inputs[node_name]} of them here), or '{NO_KEY}'")
        total = sum(shares.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            problems.add(path, f"the shares add up to {total:g}, not 1")


def _ivr_plan(sim: SimIvr, entry: str, trees: Mapping[str, IvrTree]) -> IvrPlan:
    keys = {node: tuple(("" if key == NO_KEY else key, share) for key, share in shares.items())
            for node, shares in sim.keys.items()}  # fmt: skip
    return IvrPlan(
        entry=entry, trees=trees, language=sim.language, prompt_s=sim.prompt_s, key_s=sim.key_s,
        message_s=sim.message_s, keys=MappingProxyType(keys),
    )  # fmt: skip


def _callbacks(sim: SimCallbacks | None) -> Callbacks | None:
    """The callbacks section a simulated run configures: every number may be called."""
    if sim is None:
        return None
    return Callbacks(
        dial="SIM/{digits}",
        caller_id="sim",
        region="US",
        allowed=(r"\+\d+",),
        max_attempts=sim.max_attempts,
        retry_delay_s=sim.retry_delay_s,
        expire_s=sim.expire_s,
        ring_timeout_s=max(1.0, sim.ring_s * 3),
        offer_after_s=sim.offer_after_s,
    )


def _queues(raw: Mapping[str, Any], problems: _Problems, *, check_empty: bool) -> dict[str, Queue]:
    queues: dict[str, Queue] = {}
    if not raw and check_empty:
        problems.add(("queues",), "at least one queue is needed")
    name_check = _type_check(QueueName)
    for name, fields in raw.items():
        path: KeyPath = ("queues", name)
        if not name_check(name):
            problems.add(path, "a queue name uses only a-z, 0-9, '_' and '-'")
            continue
        if fields is None:
            fields = {}
        if not isinstance(fields, Mapping):
            problems.add(path, f"expected a mapping, got {describe_value(fields)}")
            continue
        if "name" in fields:
            problems.add((*path, "name"), "unknown key 'name' (the key above is the queue's name)")
            continue
        queue = problems.validate(Queue, {**fields, "name": name}, path)
        if queue is not None:
            queues[name] = queue
    return queues


def _agents(
    raw: object, queues: Mapping[str, Queue], written: Collection[str], problems: _Problems
) -> tuple[dict[str, Agent], list[AgentPlan]]:
    """Agents from ``{count: N, ...}``, a list of such groups, or a mapping of ids.

    ``queues`` are the valid queues, ``written`` every queue name written (a queue with
    a problem of its own is not reported again as missing).
    """
    path: KeyPath = ("agents",)
    entries: list[tuple[KeyPath, str, Any]] = []  # (where written, agent id, model)
    if isinstance(raw, Mapping) and "count" in raw:
        groups: list[tuple[KeyPath, object]] = [(path, raw)]
    elif isinstance(raw, list):
        groups = [((*path, i), g) for i, g in enumerate(raw)]
        if not raw:
            problems.add(path, "at least one agent group is needed")
    elif isinstance(raw, Mapping):
        groups = []
        id_check = _type_check(AgentId)
        for agent_id, fields in raw.items():
            if not id_check(agent_id):
                problems.add((*path, agent_id), "an agent id uses only a-z, 0-9 and '_'")
                continue
            entry = problems.validate(AgentEntryModel, {} if fields is None else fields, (*path, agent_id))
            if entry is not None:
                entries.append(((*path, agent_id), agent_id, entry))
        if not raw:
            problems.add(path, "at least one agent is needed")
    else:
        expected = "{count: N}, a list of groups or a mapping of agent ids"
        problems.add(path, f"expected {expected}, got {describe_value(raw)}")
        return {}, []
    serial = 0
    for where, group_data in groups:
        group = problems.validate(GroupModel, group_data, where)
        if group is None:
            continue
        for _ in range(group.count):
            serial += 1
            entries.append((where, f"a{serial}", group))

    agents: dict[str, Agent] = {}
    plans: list[AgentPlan] = []
    reported: set[KeyPath] = set()
    for where, agent_id, spec in entries:
        member_of = tuple(written) if spec.queues is None else spec.queues
        if not member_of and spec.queues is not None and where not in reported:
            problems.add((*where, "queues"), "this agent serves no queue")
            reported.add(where)
        for i, queue in enumerate(member_of):
            if queue not in written and (*where, "queues", i) not in reported:
                problems.add((*where, "queues", i), f"no queue '{queue}' in this scenario{did_you_mean(queue, written)}")
                reported.add((*where, "queues", i))
        if spec.logout_s is not None and spec.logout_s <= spec.login_s and where not in reported:
            problems.add((*where, "logout_s"), f"must be after login_s ({spec.login_s})")
            reported.add(where)
        agent = problems.validate(
            Agent,
            {
                "id": agent_id,
                "name": getattr(spec, "name", None) or agent_id,
                "password": "sim",
                "queues": tuple(q for q in member_of if q in queues),
                "wrapup_s": spec.wrapup_s,
                "skills": dict(spec.skills),
                "order": spec.order,
                "endpoint": getattr(spec, "endpoint", None) or f"SIM/{agent_id}",
            },
            where,
        )
        if agent is not None:
            agents[agent_id] = agent
            plans.append(AgentPlan(agent_id=agent_id, login_s=spec.login_s, logout_s=spec.logout_s))
    return agents, plans


def _arrivals(
    raw: object,
    queues: Mapping[str, Queue],
    written: Collection[str],
    duration_s: float,
    problems: _Problems,
    *,
    via_ivr: bool = False,
) -> dict[str, tuple[Segment, ...]]:
    """Per queue, the Poisson rate segments in the order written, back to back from 0.

    With an IVR, a segment naming no queue is of callers who start in it (`VIA_IVR`).
    """
    segments: dict[str, list[Segment]] = {}
    items = raw if isinstance(raw, list) else []
    for i, item in enumerate(items):
        path: KeyPath = ("arrivals", i)
        segment = problems.validate(SegmentModel, item, path)
        if segment is None:
            continue
        queue = segment.queue
        if queue is None and via_ivr:
            queue = VIA_IVR
        elif queue is None:
            if len(written) > 1:
                problems.add((*path, "queue"), f"say which queue: there are {len(written)}")
                continue
            queue = next(iter(written), None)
        elif queue not in written:
            problems.add((*path, "queue"), f"no queue '{queue}' in this scenario{did_you_mean(queue, written)}")
            continue
        if queue not in queues and queue != VIA_IVR:
            continue  # the queue has a problem of its own
        earlier = segments.setdefault(queue, [])
        start = earlier[-1].until_s if earlier else 0.0
        if segment.until_s <= start:
            problems.add((*path, "until_s"), f"must be after the previous segment of '{queue}' ends ({start})")
            continue
        earlier.append(Segment(start_s=start, until_s=min(segment.until_s, duration_s), per_s=segment.per_minute / 60))
    return {queue: tuple(s for s in found if s.until_s > s.start_s) for queue, found in segments.items()}


def _distribution(raw: object, path: KeyPath, problems: _Problems, *, allow_none: bool) -> Distribution | None:
    if allow_none and (raw is None or raw == "none"):
        return None
    found = problems.validate(DistributionModel, raw, path)
    if found is None:
        return None
    if found.distribution == "lognormal" and found.sigma is None:
        problems.add((*path, "sigma"), "a lognormal needs sigma (the standard deviation of ln x)")
        return None
    if found.distribution != "lognormal" and found.sigma is not None:
        problems.add((*path, "sigma"), f"only a lognormal takes sigma, not {found.distribution}")
        return None
    return Distribution(kind=found.distribution, mean_s=found.mean_s, sigma=found.sigma or 0.0)


def _type_check(annotation: object) -> typing.Callable[[object], bool]:
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)

    def check(value: object) -> bool:
        try:
            adapter.validate_python(value)
        except ValidationError:
            return False
        return True

    return check
