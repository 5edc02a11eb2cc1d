"""A JSON Schema for ccqueue's YAML files, for editors: completion, hover text, and
mistakes underlined as they are typed.

Rules kept here:

- The schema is generated from the same pydantic models the loader validates with
  (`Config.model_json_schema()`), then adapted to the files as written:
  - any one file validates on its own: the top level is an object whose properties
    are the sections, all optional (a section lives in one file, whichever);
  - a queue's name and an agent's id are their keys, not properties, and the keys
    follow the names' rules (``propertyNames``);
  - ``secret_env``, ``password_env`` and ``dsn_env`` stand in for their value: exactly
    one of the pair for the AMI secret and an agent's password, at most one for the DSN;
  - a section, or a queue, written with nothing under it is empty, so ``null`` is allowed there.
- The schema is never stricter than the loader: every file ``ccqueue check`` accepts,
  it accepts. It is looser where JSON Schema cannot follow the loader: references
  between sections (an agent's queues, a hotline's queue, skills no agent holds),
  the rule that only the last routing step has no ``duration_s``, duplicate YAML
  keys, and ``*_env`` variables that are not set.
- Every property carries a description (shown on hover); a field added to a model
  without one here fails the tests, as does a ``docs/config-schema.json`` that is not
  what this module generates.
- It uses JSON Schema draft-07 keywords only: the draft editors' YAML support
  (yaml-language-server) handles best.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ccqueue.config import campaigns, ivr
from ccqueue.config.models import Config, Strategy

__all__ = ["DRAFT", "NAME_PATTERNS", "config_schema", "configure_parser", "main", "render", "run"]

DRAFT = "http://json-schema.org/draft-07/schema#"

# The models' name rules (models.py), anchored for JSON Schema's unanchored `pattern`.
# tests/unit/test_schema.py checks that they accept and refuse what the models do.
NAME_PATTERNS: dict[str, str] = {
    "queue": r"^[a-z0-9_-]+$",
    "agent": r"^[a-z0-9_]+$",
    "hotline": r"^[0-9A-Za-z*#+]+$",
    "skill": r"^[a-z0-9_-]+$",
    "schedule": r"^[a-z0-9_-]+$",
    "ivr": r"^[a-z0-9_-]+$",
    "user": r"^[a-z0-9_.@-]+$",
    "campaign": r"^[a-z0-9_-]+$",
}

_SECTIONS: dict[str, str] = {
    "asterisk": "How ccqueue reaches Asterisk: the AMI connection, where it listens for FastAGI, "
    "and the dialplan context answered agent legs enter.",
    "http": "The HTTP API, /metrics and the wallboard.",
    "database": "PostgreSQL, where every call is recorded. --dsn and then CCQUEUE_DSN take precedence.",
    "standby": "An active/standby pair (docs/standby.md): with this section ccqueue serves only while it holds "
    "the pair's PostgreSQL advisory lock, and waits as the standby otherwise. Without it: a lone process.",
    "hotlines": "Numbers callers dial, each sent to a queue. Keys: digits, letters, '*', '#' and '+' "
    "(an exact number, never an Asterisk pattern).",
    "queues": "Call queues by name. Keys: a-z, 0-9, '_' and '-' (names appear in metrics and URLs). "
    "A queue written with nothing under it takes every default.",
    "agents": "Agents by id. Keys: a-z, 0-9 and '_'; the id is also the SIP username of the agent's endpoint.",
    "schedules": ivr.SECTION_DESCRIPTIONS["schedules"],
    "ivr": ivr.SECTION_DESCRIPTIONS["ivr"],
    "users": "Who may use the HTTP API, by user name (a-z, 0-9, '_', '.', '@', '-'): a role (agent, supervisor, "
    "admin), an argon2id password_hash and/or API token hashes. Without users, only the paths in http.open answer.",
    "wallboard": "The wallboard's labelled period (by default 'Today' from local midnight) whose counts "
    "survive a restart. A change takes a restart.",
    "workspace": "The agents' page (/agent): the disposition codes a call is wrapped up with (a queue's own "
    "dispositions take precedence), the pause reasons offered, and its language (en or ru) unless the browser asks "
    "for another.",
    "overload": "Past what the box can serve, new callers are refused at the door and recorded as refused: "
    "a lag (the event loop's, Asterisk's) narrows the share let in, which the dialplan draws before answering; "
    "work in flight past its limit refuses each caller at once. A reload applies it.",
    "callbacks": "Calling customers back: the trunk, the numbers it may call, attempts and expiry. "
    "Without this section there are no callbacks.",
    "outbound": campaigns.SECTION_DESCRIPTIONS["outbound"],
    "campaigns": campaigns.SECTION_DESCRIPTIONS["campaigns"],
    "recordings": "Where call recordings are kept (each queue's recording section says which calls are "
    "recorded and for how long), and how long call records are kept.",
}

# Hover text for every property, by model ($defs name) and field.
_DESCRIPTIONS: dict[str, dict[str, str]] = {
    "Asterisk": {
        "ami": "Asterisk Manager Interface: one connection for actions and events.",
        "agi": "Where ccqueue listens for FastAGI sessions (one per call).",
        "agent_context": "Dialplan context an answered agent leg enters to claim its caller.",
    },
    "Ami": {
        "host": "Host of Asterisk's AMI.",
        "port": "TCP port of Asterisk's AMI (manager.conf's port).",
        "username": "AMI user: its section name in manager.conf.",
        "secret": "AMI user's secret. Give this, secret_env or secret_file.",
        "secret_env": "Name of an environment variable holding the AMI secret, read when the configuration loads.",
        "secret_file": "Path of a file holding the AMI secret (its text, without the final line break), read when "
        "the configuration loads.",
    },
    "Agi": {
        "host": "Address ccqueue listens on for FastAGI.",
        "port": "TCP port ccqueue listens on for FastAGI (the dialplan's CCQ_AGI points here).",
        "allow": "Addresses or networks Asterisk connects from (e.g. 192.0.2.10, 192.0.2.0/24); "
        "a FastAGI session from anywhere else is closed unread.",
        "away_hold_s": "Seconds the dialplan holds callers with music while ccqueue is away (restarting, crashed, "
        "unreachable) before they hear the apology.",
        "away_retry_s": "Seconds between the held callers' tries to reach ccqueue again.",
        "addresses": "Every FastAGI address (host:port) the dialplan tries in turn to reach ccqueue: both "
        "members of an active/standby pair. Default: host:port above.",
    },
    "Standby": {
        "poll_s": "Seconds between a standby's tries of the lock, and an active's checks that it still holds it (at most 1).",
        "check_timeout_s": "An active whose lock connection does not answer within this many seconds steps down.",
    },
    "Http": {
        "host": "Address of the HTTP API, /metrics and the wallboard (loopback unless told otherwise).",
        "port": "TCP port of the HTTP API.",
        "open": "Paths served without sign-in, any of healthz, metrics, wallboard, openapi (default: healthz, "
        "metrics, openapi; the wallboard then needs a supervisor or admin).",
        "secure_cookies": "Mark the session cookie Secure (sent over HTTPS only): set it when browsers reach "
        "ccqueue through a TLS proxy.",
        "session_idle_s": "Seconds without a request after which a browser session ends.",
        "session_max_s": "Seconds after sign-in after which a browser session ends, however busy.",
    },
    "User": {
        "role": "agent (acts on its own agent), supervisor (on its queues' agents, callers and callbacks, and "
        "reports) or admin (everything, the configuration included).",
        "password_hash": "argon2id hash of the user's password, made by `ccqueue user hash-password`; "
        "left out: the user signs in with a token only.",
        "tokens": "API tokens (Authorization: Bearer) stored as sha256:<hex>, made by `ccqueue user new-token`; "
        "remove one and reload to revoke it.",
        "agent": "For an agent user: the agent (a key under agents) it is and acts on.",
        "queues": "For a supervisor: the queues (keys under queues) of its teams.",
    },
    "Wallboard": {
        "period": "The period whose offered, answered and abandoned calls, service level and calls handled per agent "
        "the wallboard counts.",
    },
    "Workspace": {
        "dispositions": "Disposition codes (a-z, 0-9, '_', '-') an agent picks at wrap-up, for calls of queues "
        "without their own list; stored with the call and counted in the reports.",
        "pause_reasons": "Pause reasons the agent's page offers (the API takes any reason).",
        "language": "Language of the agent's page (en or ru) when the browser asks for neither.",
    },
    "WallboardPeriod": {
        "label": "What the wallboard calls the period, e.g. Today or Shift.",
        "starts_at": "Time of day (HH:MM) each day's period begins.",
        "time_zone": "IANA time zone starts_at is read in, e.g. Europe/Paris (default: the machine's).",
    },
    "Overload": {
        "enabled": "Refuse new callers at the door while the box is past what it can serve (false: admit every caller).",
        "max_loop_lag_s": "Seconds late the event loop's sampled timer may fire before the share of new callers let in is cut.",
        "max_asterisk_lag_s": "Seconds Asterisk may be behind before the share of new callers let in is cut: how "
        "old its events are on arrival, and how long an agent leg's Originate takes to start dialling.",
        "max_backlog": "Work in flight (engine inbox events, FastAGI sessions opening, commands awaiting Asterisk) "
        "past which each new caller is refused.",
        "resume_ratio": "The share let in grows again once both lags stay below this share of their limits for hold_s.",
        "hold_s": "Seconds the lag must stay low before the share let in grows again.",
        "lag_samples": "Samples past a lag's limit, within lag_window_s, that count as behind: one late sample is "
        "a stall (a start-up, a reload), a loop late again and again is behind.",
        "lag_window_s": "Seconds within which lag_samples late samples count as behind.",
        "cut_ratio": "While behind, the share of new callers let in is multiplied by this (0: none let in).",
        "cut_every_s": "Seconds at least between two cuts of the share: the time a cut takes to show in the lags.",
        "regain_per_s": "Share of new callers the door lets in more for each calm second, until all are let in.",
        "max_new_calls_per_s": "New callers a second this box carries (measure it with bench/capacity.py): past it, "
        "the dialplan's door lets in only this many a second (its share of those coming). Unset: no ceiling but "
        "the lags'.",
        "sound": "What a refused caller hears before the hang-up (a sound name, as Playback() takes it).",
        "refusal": "How the dialplan's door refuses: message (answered, the sound played) or busy (not answered: "
        "SIP 486, the caller's network plays the busy tone, and the refusal costs no media).",
    },
    "Database": {
        "dsn": "PostgreSQL DSN, e.g. postgresql://ccqueue@127.0.0.1:5432/ccqueue. Give this or dsn_env, or "
        "neither and pass --dsn or CCQUEUE_DSN.",
        "dsn_env": "Name of an environment variable holding the DSN, read when the configuration loads.",
        "dsn_file": "Path of a file holding the DSN, read when the configuration loads.",
    },
    "Hotline": {
        "queue": "The queue this number's callers wait in (a key under queues). Give this or ivr.",
        "ivr": "The IVR tree this number's callers go through (a key under ivr). Give this or queue.",
        "language": "Language of the prompts (en or ru) until the caller or the IVR chooses another.",
        "greeting": "Sound played when the call is answered, as Playback() takes it (no extension); null for none.",
        "survey": "After the agent hangs up, the caller stays on to rate the call (1-5) and say whether they "
        "would recommend us (0-10).",
    },
    "Queue": {
        "strategy": "How the queue picks among several free agents who could all take the call.",
        "ring_timeout_s": "Seconds an agent's phone rings before the call goes back to its place in line.",
        "wrapup_s": "Seconds of after-call work before the agent is offered another call.",
        "missed_cooldown_s": "Seconds an agent who did not answer is skipped.",
        "moh_class": "Music-on-hold class callers hear while they wait (musiconhold.conf).",
        "weight": "Across the queues an agent serves, a second waited here counts as this many seconds.",
        "priority": "Higher goes first, across all the queues an agent serves, whatever the wait.",
        "steps": "Routing steps: what an agent must hold, widening as the call waits. Every step but the "
        "last has a duration_s; the last has none.",
        "returning_customer": "Offer a caller first to the agent they spoke to last.",
        "auto_pause": "Pause an agent who leaves offers unanswered.",
        "limits": "Who may join the queue and how long they may stay.",
        "overflow": "Where callers go when refused or moved on, by reason; a reason left out ends in a "
        "polite message and a hang-up.",
        "announce": "Position and estimated-wait announcements, and periodic messages; left out: none.",
        "callback_key": "Whether the callbacks key works while waiting in this queue.",
        "service_level": "The service-level objective the metrics and reports measure this queue against.",
        "short_abandon_s": "A caller who hangs up within this many seconds of arriving is a short abandon: "
        "counted, but not against the service level.",
        "dispositions": "Disposition codes for this queue's calls, instead of workspace.dispositions.",
        "recording": "Which of the queue's calls are recorded (MixMonitor from the moment the agent is "
        "bridged), whether callers are told, and how long recordings are kept.",
    },
    "QueueRecording": {
        "policy": "all, none, share (a fraction of the calls, decided per call) or on_demand (the agent "
        "starts it through the API). Left out: share when share is given, else none.",
        "share": "With policy share: the fraction of calls recorded, 0 to 1 (e.g. 0.2).",
        "notice": "Callers hear 'this call may be recorded' (English or Russian) on joining the queue.",
        "retention_days": "Recordings older than this many days are deleted, file and row; left out: kept until erased.",
    },
    "Recordings": {
        "directory": "Absolute path of the folder recordings are kept in, as ccqueue reads it.",
        "asterisk_directory": "The same folder as Asterisk sees it, when different (Asterisk in a chroot "
        "or a container); left out: directory.",
        "purge_every_s": "Seconds between the daemon's purges of recordings and call records past their retention.",
        "call_retention_days": "Calls older than this many days are deleted with their events, surveys and "
        "recordings; left out: kept.",
    },
    "ServiceLevel": {
        "answer_within_s": "Seconds within which a call counts as answered in time (app_queue's servicelevel).",
        "target": "Share of calls (0 to 1, e.g. 0.8) to answer within answer_within_s; under it, the SL alert fires.",
    },
    "Limits": {
        "max_waiting": "At most this many callers (and callbacks) wait; the next goes to overflow.full.",
        "max_per_agent": "At most this many waiting callers per staffed agent (logged in, not paused, "
        "holding the widest step's skills).",
        "join_without_agents": "Whether callers may join while no agent who could answer is staffed "
        "(false: they go to overflow.no_agents).",
        "leave_without_agents": "Whether waiting callers go to overflow.no_agents when the last such agent pauses or logs out.",
        "max_wait_s": "Seconds a caller may wait before going to overflow.max_wait.",
        "divert_wait_s": "An estimated wait above this many seconds (at entry, then at each announcement or "
        "every 30 s) sends the caller to overflow.forecast, once.",
    },
    "Overflows": {
        "full": "Where a caller over max_waiting or max_per_agent goes.",
        "no_agents": "Where a caller goes when nobody who could answer is staffed.",
        "max_wait": "Where a caller goes after max_wait_s.",
        "forecast": "Where a caller goes when the estimated wait passes divert_wait_s.",
    },
    "Destination": {
        "queue": "Another queue; the caller keeps the time already waited.",
        "ivr": "An IVR tree, from its entry node.",
        "voicemail": "true: the caller leaves a message.",
        "callback": "true: offer a callback (a caller who declines waits on, or is released when refused).",
        "message": "A sound to play before hanging up.",
    },
    "Announce": {
        "first_after_s": "Seconds of waiting before the first announcement.",
        "every_s": "Seconds between announcements; left out or null: once.",
        "position": "Whether the caller's place in line is said.",
        "wait": "Whether the estimated wait is said (only when the estimate is confident and narrow enough).",
        "max_spread": "The wait is not said when its 80 % interval is wider than this many times the estimate "
        "(and than 2 minutes).",
        "min_history": "Calls that must have ended in the queue before a wait is said at all (the estimate "
        "starts from a prior of 3 minutes a call).",
        "periodic": "Sounds played in turn every periodic_every_s.",
        "periodic_every_s": "Seconds between periodic messages.",
    },
    "RoutingStep": {
        "require": "Skills the agent must hold, every one, at this level or above.",
        "any_of": "Skills of which the agent must hold at least one, at this level or above.",
        "duration_s": "Seconds this step lasts before the next, wider one; left out on the last step only.",
    },
    "ReturningCustomer": {
        "window_s": "A conversation at most this many seconds ago makes a returning customer.",
        "wait_s": "Seconds the caller waits for their last agent before anyone may take the call.",
    },
    "AutoPause": {
        "after_misses": "Unanswered offers that pause the agent.",
        "window_s": "Seconds within which those misses count.",
        "reason": "Pause reason recorded and shown on the wallboard.",
    },
    "Agent": {
        "name": "Name shown on the wallboard and in the API.",
        "password": "SIP password of the agent's PJSIP endpoint. Give this, password_env or password_file.",
        "password_env": "Name of an environment variable holding the SIP password, read when the configuration loads.",
        "password_file": "Path of a file holding the SIP password, read when the configuration loads.",
        "queues": "Queues the agent serves (keys under queues), each once.",
        "wrapup_s": "The agent's own after-call work in seconds, instead of each queue's wrapup_s.",
        "skills": "Skills the agent holds, each at a level from 1 (novice) to 5 (expert).",
        "order": "Position for the linear and round_robin strategies, smallest first.",
        "endpoint": "Dial string of the agent's phone; PJSIP/<agent id> when left out.",
    },
    "Callbacks": {
        "dial": "Dial string of the trunk with the customer's number in it: {number} (E.164, with '+') or "
        "{digits} (without '+'), e.g. PJSIP/{digits}@trunk. No ',' or '&'.",
        "caller_id": "Caller id the customer's phone shows when called back.",
        "region": "Region code (ISO 3166, e.g. US, DE, RU) in which a number written without '+' is read.",
        "allowed": "Regular expressions over the whole E.164 number; only numbers matching one are ever "
        "called back (toll-fraud protection). At least one.",
        "max_attempts": "Calls to the customer before the callback fails (busy, no answer).",
        "retry_delay_s": "Seconds between two attempts.",
        "expire_s": "Seconds after the request when a callback not yet made expires.",
        "ring_timeout_s": "Seconds the customer's phone rings.",
        "key": 'Key a waiting caller presses to be called back instead (quote it: "1", "*").',
        "offer_after_s": "Offer waiting callers a callback after this many seconds; left out, only the key works.",
    },
}

_DESCRIPTIONS.update(ivr.DESCRIPTIONS)
_DESCRIPTIONS.update(campaigns.DESCRIPTIONS)

_STRATEGIES: dict[Strategy, str] = {
    Strategy.LONGEST_IDLE: "the agent idle the longest",
    Strategy.FEWEST_CALLS: "the agent who answered the fewest calls, then the longest idle",
    Strategy.ROUND_ROBIN: "agents take turns, then by order",
    Strategy.LINEAR: "always the smallest order first",
    Strategy.RANDOM: "any of them, each as likely",
    Strategy.BEST_SKILL: "the highest level in the step's first required skill, then the longest idle",
    Strategy.RING_ALL: "every eligible free agent rings at once; the first to answer takes the call",
}

# (model, field) pairs given by the loader, not written in a file.
_FILLED_IN = (("Queue", "name"), ("Agent", "id"))
# (model, field, required): values that may be given as <field>_env instead.
_ENV_FORMS = (("Ami", "secret", True), ("Agent", "password", True), ("Database", "dsn", False))


def config_schema() -> dict[str, Any]:
    """The schema any one ccqueue configuration file validates against."""
    generated = Config.model_json_schema()
    defs: dict[str, Any] = copy.deepcopy(generated["$defs"])
    for name, model in defs.items():
        _describe_model(name, model)
    for model_name, field in _FILLED_IN:
        del defs[model_name]["properties"][field]
        defs[model_name]["required"].remove(field)
    for model_name, field, required in _ENV_FORMS:
        _add_env_form(defs[model_name], _DESCRIPTIONS[model_name], field, required=required)
    _name_keys(defs)
    defs["Strategy"]["description"] = "How a queue picks among free agents:\n" + "\n".join(
        f"- {strategy.value}: {text}" for strategy, text in _STRATEGIES.items()
    )
    sections = {name: _section(name, generated["properties"][name]) for name in _SECTIONS}
    return {
        "$schema": DRAFT,
        "title": "ccqueue configuration file",
        "description": "One file of a ccqueue configuration folder: any of the sections, each in one file only.",
        "type": "object",
        "additionalProperties": False,
        "properties": sections,
        "$defs": defs,
    }


def _describe_model(name: str, model: dict[str, Any]) -> None:
    model.pop("title", None)
    texts = _DESCRIPTIONS.get(name, {})
    for field, spec in model.get("properties", {}).items():
        spec.pop("title", None)
        if field in texts:
            _set_description(spec, texts[field])


def _set_description(spec: dict[str, Any], text: str) -> None:
    # In draft-07 a keyword beside "$ref" is ignored, and some editors drop its
    # description too; the reference goes under allOf so the text stays visible.
    if "$ref" in spec:
        spec["allOf"] = [{"$ref": spec.pop("$ref")}]
    spec["description"] = text


def _add_env_form(model: dict[str, Any], texts: dict[str, str], field: str, *, required: bool) -> None:
    forms = [field, f"{field}_env", f"{field}_file"]
    for form in forms[1:]:
        model["properties"][form] = {"type": "string", "minLength": 1, "description": texts[form]}
    if required:
        model["required"].remove(field)
        model["oneOf"] = [{"required": [form]} for form in forms]
    else:
        model["not"] = {
            "anyOf": [{"required": pair} for pair in ([forms[0], forms[1]], [forms[0], forms[2]], [forms[1], forms[2]])]
        }


def _name_keys(defs: dict[str, Any]) -> None:
    skill_maps = [
        defs["Agent"]["properties"]["skills"],
        defs["RoutingStep"]["properties"]["require"],
        defs["RoutingStep"]["properties"]["any_of"],
    ]
    for spec in skill_maps:
        spec["propertyNames"] = {"pattern": NAME_PATTERNS["skill"]}
        spec["default"] = {}
    defs["Queue"]["properties"]["steps"]["default"] = [{}]
    defs["Agent"]["properties"]["queues"]["uniqueItems"] = True
    defs["Campaign"]["properties"]["queues"]["uniqueItems"] = True
    defs["Window"]["properties"]["days"]["uniqueItems"] = True
    defs["Hotline"]["oneOf"] = [{"required": ["queue"]}, {"required": ["ivr"]}]


# Sections keyed by name: (kind of name, model of an entry, whether an entry may be empty).
_KEYED_SECTIONS = {
    "queues": ("queue", "Queue", True),
    "agents": ("agent", "Agent", False),
    "hotlines": ("hotline", "Hotline", False),
    "schedules": ("schedule", "Schedule", False),
    "ivr": ("ivr", "IvrTree", False),
    "users": ("user", "User", False),
    "campaigns": ("campaign", "Campaign", False),
}


def _section(name: str, generated: dict[str, Any]) -> dict[str, Any]:
    if name in _KEYED_SECTIONS:
        kind, model, may_be_empty = _KEYED_SECTIONS[name]
        entry: dict[str, Any] = {"$ref": f"#/$defs/{model}"}
        if may_be_empty:
            entry = {"anyOf": [entry, {"type": "null"}]}
        body: dict[str, Any] = {
            "type": "object",
            "propertyNames": {"pattern": NAME_PATTERNS[kind]},
            "additionalProperties": entry,
        }
    else:
        body = {"$ref": _model_ref(generated)}
    return {"anyOf": [body, {"type": "null"}], "description": _SECTIONS[name]}


def _model_ref(generated: dict[str, Any]) -> str:
    """The model a section refers to; an optional section (``X | None``) has it under anyOf."""
    if "$ref" in generated:
        return str(generated["$ref"])
    return next(str(option["$ref"]) for option in generated["anyOf"] if "$ref" in option)


def render(schema: dict[str, Any] | None = None) -> str:
    """The schema as the text of ``docs/config-schema.json``."""
    return json.dumps(config_schema() if schema is None else schema, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------- command line


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the command's arguments to `parser` (its own, or a ``ccqueue`` subcommand's)."""
    parser.add_argument("--out", metavar="FILE", default=None, help="write the schema here instead of printing it")
    return parser


def run(args: argparse.Namespace) -> int:
    text = render()
    if args.out is None:
        sys.stdout.write(text)
        return 0
    try:
        Path(args.out).write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"ccqueue: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ccqueue schema", description="Print the JSON Schema of ccqueue's YAML files")
    return run(configure_parser(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
