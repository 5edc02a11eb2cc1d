"""Measuring the process's load for the door's overload gate (``ccqueue.core.overload``).

A small task sleeps ``SAMPLE_EVERY_S`` and notes how late it wakes: that lateness is the
event loop's lag, which every FastAGI answer and AMI read of this process shares. The
backlog is counted where it piles up: events in the engine's inbox, FastAGI sessions
accepted but not yet handed to the engine, and commands still waiting on Asterisk (an
Originate not yet answered). The gate decides; this module only measures, and exports
both figures to Prometheus.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Iterator

import structlog
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ccqueue.core.overload import LoadGate, OverloadSettings, Shed

log = structlog.get_logger("ccqueue.load")

# How often the lag is sampled. Python's own asyncio debug mode flags callbacks slower
# than 100 ms; sampling at half that sees such a stall in the next sample.
SAMPLE_EVERY_S = 0.05
# /metrics shows the highest lag of the last this many samples (one second): a scrape
# every 15 s would otherwise see one sample in 300 and miss a stall.
LAG_WINDOW = 20


class LoadWatch:
    """The lag sampler and the gate it feeds; ``admit`` is asked at the door."""

    def __init__(
        self,
        settings: Callable[[], OverloadSettings],
        *,
        backlog: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._backlog = backlog
        self._clock = clock
        self.gate = LoadGate(settings())
        self.lag_s = 0.0
        self._recent: collections.deque[float] = collections.deque(maxlen=LAG_WINDOW)
        self.refused: dict[str, int] = {shed.value: 0 for shed in Shed}

    def backlog(self) -> int:
        return self._backlog()

    def recent_lag_s(self) -> float:
        """The highest lag of the last second's samples."""
        return max(self._recent, default=0.0)

    def admit(self) -> Shed | None:
        """None when a new caller may come in now; else why not (counted)."""
        self._follow_config()
        shed = self.gate.admit(self._clock(), backlog=self._backlog())
        if shed is not None:
            self.refused[shed.value] += 1
        return shed

    def _follow_config(self) -> None:
        settings = self._settings()
        if settings is not self.gate.settings:  # a reload changed it
            self.gate.reconfigure(settings)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            expected = loop.time() + SAMPLE_EVERY_S
            await asyncio.sleep(SAMPLE_EVERY_S)
            self.lag_s = max(0.0, loop.time() - expected)
            self._recent.append(self.lag_s)
            self._follow_config()
            was = self.gate.lagging
            self.gate.observe(self._clock(), lag_s=self.lag_s, backlog=self._backlog())
            # Logged as the lag crosses its limit; the backlog decides caller by caller
            # (counted on /metrics), so it would log on every sample.
            if self.gate.lagging and not was:
                log.warning("overload_shedding", reason="loop_lag", loop_lag_s=round(self.lag_s, 3), backlog=self.gate.backlog)
            elif was and not self.gate.lagging:
                log.info("overload_cleared", loop_lag_s=round(self.lag_s, 3), backlog=self.gate.backlog)


class LoadCollector(Collector):
    """``ccqueue_loop_lag_seconds``, ``ccqueue_inbox_backlog``, whether new callers are
    refused, and how many were."""

    def __init__(self, watch: LoadWatch) -> None:
        self._watch = watch

    def collect(self) -> Iterator[Metric]:
        w = self._watch
        yield GaugeMetricFamily(
            "ccqueue_loop_lag_seconds",
            "How late the event loop's sampled timer fired: the highest of the last second.",
            value=w.recent_lag_s(),
        )
        yield GaugeMetricFamily(
            "ccqueue_inbox_backlog",
            "Work waiting: engine inbox events, FastAGI sessions opening, commands awaiting Asterisk.",
            value=w.backlog(),
        )
        yield GaugeMetricFamily(
            "ccqueue_overload_shedding",
            "1 while new callers are refused at the door for load.",
            value=int(w.gate.shedding is not None),
        )
        refused = CounterMetricFamily(
            "ccqueue_overload_refused", "New callers refused at the door for load, by signal.", labels=["reason"]
        )
        for reason, count in w.refused.items():
            refused.add_metric([reason], count)
        yield refused
