"""The wallboard's period counts: seeded from the database, kept live, merged without
double counting, and started afresh when the period turns over."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from ccqueue.core.period_counts import CallFacts, PeriodCounts, period_start
from ccqueue.core.records import CallOutcome, CallRecord

PARIS = zoneinfo.ZoneInfo("Europe/Paris")
# Monday 2026-03-02 10:00 in Paris (09:00 UTC).
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=PARIS).timestamp()
MIDNIGHT = dt.datetime(2026, 3, 2, 0, 0, tzinfo=PARIS).timestamp()
# support: answer within 20 s, short abandon under 5 s; sales: 10 s and 3 s.
OBJECTIVES = {"support": (20.0, 5.0), "sales": (10.0, 3.0)}


def counts(*, cutoff: float = T0, starts_at: dt.time = dt.time(0, 0)) -> PeriodCounts:
    return PeriodCounts(label="Today", starts_at=starts_at, zone=PARIS, cutoff=cutoff, objectives=OBJECTIVES.__getitem__)


def facts(call_id: str, queue: str, *, agent: str | None = None, outcome: str = "answered", wait: float = 0.0) -> CallFacts:
    return CallFacts(
        call_id=call_id,
        queue=queue,
        agent=agent,
        offered=True,
        answered=outcome == "answered",
        abandoned=outcome == "abandoned",
        wait_s=wait,
    )


def record(
    call_id: str,
    arrived: float,
    *,
    queue: str = "support",
    agent: str | None = None,
    queued: float | None = None,
    answered: float | None = None,
    ended: float | None = None,
    outcome: CallOutcome = CallOutcome.WAITING,
    version: int = 1,
) -> CallRecord:
    return CallRecord(
        call_id=call_id,
        version=version,
        caller="+15550100",
        hotline="100",
        queue=queue,
        agent=agent,
        arrived_at=arrived,
        queued_at=arrived if queued is None else queued,
        answered_at=answered,
        ended_at=ended,
        outcome=outcome,
    )


def figures(p: PeriodCounts, queue: str, now: float) -> tuple[int, int, int, int, float | None]:
    q = p.queue(queue, now)
    return q.offered, q.answered, q.abandoned, q.short_abandoned, q.service_level


def test_period_start_is_the_last_local_start_time() -> None:
    assert period_start(T0, starts_at=dt.time(0, 0), zone=PARIS) == MIDNIGHT
    # A shift day from 06:00: at 05:00 the period began yesterday at 06:00.
    five = dt.datetime(2026, 3, 2, 5, 0, tzinfo=PARIS).timestamp()
    assert period_start(five, starts_at=dt.time(6, 0), zone=PARIS) == dt.datetime(2026, 3, 1, 6, 0, tzinfo=PARIS).timestamp()
    # Summer time starts on 2026-03-29 in Paris: that day is 23 hours long.
    after = dt.datetime(2026, 3, 29, 12, 0, tzinfo=PARIS).timestamp()
    assert period_start(after, starts_at=dt.time(0, 0), zone=PARIS) == dt.datetime(2026, 3, 28, 23, 0, tzinfo=dt.UTC).timestamp()


def test_seeded_and_live_calls_add_up_each_counted_once() -> None:
    p = counts()
    assert p.seed_needed and p.start == MIDNIGHT
    # Live: one answered in 8 s by alice, one abandoned after 30 s, one short abandon,
    # each summary written several times.
    a = T0 + 60
    for r in (
        record("l1", a),
        record("l1", a, agent="alice", answered=a + 8, outcome=CallOutcome.ANSWERED, version=2),
        record("l1", a, agent="alice", answered=a + 8, ended=a + 100, outcome=CallOutcome.ANSWERED, version=3),
        record("l2", a, ended=a + 30, outcome=CallOutcome.ABANDONED),
        record("l2", a, ended=a + 30, outcome=CallOutcome.ABANDONED, version=2),
        record("l3", a, ended=a + 2, outcome=CallOutcome.ABANDONED),
    ):
        p.on_call(r, now=a + 200)
    assert figures(p, "support", a + 200) == (3, 1, 1, 1, 0.5)
    assert p.handled("alice", a + 200) == 1
    # The morning before start-up, from the database: alice answered two (one late), bob
    # one; a sales call abandoned after 4 s (not short for sales: 3 s).
    seeded = [
        facts("d1", "support", agent="alice", wait=3),
        facts("d2", "support", agent="alice", wait=25),
        facts("d3", "support", agent="bob", wait=20),
        facts("d4", "support", outcome="abandoned", wait=4),
        facts("d5", "sales", outcome="abandoned", wait=4),
        facts("d6", "support", outcome="overflowed", wait=60),
    ]
    assert p.seed(MIDNIGHT, seeded)
    assert not p.seed_needed
    # support: offered 3 + 5; answered 1 + 3 (in time: l1, d1, d3); abandoned l2; short l3, d4.
    assert figures(p, "support", a + 200) == (8, 4, 1, 2, 3 / 5)
    assert figures(p, "sales", a + 200) == (1, 0, 1, 0, 0.0)
    assert (p.handled("alice", a + 200), p.handled("bob", a + 200)) == (3, 1)
    # A second seed (a retry that raced) changes nothing.
    assert not p.seed(MIDNIGHT, seeded)
    assert figures(p, "support", a + 200) == (8, 4, 1, 2, 3 / 5)


def test_live_records_of_calls_from_before_start_up_are_left_to_the_seed() -> None:
    p = counts()
    early = T0 - 600  # arrived under the previous process: the database counts it
    p.on_call(record("old", early, agent="alice", answered=T0 + 1, outcome=CallOutcome.ANSWERED), now=T0 + 2)
    assert figures(p, "support", T0 + 2) == (0, 0, 0, 0, None)
    assert p.handled("alice", T0 + 2) == 0


def test_calls_never_queued_or_outside_any_queue_are_not_offered() -> None:
    p = counts()
    never = record("ivr", T0 + 1, ended=T0 + 30, outcome=CallOutcome.ABANDONED)
    p.on_call(CallRecord(**{**_fields(never), "queued_at": None}), now=T0 + 31)
    p.seed(
        MIDNIGHT, [CallFacts(call_id="x", queue=None, agent=None, offered=False, answered=False, abandoned=False, wait_s=None)]
    )
    assert figures(p, "support", T0 + 31) == (0, 0, 0, 0, None)


def test_the_wait_runs_from_joining_the_queue() -> None:
    p = counts()
    # 40 s in the IVR, then answered 10 s after joining: in time.
    p.on_call(record("c", T0 + 1, queued=T0 + 41, agent="alice", answered=T0 + 51, outcome=CallOutcome.ANSWERED), now=T0 + 52)
    assert figures(p, "support", T0 + 52) == (1, 1, 0, 0, 1.0)


def test_the_next_period_starts_from_zero_and_needs_no_seed() -> None:
    p = counts()
    p.seed(MIDNIGHT, [facts("d1", "support", agent="alice")])
    p.on_call(record("l1", T0 + 5, agent="alice", answered=T0 + 6, outcome=CallOutcome.ANSWERED), now=T0 + 7)
    assert p.handled("alice", T0 + 7) == 2
    tomorrow = dt.datetime(2026, 3, 3, 0, 0, 1, tzinfo=PARIS).timestamp()
    assert figures(p, "support", tomorrow) == (0, 0, 0, 0, None)
    assert p.handled("alice", tomorrow) == 0
    assert p.start == tomorrow - 1 and not p.seed_needed
    # A call that arrived yesterday and ended today belongs to yesterday.
    p.on_call(record("l2", T0 + 9, ended=tomorrow + 5, outcome=CallOutcome.ABANDONED), now=tomorrow + 5)
    assert figures(p, "support", tomorrow + 5) == (0, 0, 0, 0, None)
    # A seed read for yesterday that lands today is dropped.
    assert not p.seed(MIDNIGHT, [facts("d9", "support")])
    p.on_call(record("l3", tomorrow + 10, agent="bob", answered=tomorrow + 12, outcome=CallOutcome.ANSWERED), now=tomorrow + 12)
    assert figures(p, "support", tomorrow + 12) == (1, 1, 0, 0, 1.0)


def test_started_exactly_at_the_period_start_there_is_nothing_to_seed() -> None:
    assert not counts(cutoff=MIDNIGHT).seed_needed


def _fields(r: CallRecord) -> dict[str, object]:
    return {name: getattr(r, name) for name in r.__dataclass_fields__}
