"""The load watch measures the event loop's lag for real and feeds the gate."""

from __future__ import annotations

import asyncio
import time

from prometheus_client import CollectorRegistry, generate_latest

from ccqueue.core.overload import OverloadSettings, Shed
from ccqueue.engine.load import SAMPLE_EVERY_S, LoadCollector, LoadWatch


def metrics(watch: LoadWatch) -> str:
    registry = CollectorRegistry()
    registry.register(LoadCollector(watch))
    return generate_latest(registry).decode()


async def test_a_blocked_loop_is_measured_as_lag_and_sheds_new_callers() -> None:
    backlog = [3]
    watch = LoadWatch(lambda: OverloadSettings(max_loop_lag_s=0.1, hold_s=60), backlog=lambda: backlog[0])
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.sleep(SAMPLE_EVERY_S * 3)
        assert watch.admit() is None and watch.lag_s < 0.1
        time.sleep(0.3)  # the loop is stalled once: a stall, not yet overload
        await asyncio.sleep(SAMPLE_EVERY_S * 2)
        assert not watch.gate.lagging and watch.admit() is None
        time.sleep(0.3)  # and again at once, as by a CPU-starved box
        await asyncio.sleep(SAMPLE_EVERY_S * 2)
        assert watch.gate.lagging
        assert watch.admit() is Shed.LOOP_LAG
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    text = metrics(watch)
    assert "ccqueue_inbox_backlog 3.0" in text
    assert "ccqueue_overload_shedding 1.0" in text
    assert 'ccqueue_overload_refused_total{reason="loop_lag"} 1.0' in text
    lag = next(line for line in text.splitlines() if line.startswith("ccqueue_loop_lag_seconds "))
    assert float(lag.split()[1]) >= 0.2


async def test_a_reload_reaches_the_gate() -> None:
    settings = [OverloadSettings(max_backlog=10)]
    backlog = [50]
    watch = LoadWatch(lambda: settings[0], backlog=lambda: backlog[0])
    assert watch.admit() is Shed.BACKLOG
    settings[0] = OverloadSettings(max_backlog=100)
    assert watch.admit() is None


async def test_asterisk_behind_sheds_but_events_read_late_after_a_stall_of_its_own_do_not() -> None:
    lags = [(0.0, 0.0)]
    settings = OverloadSettings(max_loop_lag_s=0.1, max_asterisk_lag_s=0.5, hold_s=60, lag_samples=2)
    watch = LoadWatch(lambda: settings, backlog=lambda: 0, asterisk_lag=lambda: lags[0])
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.sleep(SAMPLE_EVERY_S * 3)
        # This process stalled once, and the events it then reads are old: not Asterisk's doing.
        time.sleep(0.3)
        lags[0] = (2.0, 0.0)
        await asyncio.sleep(SAMPLE_EVERY_S * 4)
        assert watch.gate.lagging is None and watch.admit() is None
        # Originates take 0.8 s to start dialling, sample after sample: Asterisk is behind.
        lags[0] = (0.0, 0.8)
        await asyncio.sleep(SAMPLE_EVERY_S * 4)
        assert watch.admit() is Shed.ASTERISK_LAG and watch.recent_asterisk_lag_s() == 0.8
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    text = metrics(watch)
    assert "ccqueue_asterisk_event_lag_seconds 0.8" in text
    assert 'ccqueue_overload_refused_total{reason="asterisk_lag"} 1.0' in text
