"""Measuring the process's load for the door's overload gate (``ccqueue.core.overload``).

A small task sleeps ``SAMPLE_EVERY_S`` and notes how late it wakes: that lateness is the
event loop's lag, which every FastAGI answer and AMI read of this process shares. At each
sample it also takes the age of the Asterisk events read since the last one (their
``Timestamp`` against this host's clock): Asterisk's own lag. The
backlog is counted where it piles up: events in the engine's inbox, FastAGI sessions
accepted but not yet handed to the engine, and commands still waiting on Asterisk (an
Originate not yet answered). The gate decides; this module only measures, and exports
both figures to Prometheus.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Iterator

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
# While the door is narrowed, it is set again this often (it lapses by itself a few
# seconds after the last setting: ccqueue.asterisk.telephony.DOOR_HOLD_S).
DOOR_RENEW_S = 1.0
# Besides renewals, the door is set again once its refused share moved this much (per
# mille): up (a cut of the lags' share is far more), or down.
DOOR_STEP_CLOSING = 10
DOOR_STEP_OPENING = 50
# The refused count of the callers the dialplan's door refused (for a lag or the rate).
DOOR = "door"
# How long a door that could not be set waits before the next try, and between logs of it.
DOOR_RETRY_S = 1.0


class LoadWatch:
    """The lag sampler and the gate it feeds; ``admit`` is asked at the door."""

    def __init__(
        self,
        settings: Callable[[], OverloadSettings],
        *,
        backlog: Callable[[], int],
        asterisk_lag: Callable[[], tuple[float, float]] = lambda: (0.0, 0.0),
        clock: Callable[[], float] = time.monotonic,
        door: Callable[[int], Awaitable[None]] | None = None,
    ) -> None:
        self._settings = settings
        # Sets the dialplan's door to refuse this many new callers in a thousand (rule 6
        # of the gate): where refusing costs least, before the call is even answered.
        self._door = door
        self._door_set: int = 0  # per mille, as last set
        self._door_at = -1e9  # when it was last set (or last failed)
        self._door_task: asyncio.Task[None] | None = None
        self._door_failed = False
        self._backlog = backlog
        # How far behind Asterisk is, taken once per sample: the age of its events on
        # arrival, and how long Originates took to start dialling.
        self._asterisk_lag = asterisk_lag
        self.asterisk_lag_s = 0.0
        self._recent_asterisk: collections.deque[float] = collections.deque(maxlen=LAG_WINDOW)
        self._clock = clock
        self.gate = LoadGate(settings())
        self.lag_s = 0.0
        self._recent: collections.deque[float] = collections.deque(maxlen=LAG_WINDOW)
        # New callers refused, by signal; DOOR: by the dialplan's door (recorded from their lines).
        self.refused: dict[str, int] = {shed.value: 0 for shed in Shed} | {DOOR: 0}

    def backlog(self) -> int:
        return self._backlog()

    def recent_lag_s(self) -> float:
        """The highest lag of the last second's samples."""
        return max(self._recent, default=0.0)

    def recent_asterisk_lag_s(self) -> float:
        """The highest age of Asterisk's events on arrival over the last second's samples."""
        return max(self._recent_asterisk, default=0.0)

    def admit(self) -> Shed | None:
        """None when a new caller may come in now; else why not (counted)."""
        self._follow_config()
        now = self._clock()
        self.gate.arrived(now)
        shed = self.gate.admit(now, backlog=self._backlog())
        if shed is not None:
            self.refused[shed.value] += 1
        return shed

    def door_refused(self) -> None:
        """A new caller the dialplan's door refused: counted among the arrivals."""
        self.gate.arrived(self._clock())

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
            age, dial = self._asterisk_lag()
            # Events read late because this process itself stalled are old for that
            # reason alone: their age counts only while the loop's last second was calm.
            settings = self.gate.settings
            if self.recent_lag_s() > settings.max_loop_lag_s * settings.resume_ratio:
                age = 0.0
            self.asterisk_lag_s = max(0.0, age, dial)
            self._recent_asterisk.append(self.asterisk_lag_s)
            was = self.gate.lagging
            self.gate.observe(self._clock(), lag_s=self.lag_s, backlog=self._backlog(), asterisk_lag_s=self.asterisk_lag_s)
            # Logged as a lag crosses its limit; the backlog decides caller by caller
            # (counted on /metrics), so it would log on every sample.
            figures = {
                "loop_lag_s": round(self.lag_s, 3),
                "asterisk_lag_s": round(self.asterisk_lag_s, 3),
                "backlog": self.gate.backlog,
            }
            if self.gate.lagging is not None and was is None:
                log.warning("overload_shedding", reason=self.gate.lagging.value, **figures)
            elif was is not None and self.gate.lagging is None:
                log.info("overload_cleared", **figures)
            self._follow_door()

    def refused_per_mille(self) -> int:
        """The new callers in a thousand the door refuses now (rule 6 of the gate)."""
        return min(1000, max(0, round((1.0 - self.gate.door_share) * 1000)))

    def _follow_door(self) -> None:
        """Set the dialplan's door when its share changed, and renew it while it refuses
        (a failed setting is tried again after DOOR_RETRY_S); one setting at a time."""
        if self._door is None or (self._door_task is not None and not self._door_task.done()):
            return
        wanted, now = self.refused_per_mille(), self._clock()
        # The share moves a little every sample (growing back, the arrivals' rate): it is
        # set with the renewal, or once it moved; a cut and the door opening are set at once.
        moved = wanted - self._door_set
        changed = moved >= DOOR_STEP_CLOSING or -moved >= DOOR_STEP_OPENING or (wanted == 0 < self._door_set)
        if not changed and (wanted == 0 or now - self._door_at < DOOR_RENEW_S):
            return
        if self._door_failed and now - self._door_at < DOOR_RETRY_S:
            return
        self._door_task = asyncio.get_running_loop().create_task(self._set_door(wanted, now))

    async def _set_door(self, per_mille: int, now: float) -> None:
        assert self._door is not None
        self._door_at = now
        try:
            await self._door(per_mille)
        except Exception as exc:  # no AMI link, a refusal: the door lapses open by itself
            if not self._door_failed:
                log.warning("overload_door_not_set", refused_per_mille=per_mille, error=str(exc) or repr(exc))
            self._door_failed = True
            return
        if self._door_failed or (per_mille == 0) != (self._door_set == 0):
            log.info("overload_door_set", refused_per_mille=per_mille)
        self._door_failed = False
        self._door_set = per_mille


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
            "ccqueue_asterisk_event_lag_seconds",
            "How old Asterisk's events were on arrival (their Timestamp): the highest of the last second.",
            value=w.recent_asterisk_lag_s(),
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
        yield GaugeMetricFamily(
            "ccqueue_overload_admitted_share",
            "The share of new callers the door lets in: a lag past its limit, or the box's rate passed (1: everyone).",
            value=w.gate.door_share,
        )
        refused = CounterMetricFamily(
            "ccqueue_overload_refused", "New callers refused at the door for load, by signal.", labels=["reason"]
        )
        for reason, count in w.refused.items():
            refused.add_metric([reason], count)
        yield refused
