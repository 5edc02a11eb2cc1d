"""Prometheus metrics, in Prometheus's naming conventions.

Counters are incremented as records are written (a call counts once, when its summary
first carries a final outcome). Gauges are read from the live state at scrape time by a
collector, so they can never drift from it; the scrape runs on the engine's event loop,
between two events, and so sees a consistent state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from ccqueue.core.agent_state import AgentState
from ccqueue.core.records import CallOutcome, CallRecord, Record
from ccqueue.core.views import ReadModel


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.calls = Counter(
            "ccqueue_calls",
            "Calls that ended, by queue and outcome.",
            ["queue", "outcome"],
            registry=registry,
        )
        self._counted: set[str] = set()
        self.ended: dict[tuple[str, str], int] = {}  # (queue, outcome) -> calls, for the wallboard

    def on_record(self, record: Record) -> None:
        if isinstance(record, CallRecord) and record.outcome is not CallOutcome.WAITING:
            if record.call_id not in self._counted:
                self._counted.add(record.call_id)
                key = (record.queue or "", record.outcome.value)
                self.calls.labels(queue=key[0], outcome=key[1]).inc()
                self.ended[key] = self.ended.get(key, 0) + 1
                if len(self._counted) > 100_000:  # only late duplicates need it; bound memory
                    self._counted.clear()


class StateCollector(Collector):
    """Callers waiting per queue, agents by state, and the links' health."""

    def __init__(self, views: ReadModel, links: Callable[[], dict[str, bool]], writer_stats: Callable[[], dict[str, int]]) -> None:
        self._views = views
        self._links = links
        self._writer_stats = writer_stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        views = self._views
        waiting = GaugeMetricFamily("ccqueue_callers_waiting", "Callers waiting for an agent, per queue.", labels=["queue"])
        for queue in views.queues():
            waiting.add_metric([queue.name], queue.waiting)
        yield waiting
        callbacks = GaugeMetricFamily(
            "ccqueue_callbacks_open", "Callbacks waiting for their turn or being made, per queue and status.", labels=["queue", "status"]
        )
        open_by: dict[tuple[str, str], int] = {}
        for record in views.callbacks():
            key = (record.queue, record.status.value)
            open_by[key] = open_by.get(key, 0) + 1
        for (queue, status), count in sorted(open_by.items()):
            callbacks.add_metric([queue, status], count)
        yield callbacks
        agents = GaugeMetricFamily("ccqueue_agents", "Configured agents by state.", labels=["state"])
        for state, count in views.agent_counts().items():
            agents.add_metric([state.value], count)
        yield agents
        up = GaugeMetricFamily("ccqueue_link_up", "1 when the link to a peer is usable.", labels=["peer"])
        for peer, ok in sorted(self._links().items()):
            up.add_metric([peer], 1.0 if ok else 0.0)
        yield up
        stats = self._writer_stats()
        for key, help_text in (
            ("records_pending", "Records submitted but not yet in PostgreSQL."),
            ("records_spooled", "Records spooled to disk while PostgreSQL was unreachable."),
        ):
            if key in stats:
                yield GaugeMetricFamily(f"ccqueue_{key}", help_text, value=stats[key])


__all__ = ["AgentState", "Metrics", "StateCollector"]
