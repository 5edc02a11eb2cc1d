"""``ccqueue import-asterisk``: an Asterisk ``queues.conf`` (app_queue) into ccqueue YAML.

Rules kept here:

- The output is a ``queues.yaml`` and an ``agents.yaml`` in the shapes of ``config/``.
  With a ``ccqueue.yaml`` beside them and the agents' password variables set, the
  folder passes `load_config` (``ccqueue check``).
- Every setting of the input is accounted for: carried over, the same as what
  ccqueue does anyway (``maxlen = 0``), or listed in the notes with file, line,
  queue and option. The notes also head the generated files. Nothing is dropped
  silently.
- Where app_queue's default differs from ccqueue's, the generated queue states
  app_queue's value (``strategy: ring_all``, ``wrapup_s: 0``), so a migrated queue
  behaves as it did.
- The same input gives the same bytes: no dates, no randomness, file order kept.
- Names: a queue is renamed to ``[a-z0-9_-]+`` and an agent id (from the member's
  endpoint name) to ``[a-z0-9_]+``; every rename and every clash is a note.
- A section's settings count as app_queue counts them: of a single setting the last
  value wins (``music`` and ``musiconhold`` are ``musicclass``), ``member`` lines add up.

Reading the file (comments, ``#include``, templates and their inheritance) is
`ccqueue.config.asterisk_conf`'s; this module starts from its sections, with the
notes it made, and turns those notes into notes on the generated ``queues.yaml``.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ccqueue.config.asterisk_conf import Entry, Section, parse
from ccqueue.core.errors import InputError

__all__ = ["ImportAsteriskError", "ImportResult", "configure_parser", "convert", "main", "run"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

QUEUES_FILE, AGENTS_FILE = "queues.yaml", "agents.yaml"
PASSWORD_ENV_PREFIX = "CCQUEUE_SIP_"

# app_queue rings a member for 15 s unless ``timeout`` says otherwise; ccqueue's
# default ring_timeout_s is the same 15 s.
_ASTERISK_RING_TIMEOUT_S = 15
# Skill levels run 1-5, so at most five penalty tiers keep their order.
_MAX_TIERS = 5
_HEADER_WIDTH = 96  # the comment lines at the top of the generated files

_TRUE = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE = frozenset({"no", "false", "n", "f", "0", "off"})

_STRATEGIES: dict[str, str] = {
    "ringall": "ring_all",
    "leastrecent": "longest_idle",
    "fewestcalls": "fewest_calls",
    "random": "random",
    "wrandom": "random",
    "rrmemory": "round_robin",
    "roundrobin": "round_robin",  # app_queue's old name for rrmemory
    "rrordered": "round_robin",
    "linear": "linear",
}
_ORDERED_STRATEGIES = frozenset({"linear", "round_robin"})  # they read an agent's `order`

# Settings whose value is what ccqueue does anyway: nothing to carry over, nothing to
# note. Values are compared in lower case; yes/no take every spelling Asterisk accepts.
_SAME_AS_CCQUEUE: dict[str, frozenset[str]] = {
    "maxlen": frozenset({"0"}),
    "weight": frozenset({"0"}),
    "autopause": _FALSE,
    "autopausedelay": frozenset({"0"}),
    "autopausebusy": _FALSE,
    "autopauseunavail": _FALSE,
    "ringinuse": _FALSE,  # ccqueue offers no call to an agent whose device is in use
    "autofill": _TRUE,  # ccqueue connects waiting callers to free agents in parallel
    "announce-frequency": frozenset({"0"}),
    "periodic-announce-frequency": frozenset({"0"}),
    "announce-position": _FALSE,
    "announce-holdtime": _FALSE,
    "joinempty": frozenset({"yes", ""}),
    "leavewhenempty": frozenset({"no", ""}),
    "setinterfacevar": _FALSE,
    "setqueueentryvar": _FALSE,
    "setqueuevar": _FALSE,
    "reportholdtime": _FALSE,
    "memberdelay": frozenset({"0"}),
}


def _same_as_ccqueue(entry: Entry) -> bool:
    return entry.value.strip().lower() in _SAME_AS_CCQUEUE.get(entry.option, frozenset())


_ANNOUNCEMENTS = "ccqueue has no per-queue announcement settings yet"
_NOT_CARRIED: dict[str, str] = {
    "maxlen": "ccqueue does not limit how many callers wait in a queue yet",
    "retry": "ccqueue offers the call again at once; the agent who did not answer sits out missed_cooldown_s",
    "joinempty": "ccqueue lets a caller join whatever its agents' states (as joinempty = yes)",
    "leavewhenempty": "ccqueue keeps a caller waiting whatever its agents' states (as leavewhenempty = no)",
    "autopausedelay": "ccqueue's auto_pause counts unanswered offers only",
    "autopausebusy": "ccqueue's auto_pause counts unanswered offers only",
    "autopauseunavail": "ccqueue's auto_pause counts unanswered offers only",
    "ringinuse": "ccqueue never offers a call to an agent whose device is in use",
    "monitor-type": "ccqueue does not record calls",
    "monitor-format": "ccqueue does not record calls",
    "defaultrule": "queuerules.conf is not read; timed widening is written as routing steps",
    "penaltymemberslimit": "penalties are carried over as routing steps, which apply to any number of agents",
    "persistentmembers": "members added at run time (AddQueueMember) are not in queues.conf; add them to agents.yaml",
}
_ANNOUNCEMENT_OPTIONS = frozenset(
    {
        "announce",
        "announce-frequency",
        "min-announce-frequency",
        "announce-holdtime",
        "announce-position",
        "announce-position-limit",
        "announce-position-only-up",
        "announce-round-seconds",
        "announce-to-first-user",
        "periodic-announce",
        "periodic-announce-frequency",
        "periodic-announce-startdelay",
        "random-periodic-announce",
        "relative-periodic-announce",
    }
)
_NO_EQUIVALENT = "ccqueue has no equivalent setting"


class ImportAsteriskError(InputError):
    """The input cannot be read at all (missing, a directory, no permission)."""

    error_id = "import-unreadable"


@dataclass(frozen=True, slots=True)
class ImportResult:
    """The generated files (name -> YAML text) and what did not carry over."""

    yaml_files: dict[str, str]
    notes: list[str]
    queues: list[str] = field(default_factory=list)  # ccqueue names, in file order
    agents: list[str] = field(default_factory=list)  # agent ids, in order of first appearance
    password_variables: list[str] = field(default_factory=list)  # one per agent, to set before `check`


def convert(source: str | os.PathLike[str], *, origin: str = "queues.conf", include_dir: str | None = None) -> ImportResult:
    """Turn a ``queues.conf`` into ccqueue YAML.

    A path (`os.PathLike`) is read as a file; its ``#include``s resolve next to it.
    A `str` is the text of the file, named `origin` in notes; its relative
    ``#include``s resolve in `include_dir`, and are not followed without one.
    Raises `ImportAsteriskError` when a path cannot be read.
    """
    if isinstance(source, os.PathLike):
        path = Path(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImportAsteriskError(f"cannot read {path}: {exc.strerror or exc}") from exc
        # Notes name the file alone, and included files relative to its folder.
        conf = parse(data, origin=path.name, include_dir=path.parent)
    else:
        conf = parse(source, origin=origin, include_dir=Path(include_dir) if include_dir else None)
    notes = [_Note(note.where, note.subject, note.text) for note in conf.notes]
    return _Converter(notes, conf.origin).convert(conf.sections)


# ---------------------------------------------------------------------- notes


@dataclass(frozen=True, slots=True)
class _Note:
    where: str  # "queues.conf:12", or the file alone
    subject: str  # "queue support", "agent alice", "[general]"
    text: str
    target: str = QUEUES_FILE  # the generated file whose header lists it

    def __str__(self) -> str:
        return f"{self.where}: {self.subject}: {self.text}"


def _in_file_order(notes: list[_Note], origin: str) -> list[_Note]:
    """Notes by file (the main one first, then as they were met) and line; whole-file ones last."""
    rank: dict[str, int] = {origin: 0}

    def key(note: _Note) -> tuple[int, float]:
        file, _, line = note.where.rpartition(":")
        if not line.isdigit():
            file, line = note.where, ""
        rank.setdefault(file, len(rank))
        return rank[file], int(line) if line else float("inf")

    return sorted(notes, key=key)


# ---------------------------------------------------------------------- converting


@dataclass
class _Membership:
    queue: str
    agent_id: str
    penalty: int
    wrapup_s: int | None
    where: str


@dataclass
class _AgentDraft:
    agent_id: str
    interface: str
    names: list[tuple[str, str]]  # (member name, where)
    memberships: list[_Membership]
    order: int


@dataclass
class _QueueDraft:
    name: str
    settings: dict[str, Any]
    strategy_source: str  # app_queue's strategy name
    members: list[_Membership]  # in the order queues.conf lists them
    skills: dict[str, int] = field(default_factory=dict)  # agent id -> level of the queue's skill


_ALIASES = {"music": "musicclass", "musiconhold": "musicclass"}


def _effective(entries: list[Entry]) -> list[Entry]:
    """The entries that count: every ``member``, and of any other setting its last value."""
    last = {_ALIASES.get(e.option, e.option): index for index, e in enumerate(entries)}
    return [e for index, e in enumerate(entries) if e.option == "member" or last[_ALIASES.get(e.option, e.option)] == index]


def _canonical(value: str) -> str:
    """A yes/no value as "yes" or "no" (Asterisk accepts several spellings); others in lower case."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return "yes"
    if lowered in _FALSE:
        return "no"
    return lowered


def _integer(value: str) -> int | None:
    text = value.strip()
    return int(text) if re.fullmatch(r"[+-]?\d+", text) else None


def _normalise(name: str, allowed: str) -> str:
    """`name` in lower case with every run of other characters turned into ``_``."""
    return re.sub(f"[^{allowed}]+", "_", name.lower()).strip("_")


class _Converter:
    def __init__(self, notes: list[_Note], origin: str) -> None:
        self.notes = notes
        self.origin = origin
        self.queues: dict[str, _QueueDraft] = {}
        self.agents: dict[str, _AgentDraft] = {}  # by agent id
        self._by_interface: dict[str, str] = {}  # interface -> agent id

    # -- the whole file

    def convert(self, sections: list[Section]) -> ImportResult:
        for section in sections:
            if section.template:
                continue
            if section.name.lower() == "general":
                self._general(section)
            else:
                self._queue(section)
        self._penalties()
        self._linear_orders()
        if self.queues:
            self.notes.append(
                _Note(
                    self.origin,
                    "hotlines",
                    "queues.conf does not say which numbers reach which queue (the dialplan's Queue() "
                    "calls do); add them under hotlines in ccqueue.yaml",
                )
            )
        return self._result()

    def _general(self, section: Section) -> None:
        for entry in _effective(section.entries):
            if _same_as_ccqueue(entry):
                continue
            reason = _NOT_CARRIED.get(entry.option, "app_queue's global setting; " + _NO_EQUIVALENT)
            self._note(entry, "[general]", f"{entry.option} = {entry.value}: not carried over: {reason}")

    # -- one queue

    def _queue(self, section: Section) -> None:
        name = self._queue_name(section)
        draft = _QueueDraft(name, {}, "ringall", [])
        self.queues[name] = draft
        subject = f"queue {name}"
        handlers: dict[str, Callable[[_QueueDraft, Entry, str], None]] = {
            "strategy": self._strategy,
            "timeout": self._timeout,
            "wrapuptime": self._wrapuptime,
            "servicelevel": self._servicelevel,
            "musicclass": self._music,
            "music": self._music,
            "musiconhold": self._music,
            "weight": self._weight,
            "autopause": self._autopause,
            "member": self._member,
        }
        for entry in _effective(section.entries):
            handler = handlers.get(entry.option)
            if handler is not None:
                handler(draft, entry, subject)
            elif not _same_as_ccqueue(entry):
                self._not_carried(entry, subject)
        # app_queue's defaults where ccqueue's differ: ring everyone, no wrap-up.
        settings = draft.settings
        settings.setdefault("strategy", "ring_all")
        settings.setdefault("ring_timeout_s", _ASTERISK_RING_TIMEOUT_S)
        settings.setdefault("wrapup_s", 0)
        settings.setdefault("moh_class", "default")
        order = ("strategy", "ring_timeout_s", "wrapup_s", "moh_class", "priority", "auto_pause", "service_level")
        draft.settings = {key: settings[key] for key in order if key in settings}

    def _queue_name(self, section: Section) -> str:
        name = _normalise(section.name, "a-z0-9_-").strip("-") or "queue"
        base, counter = name, 1
        while name in self.queues:
            counter += 1
            name = f"{base}_{counter}"
        if name != section.name:
            self.notes.append(_Note(section.where, f"queue {name}", f"renamed from [{section.name}]"))
        return name

    def _not_carried(self, entry: Entry, subject: str) -> None:
        if entry.option in _ANNOUNCEMENT_OPTIONS or entry.option.startswith("queue-"):
            reason = _ANNOUNCEMENTS
        else:
            reason = _NOT_CARRIED.get(entry.option, _NO_EQUIVALENT)
        self._note(entry, subject, f"{entry.option} = {entry.value}: not carried over: {reason}")

    def _note(self, entry: Entry, subject: str, text: str, target: str = QUEUES_FILE) -> None:
        if entry.template:
            subject = f"{subject} (from template {entry.template})"
        self.notes.append(_Note(entry.where, subject, text, target))

    def _strategy(self, draft: _QueueDraft, entry: Entry, subject: str) -> None:
        source = entry.value.strip().lower()
        if source not in _STRATEGIES:
            # app_queue itself warns and rings everyone.
            self._note(entry, subject, f"strategy = {entry.value}: unknown; ring_all, as app_queue falls back to")
            source = "ringall"
        elif source == "wrandom":
            self._note(
                entry,
                subject,
                "strategy = wrandom: carried over as random; member penalties weighted app_queue's draw, ccqueue draws evenly",
            )
        draft.strategy_source = source
        draft.settings["strategy"] = _STRATEGIES[source]

    def _timeout(self, draft: _QueueDraft, entry: Entry, subject: str) -> None:
        seconds = _integer(entry.value)
        if seconds is None or seconds < 0:
            self._note(entry, subject, f"timeout = {entry.value}: not a number of seconds; app_queue's 15 s kept")
        elif seconds == 0:
            self._note(entry, subject, "timeout = 0 (ring until answered): ccqueue always limits a ring; 15 s kept")
        else:
            draft.settings["ring_timeout_s"] = seconds

    def _wrapuptime(self, draft: _QueueDraft, entry: Entry, subject: str) -> None:
        seconds = _integer(entry.value)
        if seconds is None or seconds < 0:
            self._note(entry, subject, f"wrapuptime = {entry.value}: not a number of seconds; app_queue's 0 kept")
        else:
            draft.settings["wrapup_s"] = seconds

    def _servicelevel(self, draft: _QueueDraft, entry: Entry, subject: str) -> None:
        # app_queue's servicelevel is the "answered within" of its SL statistics; ccqueue
        # measures every queue, so 0 (app_queue's "not measured") leaves ccqueue's default.
        seconds = _integer(entry.value)
        if seconds is None or seconds < 0:
            self._note(entry, subject, f"servicelevel = {entry.value}: not a number of seconds; ccqueue's 20 s kept")
        elif seconds == 0:
            self._note(entry, subject, "servicelevel = 0 (not measured): ccqueue measures every queue; its 20 s kept")
        else:
            draft.settings["service_level"] = {"answer_within_s": seconds}

    def _music(self, draft: _QueueDraft, entry: Entry, subject: str) -> None:
        if entry.value:
            draft.settings["moh_class"] = entry.value
        else:
            self._note(entry, subject, f"{entry.option} is empty; moh_class 'default' kept")

    def _weight(self, draft: _QueueDraft, entry: Entry, subject: str) -> None:
        weight = _integer(entry.value)
        if weight is None:
            self._note(entry, subject, f"weight = {entry.value}: not a whole number; not carried over")
            return
        draft.settings.pop("priority", None)
        if weight != 0:
            # app_queue's weight is strict precedence among queues sharing a member,
            # which is ccqueue's priority; ccqueue's weight scales waiting time instead.
            draft.settings["priority"] = weight
            self._note(
                entry,
                subject,
                f"weight = {weight}: carried over as priority {weight} (ccqueue's weight "
                "scales waiting time; its priority is app_queue's weight)",
            )

    def _autopause(self, draft: _QueueDraft, entry: Entry, subject: str) -> None:
        value = _canonical(entry.value)
        if value == "no":
            draft.settings.pop("auto_pause", None)
            return
        if value not in ("yes", "all"):
            self._note(entry, subject, f"autopause = {entry.value}: not yes, no or all; not carried over")
            return
        draft.settings["auto_pause"] = _Flow({"after_misses": 1})
        scope = "" if value == "all" else " (app_queue paused it in this queue only)"
        self._note(
            entry,
            subject,
            f"autopause = {entry.value}: carried over as auto_pause after one missed "
            f"offer; ccqueue pauses the agent in all its queues{scope}",
        )

    def _member(self, draft: _QueueDraft, entry: Entry, subject: str) -> None:
        fields = [part.strip() for part in entry.value.split(",")]
        interface = fields[0]
        if not interface:
            self._note(entry, subject, f"member => {entry.value}: no interface; ignored", AGENTS_FILE)
            return
        fields += [""] * (7 - len(fields))
        penalty_text, member_name, state_interface, ringinuse, wrapup_text, paused = fields[1:7]
        penalty = _integer(penalty_text) if penalty_text else 0
        if penalty is None or penalty < 0:
            self._note(entry, subject, f"member {interface}: penalty '{penalty_text}' read as 0", AGENTS_FILE)
            penalty = 0
        wrapup = _integer(wrapup_text) if wrapup_text else None
        if (wrapup is not None and wrapup < 0) or (wrapup_text and wrapup is None):
            self._note(entry, subject, f"member {interface}: wrapuptime '{wrapup_text}' ignored", AGENTS_FILE)
            wrapup = None
        if state_interface:
            self._note(
                entry,
                subject,
                f"member {interface}: state interface {state_interface} not carried over: "
                "ccqueue watches the state of the device it dials",
                AGENTS_FILE,
            )
        if ringinuse and _canonical(ringinuse) != "no":
            self._note(
                entry,
                subject,
                f"member {interface}: ringinuse = {ringinuse} not carried over: " + _NOT_CARRIED["ringinuse"],
                AGENTS_FILE,
            )
        if paused and _canonical(paused) != "no":
            self._note(
                entry,
                subject,
                f"member {interface}: paused = {paused} not carried over: an agent pauses through the API or *23",
                AGENTS_FILE,
            )
        if len(fields) > 7 and any(fields[7:]):
            self._note(entry, subject, f"member {interface}: fields after the seventh ignored", AGENTS_FILE)

        agent = self._agent_for(interface, entry)
        if any(m.queue == draft.name for m in agent.memberships):
            self._note(entry, subject, f"member {interface} is listed twice; the first one kept", AGENTS_FILE)
            return
        if member_name:
            agent.names.append((member_name, entry.where))
        membership = _Membership(draft.name, agent.agent_id, penalty, wrapup, entry.where)
        agent.memberships.append(membership)
        draft.members.append(membership)

    def _agent_for(self, interface: str, entry: Entry) -> _AgentDraft:
        if interface in self._by_interface:
            return self.agents[self._by_interface[interface]]
        endpoint = interface.split("/", 1)[1] if "/" in interface else interface
        agent_id = _normalise(endpoint, "a-z0-9") or "agent"
        base, counter = agent_id, 1
        while agent_id in self.agents:
            counter += 1
            agent_id = f"{base}_{counter}"
        if counter > 1:
            self.notes.append(
                _Note(
                    entry.where,
                    f"agent {agent_id}",
                    f"{interface}: id '{base}' was taken by another interface",
                    AGENTS_FILE,
                )
            )
        if not interface.upper().startswith("PJSIP/"):
            self.notes.append(
                _Note(
                    entry.where,
                    f"agent {agent_id}",
                    f"dialled as {interface}, not a PJSIP endpoint; "
                    "its password_env is still required, though only the pjsip.conf ccqueue "
                    "renders would use it; check this agent by hand",
                    AGENTS_FILE,
                )
            )
        draft = _AgentDraft(agent_id, interface, [], [], order=len(self.agents) + 1)
        self.agents[agent_id] = draft
        self._by_interface[interface] = agent_id
        return draft

    # -- after every queue

    def _penalties(self) -> None:
        """Penalty tiers become levels of a skill named after the queue, and steps."""
        for queue in self.queues.values():
            penalties = sorted({m.penalty for m in queue.members})
            if len(penalties) < 2:
                continue
            where = queue.members[0].where
            if queue.strategy_source == "wrandom":
                self.notes.append(_Note(where, f"queue {queue.name}", "member penalties (wrandom weights) not carried over"))
                continue
            tiers = min(len(penalties), _MAX_TIERS)
            level = {p: max(tiers - i, 1) for i, p in enumerate(penalties)}
            queue.skills = {m.agent_id: level[m.penalty] for m in queue.members}
            duration = queue.settings["ring_timeout_s"]
            steps: list[dict[str, Any]] = [
                {"require": _Flow({queue.name: lv}), "duration_s": duration} for lv in range(tiers, 1, -1)
            ]
            steps.append(_Flow())
            queue.settings["steps"] = steps
            shown = ", ".join(f"{p} -> {level[p]}" for p in penalties)
            merged = f"; penalties from the {_MAX_TIERS}th up share level 1" if len(penalties) > _MAX_TIERS else ""
            self.notes.append(
                _Note(
                    where,
                    f"queue {queue.name}",
                    f"member penalties carried over as levels of skill '{queue.name}' ({shown}){merged}, and "
                    f"routing steps that widen one level every {duration} s; app_queue moves to the next "
                    "penalty as soon as the lower ones are busy: shorten duration_s to come closer",
                )
            )

    def _linear_orders(self) -> None:
        for queue in self.queues.values():
            if queue.settings["strategy"] != "linear" or not queue.members:
                continue
            orders = [self.agents[m.agent_id].order for m in queue.members]
            if orders != sorted(orders):
                self.notes.append(
                    _Note(
                        queue.members[0].where,
                        f"queue {queue.name}",
                        "linear: an agent's order is where it first appears in queues.conf, and this queue lists "
                        f"its members in another order ({', '.join(m.agent_id for m in queue.members)}); "
                        "set order in agents.yaml",
                        AGENTS_FILE,
                    )
                )

    # -- output

    def _agent_entry(self, agent: _AgentDraft, *, ordered: bool) -> dict[str, Any]:
        subject = f"agent {agent.agent_id}"
        endpoint_name = agent.interface.split("/", 1)[-1]
        names = list(dict.fromkeys(name for name, _ in agent.names))
        if len(names) > 1:
            self.notes.append(
                _Note(
                    agent.names[1][1],
                    subject,
                    f"member names differ ({', '.join(names)}); '{names[0]}' kept",
                    AGENTS_FILE,
                )
            )
        entry: dict[str, Any] = {
            "name": names[0] if names else endpoint_name,
            "password_env": f"{PASSWORD_ENV_PREFIX}{agent.agent_id.upper()}",
            "queues": _FlowList(m.queue for m in agent.memberships),
        }
        wrapups = [m.wrapup_s for m in agent.memberships]
        if any(w is not None for w in wrapups):
            if len(set(wrapups)) == 1:
                entry["wrapup_s"] = wrapups[0]
            else:
                self.notes.append(
                    _Note(
                        agent.memberships[0].where,
                        subject,
                        "member wrapuptime differs between its "
                        "queues; not carried over (an agent's wrapup_s applies in all of them)",
                        AGENTS_FILE,
                    )
                )
        skills = {q.name: q.skills[agent.agent_id] for q in self.queues.values() if agent.agent_id in q.skills}
        if skills:
            entry["skills"] = _Flow(skills)
        if ordered:
            entry["order"] = agent.order
        if agent.interface != f"PJSIP/{agent.agent_id}":
            entry["endpoint"] = agent.interface
        return entry

    def _result(self) -> ImportResult:
        # Linear and round-robin queues read an agent's order; otherwise it would only clutter.
        ordered = any(q.settings["strategy"] in _ORDERED_STRATEGIES for q in self.queues.values())
        agents = {a.agent_id: self._agent_entry(a, ordered=ordered) for a in self.agents.values()}
        queues = {q.name: q.settings for q in self.queues.values()}
        self.notes[:] = _in_file_order(self.notes, self.origin)
        notes = [str(n) for n in self.notes]
        variables = [entry["password_env"] for entry in agents.values()]
        queues_text = _header(self.notes, QUEUES_FILE, []) + _dump({"queues": queues})
        password_help = [
            (
                "Each agent's SIP password is read from the environment variable its password_env names "
                f"({PASSWORD_ENV_PREFIX}<ID>); set them before `ccqueue check` or `ccqueue run`."
            ),
        ]
        agents_text = _header(self.notes, AGENTS_FILE, password_help) + _dump({"agents": agents})
        files = {QUEUES_FILE: queues_text, AGENTS_FILE: agents_text}
        return ImportResult(files, notes, list(queues), list(agents), variables)


def _header(notes: list[_Note], target: str, extra: list[str]) -> str:
    mine = [n for n in notes if n.target == target]
    paragraphs = ["Generated by `ccqueue import-asterisk` from an Asterisk queues.conf; review before use.", *extra]
    if mine:
        paragraphs.append(f"Not carried over, or carried over differently ({len(mine)}):")
    else:
        paragraphs.append("Everything in queues.conf that concerns this file was carried over.")
    lines = [line for p in paragraphs for line in textwrap.wrap(p, _HEADER_WIDTH)]
    for note in mine:
        lines += textwrap.wrap(str(note), _HEADER_WIDTH, initial_indent="  - ", subsequent_indent="    ")
    return "".join(f"# {line}\n" for line in lines) + "\n"


# ---------------------------------------------------------------------- YAML


class _Flow(dict[str, Any]):
    """A mapping written on one line (``{support: 2}``)."""


class _FlowList(list[Any]):
    """A list written on one line (``[support, sales]``)."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)  # indent list items under their key


_Dumper.add_representer(_Flow, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True))
_Dumper.add_representer(_FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True))


def _dump(data: dict[str, Any]) -> str:
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120)
    return str(text)


# ---------------------------------------------------------------------- command line


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the command's arguments to `parser` (its own, or a ``ccqueue`` subcommand's)."""
    parser.add_argument("queues_conf", metavar="QUEUES_CONF", help="the Asterisk queues.conf to convert")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for queues.yaml and agents.yaml")
    parser.add_argument("--force", action="store_true", help="overwrite queues.yaml and agents.yaml in DIR")
    return parser


def run(args: argparse.Namespace) -> int:
    """Convert, write and report; the exit code (0, 1 cannot write, 2 bad input or usage)."""
    try:
        result = convert(Path(args.queues_conf))
    except ImportAsteriskError as exc:
        print(f"ccqueue: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"ccqueue: --out {out} is not a folder", file=sys.stderr)
        return EXIT_USAGE
    targets = [out / name for name in result.yaml_files]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not args.force:
        print(f"ccqueue: not overwriting {', '.join(existing)} (give --force to replace)", file=sys.stderr)
        return EXIT_USAGE
    try:
        out.mkdir(parents=True, exist_ok=True)
        for target in targets:
            target.write_text(result.yaml_files[target.name], encoding="utf-8")
    except OSError as exc:
        print(f"ccqueue: cannot write to {out}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"ccqueue: wrote {targets[0]} ({len(result.queues)} queue(s)) and {targets[1]} ({len(result.agents)} agent(s))")
    if result.password_variables:
        print("ccqueue: set the agents' SIP passwords in: " + " ".join(result.password_variables))
    print(f"ccqueue: {len(result.notes)} note(s):")
    for note in result.notes:
        print(f"  - {note}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ccqueue import-asterisk", description="Convert an Asterisk queues.conf into ccqueue YAML"
    )
    return run(configure_parser(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
