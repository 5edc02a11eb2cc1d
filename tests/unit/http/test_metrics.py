"""The metrics layer fed by the core's own records: the exposition is parsed back with
prometheus_client's parser and checked by promtool."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ccqueue.config import Config, load_config
from ccqueue.config.to_core import acd_settings
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd
from ccqueue.core.records import AgentStateRecord, CallOutcome, CallRecord
from ccqueue.metrics import Metrics, StateCollector, version

CONFIG = """\
    asterisk:
      ami: {username: ccqueue, secret: s3cret}
    hotlines:
      "100": {queue: support}
    queues:
      support:
        wrapup_s: 5
        service_level: {answer_within_s: 20, target: 0.9}
        short_abandon_s: 5
      sales: {}
    agents:
      alice: {name: Alice, password: pw, queues: [support, sales]}
      bob: {name: Bob, password: pw, queues: [sales]}
    """


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Fixture:
    def __init__(self, config: Config, clock: Clock) -> None:
        self.clock = clock
        self.acd = Acd(acd_settings(config))
        self.registry = CollectorRegistry()
        self.metrics = Metrics(self.registry, config=lambda: config, clock=clock)
        self.registry.register(
            StateCollector(
                self.acd.views,
                lambda: {"asterisk_ami": True, "postgresql": False},
                lambda: {"records_pending": 3, "records_spooled": 0},
                metrics=self.metrics,
                clock=clock,
            )
        )

    def handle(self, event: object, at: float) -> list[cmd.Command]:
        self.clock.now = at
        out = self.acd.handle(event, at)  # type: ignore[arg-type]
        self._feed(out)
        return out

    def tick(self, at: float) -> None:
        self.clock.now = at
        self._feed(self.acd.tick(at))

    def _feed(self, out: list[cmd.Command]) -> None:
        for command in out:
            if isinstance(command, cmd.Write):
                self.metrics.on_record(command.record)

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = generate_latest(self.registry).decode()
        return {
            (s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        return self.samples()[(name, tuple(sorted(labels.items())))]

    def answered_call(self, call_id: str, arrive: float, answer: float, hang_up: float) -> None:
        """A caller of hotline 100 answered by alice (logged in at ``answer``) and hung up."""
        self.handle(
            ev.CallArrived(call_id=call_id, hotline="100", caller="+1", channel=f"Local/{call_id}", uniqueid=call_id), arrive
        )
        self.handle(ev.AgentRequested(agent_id="alice", action=ev.AgentAction.LOGIN), answer)
        (offer,) = self.acd.live_offers()
        self.handle(ev.OfferClaimed(offer_id=offer.offer_id), answer)
        self.handle(ev.ChannelBridged(uniqueid=call_id, bridge_id=f"b-{call_id}"), answer)
        self.handle(ev.ChannelHungUp(uniqueid=call_id), hang_up)

    def abandoned_call(self, call_id: str, arrive: float, hang_up: float) -> None:
        self.handle(
            ev.CallArrived(call_id=call_id, hotline="100", caller="+1", channel=f"Local/{call_id}", uniqueid=call_id), arrive
        )
        self.handle(ev.ChannelHungUp(uniqueid=call_id), hang_up)


@pytest.fixture
def fx(tmp_path: Path) -> Fixture:
    (tmp_path / "ccqueue.yaml").write_text(textwrap.dedent(CONFIG), encoding="utf-8")
    return Fixture(load_config(tmp_path / "ccqueue.yaml", env={}), Clock(1_000_000.0))


def check_with_promtool(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool (Debian package prometheus) is needed to check the exposition"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, check=False, capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_queue_series_exists_at_zero_before_the_first_call(fx: Fixture) -> None:
    samples = fx.samples()
    for queue in ("support", "sales"):
        assert samples[("ccqueue_calls_total", (("outcome", "abandoned"), ("queue", queue)))] == 0
        assert samples[("ccqueue_wait_seconds_count", (("outcome", "answered"), ("queue", queue)))] == 0
        assert samples[("ccqueue_wait_seconds_bucket", (("le", "20.0"), ("outcome", "abandoned"), ("queue", queue)))] == 0
        assert samples[("ccqueue_handle_seconds_count", (("queue", queue),))] == 0
        assert samples[("ccqueue_service_level_calls_total", (("queue", queue), ("result", "answered_in_time")))] == 0
        # Nothing counted yet: no service level at all (neither 1 nor 0), and a count of 0.
        assert ("ccqueue_service_level", (("queue", queue), ("window", "15m"))) not in samples
        assert ("ccqueue_service_level", (("queue", queue), ("window", "1h"))) not in samples
        assert samples[("ccqueue_service_level_window_calls", (("queue", queue), ("window", "1h")))] == 0
        assert samples[("ccqueue_callers_waiting", (("queue", queue),))] == 0
        assert samples[("ccqueue_longest_wait_seconds", (("queue", queue),))] == 0
        assert samples[("ccqueue_callbacks_open", (("queue", queue), ("status", "pending")))] == 0
        assert samples[("ccqueue_callbacks_open", (("queue", queue), ("status", "dialing")))] == 0
        assert samples[("ccqueue_queue_agents", (("queue", queue), ("state", "logged_out")))] == (2 if queue == "sales" else 1)
    assert samples[("ccqueue_service_level_target", (("queue", "support"),))] == 0.9
    assert samples[("ccqueue_service_level_target", (("queue", "sales"),))] == 0.8  # the default objective
    assert samples[("ccqueue_service_level_answer_within_seconds", (("queue", "sales"),))] == 20
    assert samples[("ccqueue_agent_state_seconds_total", (("state", "on_call"),))] == 0
    assert samples[("ccqueue_build_info", (("version", version()),))] == 1
    assert samples[("ccqueue_records_spooled", ())] == 0
    assert samples[("ccqueue_link_up", (("peer", "postgresql"),))] == 0


def test_the_exposition_passes_promtool_before_and_after_calls(fx: Fixture) -> None:
    check_with_promtool(generate_latest(fx.registry).decode())
    fx.answered_call("c1", arrive=1_000_000, answer=1_000_010, hang_up=1_000_100)
    fx.abandoned_call("c2", arrive=1_000_200, hang_up=1_000_260)
    check_with_promtool(generate_latest(fx.registry).decode())


def test_service_level_counts_answers_in_time_against_answers_and_long_abandons(fx: Fixture) -> None:
    t = 1_000_000.0
    fx.answered_call("in-time", arrive=t, answer=t + 10, hang_up=t + 60)  # answered within 20 s
    fx.tick(t + 65)  # alice's wrap-up ends
    fx.handle(ev.AgentRequested(agent_id="alice", action=ev.AgentAction.LOGOUT), t + 66)
    fx.answered_call("late", arrive=t + 100, answer=t + 130, hang_up=t + 200)  # 30 s: late
    fx.tick(t + 205)
    fx.handle(ev.AgentRequested(agent_id="alice", action=ev.AgentAction.LOGOUT), t + 206)
    fx.abandoned_call("short", arrive=t + 300, hang_up=t + 303)  # under short_abandon_s: not held against SL
    fx.abandoned_call("long", arrive=t + 400, hang_up=t + 440)
    fx.clock.now = t + 500
    assert fx.value("ccqueue_service_level", queue="support", window="15m") == pytest.approx(1 / 3)
    assert fx.value("ccqueue_service_level_window_calls", queue="support", window="15m") == 3
    assert ("ccqueue_service_level", (("queue", "sales"), ("window", "15m"))) not in fx.samples()  # no call there
    for result, count in (("answered_in_time", 1), ("answered_late", 1), ("abandoned", 1), ("short_abandoned", 1)):
        assert fx.value("ccqueue_service_level_calls_total", queue="support", result=result) == count
    # Twenty minutes on, the 15-minute window is empty again while the hour still holds them.
    fx.clock.now = t + 1_700
    assert ("ccqueue_service_level", (("queue", "support"), ("window", "15m"))) not in fx.samples()
    assert fx.value("ccqueue_service_level_window_calls", queue="support", window="15m") == 0
    assert fx.value("ccqueue_service_level", queue="support", window="1h") == pytest.approx(1 / 3)
    fx.clock.now = t + 4_100  # an hour after the last of them
    assert fx.value("ccqueue_service_level_window_calls", queue="support", window="1h") == 0


def test_wait_is_observed_by_queue_and_outcome(fx: Fixture) -> None:
    t = 1_000_000.0
    fx.answered_call("a", arrive=t, answer=t + 12, hang_up=t + 50)
    fx.abandoned_call("b", arrive=t + 100, hang_up=t + 140)
    assert fx.value("ccqueue_wait_seconds_count", queue="support", outcome="answered") == 1
    assert fx.value("ccqueue_wait_seconds_sum", queue="support", outcome="answered") == 12
    assert fx.value("ccqueue_wait_seconds_bucket", queue="support", outcome="answered", le="10.0") == 0
    assert fx.value("ccqueue_wait_seconds_bucket", queue="support", outcome="answered", le="15.0") == 1
    assert fx.value("ccqueue_wait_seconds_sum", queue="support", outcome="abandoned") == 40
    assert fx.value("ccqueue_calls_total", queue="support", outcome="answered") == 1
    assert fx.value("ccqueue_calls_total", queue="support", outcome="abandoned") == 1


def test_handle_time_is_talk_plus_the_wrap_up_that_follows(fx: Fixture) -> None:
    t = 1_000_000.0
    fx.answered_call("a", arrive=t, answer=t + 10, hang_up=t + 100)  # 90 s of talk
    assert fx.value("ccqueue_handle_seconds_count", queue="support") == 0  # wrap-up still running
    fx.tick(t + 105)  # support's 5 s of wrap-up
    assert fx.value("ccqueue_handle_seconds_count", queue="support") == 1
    assert fx.value("ccqueue_handle_seconds_sum", queue="support") == 95
    assert fx.value("ccqueue_handle_seconds_count", queue="sales") == 0


def test_longest_wait_agents_by_queue_and_time_in_state(fx: Fixture) -> None:
    t = 1_000_000.0
    fx.handle(ev.CallArrived(call_id="w", hotline="100", caller="+1", channel="Local/w", uniqueid="w"), t)
    fx.clock.now = t + 42
    assert fx.value("ccqueue_longest_wait_seconds", queue="support") == 42
    assert fx.value("ccqueue_callers_waiting", queue="support") == 1
    fx.handle(ev.AgentRequested(agent_id="bob", action=ev.AgentAction.LOGIN), t + 50)
    assert fx.value("ccqueue_queue_agents", queue="sales", state="available") == 1
    assert fx.value("ccqueue_queue_agents", queue="support", state="available") == 0  # bob serves sales only
    fx.clock.now = t + 80
    # Bob has been available 30 s (an interval still open counts up to now).
    assert fx.value("ccqueue_agent_state_seconds_total", state="available") == 30
    fx.handle(ev.AgentRequested(agent_id="bob", action=ev.AgentAction.PAUSE), t + 90)
    fx.clock.now = t + 200
    assert fx.value("ccqueue_agent_state_seconds_total", state="available") == 40
    assert ("ccqueue_agent_state_seconds_total", (("state", "paused"),)) not in fx.samples()  # not staffed time


def test_a_call_counts_once_whatever_the_rewrites(fx: Fixture) -> None:
    record = CallRecord(
        call_id="x",
        version=3,
        caller="+1",
        hotline="100",
        queue="support",
        agent=None,
        arrived_at=10.0,
        queued_at=10.0,
        answered_at=None,
        ended_at=70.0,
        outcome=CallOutcome.ABANDONED,
    )
    fx.metrics.on_record(record)
    fx.metrics.on_record(record)  # a replay
    assert fx.value("ccqueue_calls_total", queue="support", outcome="abandoned") == 1
    assert fx.value("ccqueue_service_level_calls_total", queue="support", result="abandoned") == 1
    assert fx.value("ccqueue_wait_seconds_count", queue="support", outcome="abandoned") == 1


def ivr_call(call_id: str, **changes: object) -> CallRecord:
    """A call of queue support that spent 30 s in the IVR before joining it."""
    fields: dict[str, object] = {
        "caller": "+1",
        "hotline": "200",
        "queue": "support",
        "agent": None,
        "arrived_at": 1000.0,
        "queued_at": 1030.0,
        "answered_at": None,
        "ended_at": None,
        "outcome": CallOutcome.WAITING,
    }
    fields.update(changes)
    return CallRecord(call_id=call_id, version=9, **fields)  # type: ignore[arg-type]


def test_wait_and_service_level_count_from_joining_the_queue_not_from_arrival(fx: Fixture) -> None:
    # Answered 15 s after joining (45 s after arriving): within support's 20 s.
    answered = ivr_call("a", agent="alice", answered_at=1045.0, ended_at=1100.0, outcome=CallOutcome.ANSWERED)
    # Gone 3 s after joining (33 s after arriving): a short abandon under support's 5 s.
    abandoned = ivr_call("b", ended_at=1033.0, outcome=CallOutcome.ABANDONED)
    for record in (answered, abandoned):
        fx.metrics.on_record(record)
    assert fx.value("ccqueue_service_level_calls_total", queue="support", result="answered_in_time") == 1
    assert fx.value("ccqueue_service_level_calls_total", queue="support", result="answered_late") == 0
    assert fx.value("ccqueue_service_level_calls_total", queue="support", result="short_abandoned") == 1
    assert fx.value("ccqueue_service_level_calls_total", queue="support", result="abandoned") == 0
    assert fx.value("ccqueue_wait_seconds_sum", queue="support", outcome="answered") == 15
    assert fx.value("ccqueue_wait_seconds_sum", queue="support", outcome="abandoned") == 3


def test_a_call_never_queued_counts_but_has_no_wait(fx: Fixture) -> None:
    fx.metrics.on_record(ivr_call("cb", queued_at=None, ended_at=1010.0, outcome=CallOutcome.CALLBACK))
    assert fx.value("ccqueue_calls_total", queue="support", outcome="callback") == 1
    assert fx.value("ccqueue_wait_seconds_count", queue="support", outcome="callback") == 0


def test_the_answer_summary_is_not_counted_until_the_call_ends(fx: Fixture) -> None:
    fx.metrics.on_record(ivr_call("a", agent="alice", answered_at=1045.0, outcome=CallOutcome.ANSWERED))
    assert fx.value("ccqueue_calls_total", queue="support", outcome="answered") == 0
    assert fx.value("ccqueue_service_level_calls_total", queue="support", result="answered_in_time") == 1  # judged now
    fx.metrics.on_record(ivr_call("a", agent="alice", answered_at=1045.0, ended_at=1100.0, outcome=CallOutcome.ANSWERED))
    assert fx.value("ccqueue_calls_total", queue="support", outcome="answered") == 1
    assert fx.value("ccqueue_wait_seconds_count", queue="support", outcome="answered") == 1


def test_handle_time_takes_the_wrap_up_of_the_call_itself(fx: Fixture) -> None:
    fx.metrics.on_record(ivr_call("a", agent="alice", answered_at=1045.0, ended_at=1100.0, outcome=CallOutcome.ANSWERED))
    # alice's wrap-up of a callback (no call id) is not this call's
    fx.metrics.on_record(
        AgentStateRecord(
            interval_id="alice:1", agent_id="alice", state="wrap_up", reason=None, started_at=1100.0, ended_at=1101.0
        )
    )
    assert fx.value("ccqueue_handle_seconds_count", queue="support") == 0
    fx.metrics.on_record(
        AgentStateRecord(
            interval_id="alice:2", agent_id="alice", state="wrap_up", reason=None, started_at=1100.0, ended_at=1105.0, call_id="a"
        )
    )
    assert fx.value("ccqueue_handle_seconds_sum", queue="support") == 60  # 55 s talk + 5 s wrap-up
