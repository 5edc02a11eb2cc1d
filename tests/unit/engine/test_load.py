"""The load watch measures the event loop's lag for real and feeds the gate."""

from __future__ import annotations

import asyncio
import itertools
import time

from prometheus_client import CollectorRegistry, generate_latest

from ccqueue.core.overload import OverloadSettings, Shed
from ccqueue.engine.load import DOOR_RENEW_S, DOOR_RETRY_S, SAMPLE_EVERY_S, LoadCollector, LoadWatch


def metrics(watch: LoadWatch) -> str:
    registry = CollectorRegistry()
    registry.register(LoadCollector(watch))
    return generate_latest(registry).decode()


async def test_a_blocked_loop_is_measured_as_lag_and_narrows_the_door() -> None:
    backlog = [3]
    doors: list[int] = []

    async def door(per_mille: int) -> None:
        doors.append(per_mille)

    watch = LoadWatch(lambda: OverloadSettings(max_loop_lag_s=0.1, hold_s=60), backlog=lambda: backlog[0], door=door)
    task = asyncio.create_task(watch.run())
    try:
        await asyncio.sleep(SAMPLE_EVERY_S * 3)
        assert watch.admit() is None and watch.lag_s < 0.1
        time.sleep(0.3)  # the loop is stalled once: a stall, not yet overload
        await asyncio.sleep(SAMPLE_EVERY_S * 2)
        assert not watch.gate.lagging and watch.refused_per_mille() == 0 and doors == []
        time.sleep(0.3)  # and again at once, as by a CPU-starved box
        await asyncio.sleep(SAMPLE_EVERY_S * 2)
        assert watch.gate.lagging is Shed.LOOP_LAG
        assert watch.refused_per_mille() == 250 and doors == [250]  # a quarter refused, in the dialplan
        assert watch.admit() is None  # the session's door counts only the backlog
        lag = next(line for line in metrics(watch).splitlines() if line.startswith("ccqueue_loop_lag_seconds "))
        assert float(lag.split()[1]) >= 0.2
        await asyncio.sleep(DOOR_RENEW_S + SAMPLE_EVERY_S * 3)
        assert doors[:2] == [250, 250]  # renewed: it lapses by itself otherwise
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    text = metrics(watch)
    assert "ccqueue_inbox_backlog 3.0" in text
    assert "ccqueue_overload_shedding 1.0" in text
    assert "ccqueue_overload_admitted_share 0.75" in text


async def test_the_door_opens_again_as_the_share_grows_back_and_a_failed_setting_is_retried() -> None:
    lags = [(0.0, 0.0)]
    doors: list[int] = []
    fail = [True]

    async def door(per_mille: int) -> None:
        doors.append(per_mille)
        if fail[0]:
            raise OSError("no AMI link")

    settings = OverloadSettings(max_asterisk_lag_s=0.5, hold_s=0, lag_samples=1, cut_ratio=0.5, regain_per_s=1.0)
    watch = LoadWatch(lambda: settings, backlog=lambda: 0, asterisk_lag=lambda: lags[0], door=door)
    task = asyncio.create_task(watch.run())
    try:
        lags[0] = (0.0, 0.8)
        await asyncio.sleep(SAMPLE_EVERY_S * 3)
        assert doors == [500]  # tried once, failed: not again before DOOR_RETRY_S
        fail[0] = False
        await asyncio.sleep(DOOR_RETRY_S)
        assert doors[-1] == 500 and len(doors) == 2
        lags[0] = (0.0, 0.0)  # calm: the share grows a whole share a second
        await asyncio.sleep(0.8)
        assert watch.refused_per_mille() == 0 and doors[-1] == 0
        assert all(a >= b for a, b in itertools.pairwise(doors))  # only ever opening
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_reload_reaches_the_gate() -> None:
    settings = [OverloadSettings(max_backlog=10)]
    backlog = [50]
    watch = LoadWatch(lambda: settings[0], backlog=lambda: backlog[0])
    assert watch.admit() is Shed.BACKLOG
    settings[0] = OverloadSettings(max_backlog=100)
    assert watch.admit() is None


async def test_asterisk_behind_narrows_the_door_but_events_read_late_after_a_stall_of_its_own_do_not() -> None:
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
        assert watch.gate.lagging is None and watch.gate.admitted_share == 1.0
        # Originates take 0.8 s to start dialling, sample after sample: Asterisk is behind.
        lags[0] = (0.0, 0.8)
        await asyncio.sleep(SAMPLE_EVERY_S * 4)
        assert watch.gate.lagging is Shed.ASTERISK_LAG and watch.recent_asterisk_lag_s() == 0.8
        assert watch.gate.admitted_share < 1.0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    text = metrics(watch)
    assert "ccqueue_asterisk_event_lag_seconds 0.8" in text
    assert "ccqueue_overload_shedding 1.0" in text


async def test_callers_refused_in_the_dialplan_count_as_arrivals_for_the_boxs_rate() -> None:
    settings = OverloadSettings(max_new_calls_per_s=10.0)
    watch = LoadWatch(lambda: settings, backlog=lambda: 0)
    for _ in range(20):
        assert watch.admit() is None  # the session's door: only the backlog
    for _ in range(20):
        watch.door_refused()
    watch.gate.observe(time.monotonic(), lag_s=0.0, backlog=0)
    # 40 in the last 2 s is 20 a second, twice the rate: half of them let in.
    assert watch.refused_per_mille() == 500
    assert "ccqueue_overload_admitted_share 0.5" in metrics(watch)
