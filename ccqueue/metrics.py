"""Prometheus metrics, in Prometheus's naming conventions.

Counters and histograms are fed as records are written (a call counts once, when its
summary first carries its end). Gauges are read from the live state at scrape
time by a collector, so they can never drift from it; the scrape runs on the engine's
event loop, between two events, and so sees a consistent state.

Labels stay bounded: queue names (from the configuration), the call-outcome enum, the
agent-state enum and a few fixed words; never a call id, an agent id or a number. Every
queue-labelled series exists, at zero, from the first scrape, so a dashboard or an
alert never sees "no data" where it should see nothing happened. The figures follow the
definitions in docs/reports.md ("Definitions").
"""

from __future__ import annotations

import time
import zoneinfo
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ccqueue.config.models import Config, Queue, ServiceLevel, WallboardPeriod
from ccqueue.core.agent_state import AgentState
from ccqueue.core.campaigns import AttemptOutcome
from ccqueue.core.lease import RoleState
from ccqueue.core.period_counts import PeriodCounts
from ccqueue.core.records import (
    AgentStateRecord,
    CallbackStatus,
    CallOutcome,
    CallRecord,
    Record,
)
from ccqueue.core.replies import CampaignStatus
from ccqueue.core.views import ReadModel

# Outcomes of a call that waited in a queue (refused calls never joined one; the IVR's
# own outcomes end before any queue).
WAIT_OUTCOMES = (
    CallOutcome.ANSWERED,
    CallOutcome.ABANDONED,
    CallOutcome.OVERFLOWED,
    CallOutcome.CALLBACK,
    CallOutcome.VOICEMAIL,
    CallOutcome.FAILED,
)
FINAL_OUTCOMES = tuple(o for o in CallOutcome if o is not CallOutcome.WAITING)
WAIT_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800)
HANDLE_BUCKETS = (30, 60, 120, 180, 240, 300, 420, 600, 900, 1200, 1800, 3600)
# Rolling service-level windows, by label.
SL_WINDOWS: dict[str, float] = {"15m": 900.0, "1h": 3600.0}
# How a call counts towards the service level.
SL_RESULTS = ("answered_in_time", "answered_late", "abandoned", "short_abandoned")
# States an agent is staffed in; occupancy is the handling share of their time.
STAFFED = (AgentState.AVAILABLE, AgentState.RESERVED, AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP)
_OPEN_CALLBACKS = tuple(s for s in CallbackStatus if s.open)
_DEFAULT_SL = ServiceLevel()
_DEFAULT_SHORT_ABANDON_S = Queue.model_fields["short_abandon_s"].default


def version() -> str:
    try:
        return metadata.version("ccqueue")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


@dataclass(frozen=True, slots=True)
class Objective:
    answer_within_s: float
    target: float
    short_abandon_s: float


@dataclass(frozen=True, slots=True)
class Window:
    """A queue's rolling figures (docs/reports.md, "Definitions"); None where no call counts.

    Short abandons are left out of every figure; the abandon share is of the calls the
    service level counts (answered, plus abandoned after the short-abandon threshold)."""

    service_level: float | None
    answered: int
    abandoned: int
    asa_s: float | None
    abandon_share: float | None


class Metrics:
    """What the records say: calls, waits, handle times, service level, time in state."""

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        config: Callable[[], Config] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self._config = config
        self._clock = clock
        # Registered through _Feed below, which fills in every configured queue first.
        self.calls = Counter("ccqueue_calls", "Calls that ended, by queue and outcome.", ["queue", "outcome"], registry=None)
        self.wait = Histogram(
            "ccqueue_wait_seconds",
            "Seconds from arrival to answer, or to leaving the queue unanswered, by queue and outcome.",
            ["queue", "outcome"],
            buckets=WAIT_BUCKETS,
            registry=None,
        )
        self.handle = Histogram(
            "ccqueue_handle_seconds",
            "Handle time of answered calls: talk plus the agent's wrap-up, by queue.",
            ["queue"],
            buckets=HANDLE_BUCKETS,
            registry=None,
        )
        self.sl_calls = Counter(
            "ccqueue_service_level_calls",
            "Calls as the service level counts them, by queue and result "
            "(answered_in_time, answered_late, abandoned, short_abandoned).",
            ["queue", "result"],
            registry=None,
        )
        self._counted: set[str] = set()
        self._answered: set[str] = set()
        self._talk: dict[str, tuple[str, float]] = {}  # call -> (queue, talk seconds) until its wrap-up ends
        # queue -> (at, result, seconds waited), the last hour: rolling SL, ASA and abandons
        self._sl_events: dict[str, deque[tuple[float, str, float]]] = {}
        self.state_seconds: dict[str, float] = {s.value: 0.0 for s in STAFFED}  # closed intervals
        self._prepared_for: Config | None = None
        # The wallboard's period ("Today" by default): calls from this moment on are
        # counted live; the period's earlier part is seeded from PostgreSQL (``seed_period``).
        settings = self._config().wallboard.period if self._config is not None else WallboardPeriod()
        self.period = PeriodCounts(
            label=settings.label,
            starts_at=settings.start_time(),
            zone=zoneinfo.ZoneInfo(settings.time_zone) if settings.time_zone else None,
            cutoff=self._clock(),
            objectives=self._period_objective,
        )
        registry.register(_Feed(self))

    # ------------------------------------------------------------------ configuration

    def queue_names(self) -> list[str]:
        return sorted(self._config().queues) if self._config is not None else []

    def objective(self, queue: str) -> Objective:
        spec = self._config().queues.get(queue) if self._config is not None else None
        if spec is None:
            return Objective(_DEFAULT_SL.answer_within_s, _DEFAULT_SL.target, _DEFAULT_SHORT_ABANDON_S)
        return Objective(spec.service_level.answer_within_s, spec.service_level.target, spec.short_abandon_s)

    def _period_objective(self, queue: str) -> tuple[float, float]:
        objective = self.objective(queue)
        return objective.answer_within_s, objective.short_abandon_s

    def prepare(self) -> None:
        """Every configured queue's series, at zero (again after a reload adds queues)."""
        config = self._config() if self._config is not None else None
        if config is None or config is self._prepared_for:
            return
        self._prepared_for = config
        for queue in config.queues:
            for outcome in FINAL_OUTCOMES:
                self.calls.labels(queue=queue, outcome=outcome.value)
            for waited in WAIT_OUTCOMES:
                self.wait.labels(queue=queue, outcome=waited.value)
            self.handle.labels(queue=queue)
            for result in SL_RESULTS:
                self.sl_calls.labels(queue=queue, result=result)

    # ------------------------------------------------------------------ records

    def on_record(self, record: Record) -> None:
        if isinstance(record, CallRecord):
            self._on_call(record)
        elif isinstance(record, AgentStateRecord):
            self._on_interval(record)

    def _on_call(self, record: CallRecord) -> None:
        queue = record.queue
        # The wait runs from joining the first queue (IVR time excluded), as in the reports.
        queued_at = record.queued_at
        if queue is not None and record.answered_at is not None and record.call_id not in self._answered:
            self._remember(self._answered, record.call_id)
            waited = max(0.0, record.answered_at - (record.arrived_at if queued_at is None else queued_at))
            in_time = waited <= self.objective(queue).answer_within_s
            self._sl(queue, record.answered_at, "answered_in_time" if in_time else "answered_late", waited)
        self.period.on_call(record, self._clock())
        # An answered call's summary carries its outcome from the answer on: it is
        # counted when it ends.
        if record.outcome is CallOutcome.WAITING or record.ended_at is None or record.call_id in self._counted:
            return
        self._remember(self._counted, record.call_id)
        key = (queue or "", record.outcome.value)
        self.calls.labels(queue=key[0], outcome=key[1]).inc()
        if queue is None or record.outcome not in WAIT_OUTCOMES:
            return
        if queued_at is None:
            return  # never in a queue's line (a callback booked at the door): no wait
        left_at = record.answered_at if record.answered_at is not None else record.ended_at
        waited = max(0.0, left_at - queued_at)
        self.wait.labels(queue=queue, outcome=record.outcome.value).observe(waited)
        if record.outcome is CallOutcome.ABANDONED:
            short = waited < self.objective(queue).short_abandon_s
            self._sl(queue, record.ended_at, "short_abandoned" if short else "abandoned", waited)
        if record.agent is not None and record.answered_at is not None:
            if len(self._talk) > 100_000:  # wrap-ups never written (a crash) must not pile up
                self._talk.clear()
            self._talk[record.call_id] = (queue, max(0.0, record.ended_at - record.answered_at))

    def _on_interval(self, record: AgentStateRecord) -> None:
        seconds = max(0.0, record.ended_at - record.started_at)
        if record.state in self.state_seconds:
            self.state_seconds[record.state] += seconds
        if record.state == AgentState.WRAP_UP.value and record.call_id is not None:
            talk = self._talk.pop(record.call_id, None)
            if talk is not None:  # the handle time is known once the wrap-up after the call is over
                self.handle.labels(queue=talk[0]).observe(talk[1] + seconds)

    def _sl(self, queue: str, at: float, result: str, waited: float) -> None:
        self.sl_calls.labels(queue=queue, result=result).inc()
        self._sl_events.setdefault(queue, deque()).append((at, result, waited))

    def handled_today(self, agent: str, now: float) -> int:
        """Calls the agent answered in the wallboard's period ("Today" by default)."""
        return self.period.handled(agent, now)

    @staticmethod
    def _remember(seen: set[str], call_id: str) -> None:
        if len(seen) > 100_000:  # only late duplicates need it; bound memory
            seen.clear()
        seen.add(call_id)

    # ------------------------------------------------------------------ rolling figures

    def service_level(self, queue: str, window_s: float, now: float) -> tuple[float | None, int]:
        """(SL, calls it counts) over the last ``window_s``; SL is None when no call counts:
        an idle queue has no service level, not a perfect one (docs/reports.md)."""
        events = self._sl_events.get(queue, ())
        in_time = counted = 0
        for at, result, _waited in events:
            if at < now - window_s or result == "short_abandoned":
                continue
            counted += 1
            in_time += result == "answered_in_time"
        return (in_time / counted if counted else None), counted

    def window(self, queue: str, window_s: float, now: float) -> Window:
        """The queue's service level, ASA and abandons over the last ``window_s``."""
        self._prune(now)
        answered = abandoned = in_time = 0
        waited_total = 0.0
        for at, result, waited in self._sl_events.get(queue, ()):
            if at < now - window_s or result == "short_abandoned":
                continue
            if result == "abandoned":
                abandoned += 1
            else:
                answered += 1
                waited_total += waited
                in_time += result == "answered_in_time"
        counted = answered + abandoned
        return Window(
            service_level=in_time / counted if counted else None,
            answered=answered,
            abandoned=abandoned,
            asa_s=waited_total / answered if answered else None,
            abandon_share=abandoned / counted if counted else None,
        )

    def _prune(self, now: float) -> None:
        horizon = now - max(SL_WINDOWS.values())
        for events in self._sl_events.values():
            while events and events[0][0] < horizon:
                events.popleft()

    def collect_rolling(self) -> Iterator[Metric]:
        now = self._clock()
        self._prune(now)
        queues = sorted(set(self.queue_names()) | set(self._sl_events))
        level = GaugeMetricFamily(
            "ccqueue_service_level",
            "Share of calls answered within the objective, of those answered or abandoned after the "
            "short-abandon threshold, over a rolling window; no sample while no call counts.",
            labels=["queue", "window"],
        )
        counted = GaugeMetricFamily(
            "ccqueue_service_level_window_calls",
            "Calls the rolling service level counts (its denominator), by queue and window.",
            labels=["queue", "window"],
        )
        target = GaugeMetricFamily(
            "ccqueue_service_level_target", "The service-level objective's target share.", labels=["queue"]
        )
        within = GaugeMetricFamily(
            "ccqueue_service_level_answer_within_seconds", "The service-level objective's answer time.", labels=["queue"]
        )
        for queue in queues:
            for window, seconds in SL_WINDOWS.items():
                value, calls = self.service_level(queue, seconds, now)
                if value is not None:  # no call counted: the series is absent, not 1 (nor 0)
                    level.add_metric([queue, window], value)
                counted.add_metric([queue, window], calls)
            objective = self.objective(queue)
            target.add_metric([queue], objective.target)
            within.add_metric([queue], objective.answer_within_s)
        yield from (level, counted, target, within)


class _Feed(Collector):
    """The record-fed metrics, with every configured queue's series filled in first."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterable[Metric]:
        m = self._metrics
        m.prepare()
        for metric in (m.calls, m.wait, m.handle, m.sl_calls):
            yield from metric.collect()
        yield from m.collect_rolling()


class StateCollector(Collector):
    """Callers waiting and the longest wait per queue, agents by state (and by queue),
    open callbacks, the links' health, the record backlog and the build."""

    def __init__(
        self,
        views: ReadModel,
        links: Callable[[], dict[str, bool]],
        writer_stats: Callable[[], dict[str, int]],
        *,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._views = views
        self._links = links
        self._writer_stats = writer_stats
        self._metrics = metrics
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        views = self._views
        now = self._clock()
        queues = views.queues()
        waiting = GaugeMetricFamily("ccqueue_callers_waiting", "Callers waiting for an agent, per queue.", labels=["queue"])
        longest = GaugeMetricFamily(
            "ccqueue_longest_wait_seconds",
            "Seconds the longest-waiting unanswered caller has waited, per queue.",
            labels=["queue"],
        )
        for queue in queues:
            waiting.add_metric([queue.name], queue.waiting)
            # From joining the queue, as every wait (IVR time excluded).
            oldest = queue.oldest_queued_at
            longest.add_metric([queue.name], max(0.0, now - oldest) if oldest is not None else 0.0)
        yield waiting
        yield longest
        callbacks = GaugeMetricFamily(
            "ccqueue_callbacks_open",
            "Callbacks waiting for their turn or being made, per queue and status.",
            labels=["queue", "status"],
        )
        open_by: dict[tuple[str, str], int] = {(q.name, s.value): 0 for q in queues for s in _OPEN_CALLBACKS}
        for record in views.callbacks():
            key = (record.queue, record.status.value)
            open_by[key] = open_by.get(key, 0) + 1
        for (queue_name, status), count in sorted(open_by.items()):
            callbacks.add_metric([queue_name, status], count)
        yield callbacks
        agents = GaugeMetricFamily("ccqueue_agents", "Configured agents by state.", labels=["state"])
        for state, count in views.agent_counts().items():
            agents.add_metric([state.value], count)
        yield agents
        by_queue = GaugeMetricFamily(
            "ccqueue_queue_agents",
            "Agents serving each queue, by state (an agent counts in each of its queues).",
            labels=["queue", "state"],
        )
        counts = {(q.name, s): 0 for q in queues for s in AgentState}
        agent_views = views.agents()
        for agent in agent_views:
            for queue_name in agent.queues:
                if (queue_name, agent.state) in counts:
                    counts[(queue_name, agent.state)] += 1
        for (queue_name, state), count in counts.items():
            by_queue.add_metric([queue_name, state.value], count)
        yield by_queue
        if self._metrics is not None:
            seconds = CounterMetricFamily(
                "ccqueue_agent_state_seconds",
                "Seconds agents spent staffed, by state (the current intervals included); occupancy is "
                "on_call plus wrap_up over all of them.",
                labels=["state"],
            )
            totals = dict(self._metrics.state_seconds)
            for agent in agent_views:
                if agent.state.value in totals:
                    totals[agent.state.value] += max(0.0, now - agent.since)
            for state_name, total in totals.items():
                seconds.add_metric([state_name], total)
            yield seconds
        up = GaugeMetricFamily("ccqueue_link_up", "1 when the link to a peer is usable.", labels=["peer"])
        for peer, ok in sorted(self._links().items()):
            up.add_metric([peer], 1.0 if ok else 0.0)
        yield up
        stats = self._writer_stats()
        for stat, help_text in (
            ("records_pending", "Records submitted but not yet in PostgreSQL."),
            ("records_spooled", "Records spooled to disk while PostgreSQL was unreachable."),
        ):
            yield GaugeMetricFamily(f"ccqueue_{stat}", help_text, value=stats.get(stat, 0))
        yield CounterMetricFamily(
            "ccqueue_spool_write_failures",
            "Spool appends the disk refused (full, or over a size limit); their records stay in memory and are retried.",
            value=stats.get("spool_write_failures", 0),
        )
        build = GaugeMetricFamily("ccqueue_build_info", "Always 1; the running ccqueue's version in a label.", labels=["version"])
        build.add_metric([version()], 1.0)
        yield build


__all__ = ["AgentState", "Metrics", "Objective", "StateCollector", "Window", "version"]


class CampaignCollector(Collector):
    """Outbound campaigns: state, lines, dial level, attempts by outcome, the abandon
    ratio over the rolling 24 h and 30 days, and agents on campaign calls. Every
    campaign's series exist at zero from the start."""

    def __init__(self, statuses: Callable[[], list[CampaignStatus]]) -> None:
        self._statuses = statuses

    def collect(self) -> Iterator[Metric]:
        statuses = self._statuses()
        state = GaugeMetricFamily(
            "ccqueue_campaign_state", "1 for each campaign's current run state.", labels=["campaign", "state"]
        )
        lines = GaugeMetricFamily("ccqueue_campaign_lines", "Outbound channels each campaign holds now.", labels=["campaign"])
        level = GaugeMetricFamily(
            "ccqueue_campaign_dial_level", "Dials in flight per agent working the campaign.", labels=["campaign"]
        )
        attempts = CounterMetricFamily(
            "ccqueue_campaign_attempts",
            "Campaign dials ended since ccqueue started, by outcome.",
            labels=["campaign", "outcome"],
        )
        ratio = GaugeMetricFamily(
            "ccqueue_campaign_abandon_ratio",
            "Abandoned over live answers, per campaign, over the rolling window (24h, 30d).",
            labels=["campaign", "window"],
        )
        agents = GaugeMetricFamily(
            "ccqueue_campaign_agents", "Agents held for, ringing for or talking on a campaign's call.", labels=["campaign"]
        )
        for status in statuses:
            name = status.name
            for value in ("stopped", "running", "paused"):
                state.add_metric([name, value], 1.0 if status.state == value else 0.0)
            lines.add_metric([name], status.lines)
            level.add_metric([name], status.dial_level)
            for outcome in AttemptOutcome:
                attempts.add_metric([name, outcome.value], status.attempts.get(outcome.value, 0))
            ratio.add_metric([name, "24h"], status.pacing.ratio_24h)
            ratio.add_metric([name, "30d"], status.pacing.ratio_30d)
            agents.add_metric([name], status.agents_on_outbound)
        yield from (state, lines, level, attempts, ratio, agents)


class RoleCollector(Collector):
    """The pair's role (docs/standby.md): ``ccqueue_active`` is 1 while this process holds
    the lease (a lone process, with no standby section, is always active), and
    ``ccqueue_takeovers_total`` counts the times it became active."""

    def __init__(self, role: RoleState) -> None:
        self._role = role

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily("ccqueue_active", "1 while this process is the active one of its pair, else 0.")
        active.add_metric([], 1.0 if self._role.active else 0.0)
        yield active
        takeovers = CounterMetricFamily("ccqueue_takeovers", "Times this process took the pair's lease and became active.")
        takeovers.add_metric([], float(self._role.takeovers))
        yield takeovers
