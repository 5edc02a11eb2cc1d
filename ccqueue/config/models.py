"""The typed, frozen configuration objects.

Rules kept here:

- Every model forbids unknown keys and is frozen; mappings are read-only
  (`types.MappingProxyType`), lists are tuples. A `Config` is safe to share
  between tasks and to keep as "the running configuration" across reloads.
- Types are strict: ``"15"`` is not an integer, ``1`` is not ``true``; an integer
  is accepted where a number of seconds is expected (15 means 15.0). Infinity and
  NaN are refused.
- Secrets (the AMI secret, SIP passwords) are `SecretStr` and print as stars; the
  database DSN is left out of ``repr`` because it may hold a password.
- The models see the configuration after the loader has resolved ``*_env``
  references and filled in each queue's name and each agent's id from their keys;
  cross-references are checked by the loader, where file and line are known.
- A default the core's settings also have is taken from them (``_QUEUE`` and the
  others below): the core states it once, with its reason, and a key left out of the
  YAML means what the core does when not told (``ccqueue.config.to_core`` maps a
  `Config` onto the core's settings).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Any, Literal, cast

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    SerializerFunctionWrapHandler,
    field_serializer,
    field_validator,
    model_validator,
)

from ccqueue.config.base import Frozen, name_rule, read_only
from ccqueue.config.callbacks import Callbacks
from ccqueue.config.campaigns import Campaigns
from ccqueue.config.ivr import Schedules, TimeZone, Trees
from ccqueue.config.outbound import Outbound
from ccqueue.config.users import Openable, User, UserName
from ccqueue.core.calls import AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.overload import OverloadSettings
from ccqueue.core.recording import RecordingMode
from ccqueue.core.skills import Strategy
from ccqueue.core.waiting import Admission, Announcements

__all__ = [
    "Agent",
    "AgentId",
    "Agi",
    "Ami",
    "Asterisk",
    "Config",
    "Database",
    "Hotline",
    "HotlineNumber",
    "Http",
    "Queue",
    "QueueName",
    "QueueRecording",
    "Recordings",
    "ServiceLevel",
    "Strategy",
    "User",
]


# The core's settings as they are when not told otherwise: the defaults below are theirs.
_QUEUE = QueueSettings(name="-")
_ADMISSION = Admission()
_ANNOUNCE = Announcements()
_AGENT = AgentSettings(agent_id="-", name="-", endpoint="-", queues=())
_OVERLOAD = OverloadSettings()
_HOTLINE = HotlineSettings(number="-", queue=None)


# Queue names appear in metrics labels and URLs; agent ids become SIP usernames.
QueueName = Annotated[str, name_rule(r"[a-z0-9_-]+", "a queue name uses only a-z, 0-9, '_' and '-'")]
AgentId = Annotated[str, name_rule(r"[a-z0-9_]+", "an agent id uses only a-z, 0-9 and '_'")]
# A hotline is an exact number or extension, never an Asterisk pattern (``_X.``).
HotlineNumber = Annotated[str, name_rule(r"[0-9A-Za-z*#+]+", "a hotline number uses only digits, letters, '*', '#' and '+'")]
Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(ge=0)]
NonEmpty = Annotated[str, Field(min_length=1)]
Language = Literal["en", "ru"]


class Ami(Frozen):
    """Asterisk Manager Interface: one connection for actions and events."""

    host: NonEmpty = "127.0.0.1"
    port: Port = 5038
    username: NonEmpty
    secret: Annotated[SecretStr, Field(min_length=1)]


def _network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address or network (e.g. 192.0.2.10 or 192.0.2.0/24)") from None
    return value


Network = Annotated[str, AfterValidator(_network)]


def _agi_address(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not a FastAGI address host:port (e.g. 127.0.0.1:4573)")
    if any(c in value for c in " ,;^/|()$"):
        raise ValueError(f"{value!r} holds a character the dialplan cannot carry (space , ; ^ / | ( ) $)")
    return value


AgiAddress = Annotated[str, AfterValidator(_agi_address)]


class Agi(Frozen):
    """Where ccqueue listens for FastAGI sessions (one per call)."""

    host: NonEmpty = "127.0.0.1"
    port: Port = 4573
    # The addresses Asterisk connects from; a session from anywhere else is closed unread.
    # Loopback by default, where the sandbox and a one-box install run Asterisk.
    allow: tuple[Network, ...] = Field(default=("127.0.0.0/8", "::1/128"), min_length=1)
    # While ccqueue is away (a restart, a crash), the dialplan holds callers with music
    # and tries the AGI again every away_retry_s; past away_hold_s they hear the apology
    # (rendered into the dialplan's globals).
    away_hold_s: float = Field(default=120.0, ge=0, le=3600)
    away_retry_s: float = Field(default=2.0, gt=0, le=60)
    # Every FastAGI address ("host:port") the dialplan tries, in turn, to reach ccqueue:
    # both members of an active/standby pair (docs/standby.md). Empty: host:port above.
    addresses: tuple[AgiAddress, ...] = Field(default=(), strict=False)

    def dialplan_addresses(self) -> tuple[str, ...]:
        return self.addresses or (f"{self.host}:{self.port}",)


class Asterisk(Frozen):
    ami: Ami
    agi: Agi = Agi()
    # The dialplan context an answered agent leg enters to claim its caller.
    agent_context: NonEmpty = "ccqueue-agent"


class Http(Frozen):
    """The REST API, /metrics and the wallboard. Loopback unless told otherwise."""

    host: NonEmpty = "127.0.0.1"
    port: Port = 8080
    # Served without sign-in: Prometheus and load balancers rarely carry credentials,
    # and the API's description is no secret. The wallboard needs a supervisor unless opened.
    open: tuple[Openable, ...] = Field(default=("healthz", "metrics", "openapi"), strict=False)
    # The session cookie's Secure flag: set it when browsers reach ccqueue over HTTPS
    # (a TLS proxy in front); a browser would not send a Secure cookie over plain HTTP.
    secure_cookies: bool = False
    # A session ends after this long without a request (a shift's break), and in any
    # case this long after sign-in (a shift). OWASP suggests 15-30 min idle for
    # high-value applications; an agent's page polls, so idle means the page is closed.
    session_idle_s: Annotated[float, Field(gt=0)] = 1800.0
    session_max_s: Annotated[float, Field(gt=0)] = 12 * 3600.0


class Overload(Frozen):
    """Past what the box can serve, new callers are refused at the door with a message
    and recorded as ``refused`` (``ccqueue.core.overload``): the event loop's lag, the age
    of Asterisk's events on arrival or the backlog of work past its limit starts it; the
    lags below ``resume_ratio`` of their limits for ``hold_s`` ends it."""

    enabled: bool = _OVERLOAD.enabled
    max_loop_lag_s: Annotated[float, Field(gt=0, le=60)] = _OVERLOAD.max_loop_lag_s
    max_asterisk_lag_s: Annotated[float, Field(gt=0, le=60)] = _OVERLOAD.max_asterisk_lag_s
    max_backlog: Annotated[int, Field(ge=1)] = _OVERLOAD.max_backlog
    resume_ratio: Annotated[float, Field(gt=0, le=1)] = _OVERLOAD.resume_ratio
    hold_s: Annotated[float, Field(ge=0, le=3600)] = _OVERLOAD.hold_s
    lag_samples: Annotated[int, Field(ge=1, le=100)] = _OVERLOAD.lag_samples
    lag_window_s: Annotated[float, Field(gt=0, le=60)] = _OVERLOAD.lag_window_s
    cut_ratio: Annotated[float, Field(ge=0, lt=1)] = _OVERLOAD.cut_ratio
    cut_every_s: Annotated[float, Field(ge=0, le=60)] = _OVERLOAD.cut_every_s
    regain_per_s: Annotated[float, Field(gt=0, le=1)] = _OVERLOAD.regain_per_s
    max_new_calls_per_s: Annotated[float, Field(gt=0)] | None = None
    # What a refused caller hears (a sound name: spliced into an AGI command, so plain).
    sound: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_/.-]{0,79}$")] = "ccqueue/queue-full"
    # How the dialplan's door refuses: "message" answers and plays the sound; "busy" does
    # not answer (SIP 486 Busy Here: the caller's own network plays the busy tone), so a
    # refusal costs the box no media at all.
    refusal: Literal["message", "busy"] = "message"

    def to_core(self) -> OverloadSettings:
        return OverloadSettings(
            enabled=self.enabled,
            max_loop_lag_s=self.max_loop_lag_s,
            max_asterisk_lag_s=self.max_asterisk_lag_s,
            max_backlog=self.max_backlog,
            resume_ratio=self.resume_ratio,
            hold_s=self.hold_s,
            lag_samples=self.lag_samples,
            lag_window_s=self.lag_window_s,
            cut_ratio=self.cut_ratio,
            cut_every_s=self.cut_every_s,
            regain_per_s=self.regain_per_s,
            max_new_calls_per_s=self.max_new_calls_per_s,
        )


class Database(Frozen):
    dsn: Annotated[str | None, Field(repr=False)] = None


class Standby(Frozen):
    """An active/standby pair (docs/standby.md): with this section, ``ccqueue run`` serves
    only while it holds the pair's PostgreSQL advisory lock, and waits as the standby
    otherwise."""

    # How often a standby tries the lock, and an active checks it still has it. The
    # takeover target is 5 s: detection, the rebuild and the dialplan's retry share it.
    poll_s: float = Field(default=0.5, gt=0, le=1.0)
    # An active whose lock connection does not answer within this long steps down.
    check_timeout_s: float = Field(default=2.0, gt=0, le=10.0)


def _time_of_day(value: str) -> str:
    try:
        dt.time.fromisoformat(value)
    except ValueError:
        raise ValueError(f"expected a time of day such as 00:00 or 06:30, got {value!r}") from None
    return value


class WallboardPeriod(Frozen):
    """The labelled period whose counts the wallboard shows (offered, answered, abandoned,
    SL, calls handled per agent): from ``starts_at`` each day, in ``time_zone`` (None: the
    machine's own), until the next day's ``starts_at``."""

    label: NonEmpty = "Today"
    starts_at: Annotated[str, AfterValidator(_time_of_day)] = "00:00"
    time_zone: TimeZone | None = None

    def start_time(self) -> dt.time:
        return dt.time.fromisoformat(self.starts_at)


class Wallboard(Frozen):
    period: WallboardPeriod = WallboardPeriod()


# A wrap-up's disposition code: stored with the call and counted in the reports, so a
# code is a stable word, not a sentence (the page shows it as written).
DispositionCode = Annotated[str, name_rule(r"[a-z0-9_-]{1,64}", "a disposition code is 1-64 of a-z, 0-9, '_' and '-'")]
# As the pause API takes it (ccqueue.http.app.MAX_REASON_CHARS).
PauseReason = Annotated[str, name_rule(r"(?s)(?=.*\S).{1,64}", "a pause reason is 1-64 characters, not only spaces")]


def _distinct(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value)
    return values


class Workspace(Frozen):
    """The agents' page: the codes a call is wrapped up with (a queue may list its own),
    the pause reasons offered, and the page's language unless the browser asks for another."""

    dispositions: Annotated[tuple[DispositionCode, ...], AfterValidator(_distinct)] = Field(default=(), strict=False)
    pause_reasons: Annotated[tuple[PauseReason, ...], AfterValidator(_distinct)] = Field(default=(), strict=False)
    language: Language = "en"


class Hotline(Frozen):
    """Where a number's callers go: straight to a queue, or through an IVR tree (exactly one)."""

    queue: str | None = None
    ivr: str | None = None
    # The prompts' language until the caller or the IVR picks another.
    language: Language = cast(Language, _HOTLINE.language)
    # A sound file name, as Playback() takes it; null: the caller hears no greeting.
    greeting: NonEmpty | None = cast(str, _HOTLINE.greeting)
    survey: bool = False  # after the agent hangs up, the caller rates the call

    @model_validator(mode="after")
    def _queue_or_ivr(self) -> Hotline:
        if (self.queue is None) == (self.ivr is None):
            raise ValueError("a hotline has a queue or an ivr, exactly one")
        return self


SkillName = Annotated[str, name_rule(r"[a-z0-9_-]+", "a skill name uses only a-z, 0-9, '_' and '-'")]
# Skill levels run from 1 (novice) to 5 (expert).
Level = Annotated[int, Field(ge=1, le=5)]
SkillLevels = Annotated[Mapping[SkillName, Level], AfterValidator(read_only)]


class RoutingStep(Frozen):
    """One step of a queue's widening: what an agent must hold, and for how long."""

    require: SkillLevels = Field(default_factory=lambda: MappingProxyType({}))  # every one of these
    any_of: SkillLevels = Field(default_factory=lambda: MappingProxyType({}))  # at least one of these
    duration_s: Annotated[float, Field(gt=0)] | None = None  # None: the last step, lasts forever


class ReturningCustomer(Frozen):
    """A caller who spoke to an agent within ``window_s`` is offered to that agent first,
    for up to ``wait_s`` of waiting, then to everyone."""

    window_s: Annotated[float, Field(gt=0)] = 3600.0
    wait_s: Seconds = 20.0


class AutoPause(Frozen):
    """After ``after_misses`` unanswered offers within ``window_s``, pause the agent."""

    after_misses: Annotated[int, Field(ge=1)] = 3
    window_s: Annotated[float, Field(gt=0)] = _QUEUE.auto_pause_window_s
    reason: NonEmpty = _QUEUE.auto_pause_reason


class Destination(Frozen):
    """Where a caller goes on leaving (or not entering) a queue: exactly one key."""

    queue: str | None = None  # another queue; the caller keeps the time already waited
    ivr: str | None = None  # an IVR tree
    voicemail: bool | None = None  # true: leave a message
    callback: bool | None = None  # true: offer a callback
    message: NonEmpty | None = None  # a sound, then hang up

    @model_validator(mode="after")
    def _exactly_one(self) -> Destination:
        given = [name for name in type(self).model_fields if getattr(self, name) not in (None, False)]
        if len(given) != 1:
            raise ValueError("give exactly one of queue, ivr, voicemail, callback, message")
        return self


class Limits(Frozen):
    """Who may join the queue, and how long they may stay."""

    max_waiting: Annotated[int, Field(ge=1)] | None = None
    max_per_agent: Annotated[float, Field(gt=0)] | None = None  # per staffed agent
    join_without_agents: bool = _ADMISSION.join_without_agents  # join when nobody who could answer is logged in
    leave_without_agents: bool = _ADMISSION.leave_without_agents  # callers leave when the last such agent goes
    max_wait_s: Annotated[float, Field(gt=0)] | None = None
    divert_wait_s: Annotated[float, Field(gt=0)] | None = None  # forecast diversion threshold


class Overflows(Frozen):
    """A destination per reason; a reason left out ends in a polite message."""

    full: Destination | None = None
    no_agents: Destination | None = None
    max_wait: Destination | None = None
    forecast: Destination | None = None


class Announce(Frozen):
    """What a waiting caller is told, and when."""

    first_after_s: Seconds = _ANNOUNCE.first_after_s
    every_s: Annotated[float, Field(gt=0)] | None = _ANNOUNCE.every_s  # None: once
    position: bool = _ANNOUNCE.position
    wait: bool = _ANNOUNCE.wait
    # The wait is not announced when its 80 % interval is wider than this times itself.
    max_spread: Annotated[float, Field(gt=0)] = _ANNOUNCE.max_spread
    min_history: Annotated[int, Field(ge=0)] = _ANNOUNCE.min_history  # ended calls before a wait is said at all
    periodic: tuple[NonEmpty, ...] = Field(default=_ANNOUNCE.periodic, strict=False)  # sounds, in turn
    periodic_every_s: Annotated[float, Field(gt=0)] | None = _ANNOUNCE.periodic_every_s


class ServiceLevel(Frozen):
    """The queue's service-level objective: ``target`` of the calls answered within ``answer_within_s``."""

    answer_within_s: Annotated[float, Field(gt=0)] = 20.0
    target: Annotated[float, Field(gt=0, le=1)] = 0.8


class QueueRecording(Frozen):
    """Which of the queue's calls are recorded (``ccqueue.core.recording``), and for how long.

    ``policy``: all, none, share (``share`` of the calls, decided per call) or on_demand
    (the agent starts it). ``share: 0.2`` alone means policy share.
    """

    policy: RecordingMode | None = Field(default=None, strict=False)
    share: Annotated[float, Field(ge=0, le=1)] | None = None
    notice: bool = False  # "this call may be recorded" (English or Russian) on joining the queue
    # Recordings older than this are deleted (files and rows) by `ccqueue recordings purge`
    # and the daemon's periodic purge. None: kept until erased. 90 days is a common choice.
    retention_days: Annotated[int, Field(ge=1, le=36500)] | None = None

    @model_validator(mode="after")
    def _share_with_policy(self) -> QueueRecording:
        if self.share is not None and self.policy not in (None, RecordingMode.SHARE):
            raise ValueError(f"share goes with policy share, not {self.policy.value}")
        if self.policy is RecordingMode.SHARE and self.share is None:
            raise ValueError("policy share needs a share between 0 and 1 (e.g. share: 0.2)")
        return self

    @property
    def mode(self) -> RecordingMode:
        if self.policy is not None:
            return self.policy
        return RecordingMode.SHARE if self.share is not None else RecordingMode.NONE


class Queue(Frozen):
    name: str
    # An enum takes its value from YAML's plain string, so this field is not strict.
    strategy: Strategy = Field(default=_QUEUE.strategy, strict=False)
    ring_timeout_s: Annotated[float, Field(gt=0)] = _QUEUE.ring_timeout_s  # app_queue's 'timeout' (queues.conf)
    wrapup_s: Seconds = _QUEUE.wrapup_s
    missed_cooldown_s: Seconds = _QUEUE.missed_cooldown_s
    moh_class: NonEmpty = _QUEUE.moh_class
    # Across the queues an agent serves: a minute waited here counts as `weight` minutes.
    weight: Annotated[float, Field(gt=0)] = _QUEUE.weight
    priority: int = _QUEUE.priority  # higher goes first, across all the agent's queues
    steps: tuple[RoutingStep, ...] = Field(default_factory=lambda: (RoutingStep(),), strict=False, min_length=1)
    returning_customer: ReturningCustomer | None = None
    auto_pause: AutoPause | None = None
    limits: Limits = Limits()
    overflow: Overflows = Overflows()
    announce: Announce | None = None  # None: no announcements
    callback_key: bool = _QUEUE.callback_key  # the callbacks key works while waiting in this queue
    recording: QueueRecording = QueueRecording()  # none by default
    # Reporting only (metrics and reports; routing never reads them).
    service_level: ServiceLevel = ServiceLevel()
    short_abandon_s: Seconds = 5.0  # a caller who hangs up sooner is a short abandon, not held against the SL
    # The wrap-up codes of this queue's calls; None: workspace.dispositions.
    dispositions: Annotated[tuple[DispositionCode, ...], AfterValidator(_distinct)] | None = Field(default=None, strict=False)

    @field_validator("steps")
    @classmethod
    def _steps_run_back_to_back(cls, steps: tuple[RoutingStep, ...]) -> tuple[RoutingStep, ...]:
        *earlier, last = steps
        if any(step.duration_s is None for step in earlier):
            raise ValueError("every step but the last needs a duration_s (how long before the next, wider step)")
        if last.duration_s is not None:
            raise ValueError("the last step has no duration_s: it lasts as long as the call waits")
        return steps


class Agent(Frozen):
    id: str
    name: NonEmpty
    password: Annotated[SecretStr, Field(min_length=1)]  # SIP password of the agent's endpoint
    # YAML gives a list; the tuple keeps the agent frozen.
    queues: tuple[str, ...] = Field(default=(), strict=False)
    wrapup_s: Seconds | None = _AGENT.wrapup_s  # overrides the queue's wrap-up when set
    skills: SkillLevels = Field(default_factory=lambda: MappingProxyType({}))
    order: int = _AGENT.order  # position for the `linear` strategy (smallest first)
    endpoint: NonEmpty | None = None  # dial string; default PJSIP/<agent id>


class Recordings(Frozen):
    """Where recordings are kept, and how long call records are."""

    # The folder ccqueue reads recordings from (playback, purge, erasure).
    directory: NonEmpty = "/var/spool/asterisk/monitor/ccqueue"
    # The same folder as Asterisk sees it, when that differs (Asterisk in a chroot or a
    # container); None: the same path.
    asterisk_directory: NonEmpty | None = None
    # How often the daemon purges recordings past their queue's retention.
    purge_every_s: Annotated[float, Field(ge=60)] = 3600.0
    # Calls (and their events, surveys and recordings) older than this are deleted by the
    # purge. None: kept. Reports need the days they cover: a year or more is usual.
    call_retention_days: Annotated[int, Field(ge=1, le=36500)] | None = None

    @field_validator("directory", "asterisk_directory")
    @classmethod
    def _absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError(f"an absolute path is needed, got {value!r}")
        return value

    def in_asterisk(self, file: str) -> str:
        """``file`` (relative to the folder) as Asterisk opens it."""
        return f"{(self.asterisk_directory or self.directory).rstrip('/')}/{file}"


class Config(Frozen):
    """The whole configuration; `files` lists the files it was read from."""

    asterisk: Asterisk
    http: Http = Http()
    database: Database = Database()
    standby: Standby | None = None  # None: a lone process, always active
    wallboard: Wallboard = Wallboard()
    workspace: Workspace = Workspace()
    overload: Overload = Overload()
    hotlines: Annotated[Mapping[HotlineNumber, Hotline], AfterValidator(read_only)] = Field(
        default_factory=lambda: MappingProxyType({})
    )
    queues: Annotated[Mapping[QueueName, Queue], AfterValidator(read_only)] = Field(default_factory=lambda: MappingProxyType({}))
    agents: Annotated[Mapping[AgentId, Agent], AfterValidator(read_only)] = Field(default_factory=lambda: MappingProxyType({}))
    callbacks: Callbacks | None = None  # None: no callbacks
    users: Annotated[Mapping[UserName, User], AfterValidator(read_only)] = Field(default_factory=lambda: MappingProxyType({}))
    schedules: Schedules = Field(default_factory=lambda: MappingProxyType({}))
    ivr: Trees = Field(default_factory=lambda: MappingProxyType({}))
    outbound: Outbound | None = None  # None: no campaigns
    campaigns: Campaigns = Field(default_factory=lambda: MappingProxyType({}))
    recordings: Recordings = Recordings()
    files: tuple[str, ...] = Field(default=(), strict=False)

    @field_serializer("hotlines", "queues", "agents", "schedules", "ivr", "users", "campaigns", mode="wrap")
    def _serialize_mapping(self, value: Mapping[str, Any], handler: SerializerFunctionWrapHandler) -> Any:
        return handler(dict(value))

    def dispositions(self, queue_name: str | None) -> tuple[str, ...]:
        """The codes a call of ``queue_name`` is wrapped up with: the queue's own, else the global list."""
        queue = self.queues.get(queue_name or "")
        if queue is not None and queue.dispositions is not None:
            return queue.dispositions
        return self.workspace.dispositions

    def agent_wrapup_s(self, agent_id: str, queue_name: str) -> float:
        """Seconds of after-call work for this agent in this queue: the agent's own, else the queue's."""
        agent = self.agents[agent_id]
        if agent.wrapup_s is not None:
            return agent.wrapup_s
        return self.queues[queue_name].wrapup_s
