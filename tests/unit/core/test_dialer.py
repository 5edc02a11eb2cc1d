"""The dialer as part of the distributor: campaigns, contacts, dials, agents, records."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType
from typing import Any

import pytest

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.agent_state import AgentState
from ccqueue.core.campaigns import AttemptOutcome, CallingWindow, CampaignMode, CampaignSettings, Contact, RetryRule
from ccqueue.core.errors import CampaignStateIllegal, UnknownCampaign
from ccqueue.core.records import AttemptEvent, AttemptRecord, CampaignRunRecord, ContactProgress, DoNotCallRecord
from ccqueue.core.replies import CampaignStatus, ClaimAnswer

UTC = dt.UTC
# Monday 2026-03-02 12:00 UTC: inside the default 09:00-21:00 window in UTC.
NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=UTC).timestamp()


def campaign(mode: CampaignMode = CampaignMode.PROGRESSIVE, **overrides: Any) -> CampaignSettings:
    values: dict[str, Any] = {
        "name": "renewals",
        "mode": mode,
        "queues": ("sales",),
        "caller_id": "+15550009999",
        "max_lines": 5,
    }
    if mode is CampaignMode.BROADCAST:
        values["broadcast_message"] = "ccqueue/offer"
    values.update(overrides)
    return CampaignSettings(**values)


def make_acd(settings: CampaignSettings | None = None, *, agents: int = 2, max_channels: int = 30) -> Acd:
    settings = settings or campaign()
    return Acd(
        AcdSettings(
            queues=MappingProxyType({"sales": QueueSettings(name="sales", wrapup_s=5)}),
            agents=MappingProxyType(
                {
                    f"a{i}": AgentSettings(agent_id=f"a{i}", name=f"A{i}", endpoint=f"PJSIP/a{i}", queues=("sales",))
                    for i in range(1, agents + 1)
                }
            ),
            hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="sales")}),
            campaigns=MappingProxyType({settings.name: settings}),
            max_outbound_channels=max_channels,
        )
    )


def contact(n: int, *, number: str | None = None, zone: dt.tzinfo = UTC, **kw: Any) -> Contact:
    return Contact(
        contact_id=n,
        campaign="renewals",
        number=number or f"+1555000{n:04d}",
        name=f"Customer {n}",
        zone=zone,
        fields={"plan": "gold", "n": str(n)},
        **kw,
    )


def of(kind: type, out: list[cmd.Command]) -> list[Any]:
    return [c for c in out if isinstance(c, kind)]


def records(kind: type, out: list[cmd.Command]) -> list[Any]:
    return [c.record for c in of(cmd.Write, out) if isinstance(c.record, kind)]


def start(acd: Acd, now: float, *contacts: Contact, logins: int = 1) -> list[cmd.Command]:
    out: list[cmd.Command] = []
    for i in range(1, logins + 1):
        out += acd.handle(ev.AgentRequested(agent_id=f"a{i}", action=ev.AgentAction.LOGIN), now)
    handled = acd.handle_with_reply(ev.CampaignRequested(campaign="renewals", action=ev.CampaignAction.START), now)
    out += handled.commands
    assert of(cmd.FetchContacts, handled.commands)
    out += acd.handle(ev.ContactsSupplied(campaign="renewals", contacts=contacts), now)
    return out


def final(out: list[cmd.Command], attempt_id: str) -> AttemptRecord:
    return max((r for r in records(AttemptRecord, out) if r.attempt_id == attempt_id), key=lambda r: r.version)


# ---------------------------------------------------------------------- campaign states


@pytest.mark.parametrize(
    ("actions", "illegal"),
    [
        ((), ev.CampaignAction.PAUSE),
        ((), ev.CampaignAction.STOP),
        ((ev.CampaignAction.START,), ev.CampaignAction.START),
        ((ev.CampaignAction.START, ev.CampaignAction.PAUSE), ev.CampaignAction.PAUSE),
        ((ev.CampaignAction.START, ev.CampaignAction.STOP), ev.CampaignAction.STOP),
    ],
)
def test_an_illegal_campaign_move_raises_and_changes_nothing(
    actions: tuple[ev.CampaignAction, ...], illegal: ev.CampaignAction
) -> None:
    acd = make_acd()
    for action in actions:
        acd.handle(ev.CampaignRequested(campaign="renewals", action=action), NOON)
    before = acd.campaign_status("renewals", NOON).state
    with pytest.raises(CampaignStateIllegal) as raised:
        acd.handle(ev.CampaignRequested(campaign="renewals", action=illegal), NOON)
    assert raised.value.error_id == "campaign-state-illegal"
    assert acd.campaign_status("renewals", NOON).state == before


def test_campaign_moves_are_written_and_answered_with_the_status() -> None:
    acd = make_acd()
    handled = acd.handle_with_reply(ev.CampaignRequested(campaign="renewals", action=ev.CampaignAction.START), NOON)
    assert isinstance(handled.reply, CampaignStatus) and handled.reply.state == "running"
    assert records(CampaignRunRecord, handled.commands) == [
        CampaignRunRecord(campaign="renewals", state="running", changed_at=NOON)
    ]
    paused = acd.handle_with_reply(ev.CampaignRequested(campaign="renewals", action=ev.CampaignAction.PAUSE), NOON + 1)
    assert isinstance(paused.reply, CampaignStatus) and paused.reply.state == "paused"
    resumed = acd.handle_with_reply(ev.CampaignRequested(campaign="renewals", action=ev.CampaignAction.START), NOON + 2)
    assert isinstance(resumed.reply, CampaignStatus) and resumed.reply.state == "running"


def test_unknown_campaign() -> None:
    with pytest.raises(UnknownCampaign):
        make_acd().handle(ev.CampaignRequested(campaign="nope", action=ev.CampaignAction.START), NOON)


# ---------------------------------------------------------------------- progressive


def test_progressive_holds_an_agent_then_dials_one_contact_per_free_agent() -> None:
    acd = make_acd()
    out = start(acd, NOON, contact(1), contact(2), contact(3), logins=1)
    dials = of(cmd.DialContact, out)
    assert [d.number for d in dials] == ["+15550000001"]
    dial = dials[0]
    assert dial.ring_timeout_s == 25.0 and dial.amd and dial.caller_id == "+15550009999"
    assert acd.agents["a1"].state is AgentState.RESERVED
    assert acd.agent_contact("a1") is not None and acd.agent_contact("a1")["fields"]["plan"] == "gold"  # type: ignore[index]
    # A second agent logs in: the next contact is dialled for it.
    more = acd.handle(ev.AgentRequested(agent_id="a2", action=ev.AgentAction.LOGIN), NOON + 1)
    assert [d.number for d in of(cmd.DialContact, more)] == ["+15550000002"]


def test_a_person_who_answers_reaches_the_held_agent_and_the_screen_data_goes_with_it() -> None:
    acd = make_acd()
    dial = of(cmd.DialContact, start(acd, NOON, contact(1)))[0]
    out = acd.handle(
        ev.ContactAnswered(attempt_id=dial.attempt_id, amd="HUMAN", uniqueid=dial.attempt_id, channel="Local/x;1"), NOON + 5
    )
    ring = of(cmd.OriginateAgent, out)[0]
    assert ring.agent_id == "a1" and ring.auto_answer and ring.call_id == dial.attempt_id
    handled = acd.handle_with_reply(ev.OfferClaimed(offer_id=ring.offer_id), NOON + 5.3)
    assert handled.reply == ClaimAnswer(offer_id=ring.offer_id, caller_uniqueid=dial.attempt_id, reason="campaign call claimed")
    assert acd.agents["a1"].state is AgentState.ON_CALL
    contact_view = acd.agent_contact("a1")
    assert contact_view is not None and contact_view["name"] == "Customer 1" and contact_view["stage"] == "connected"
    # No safe harbour once connected, even past the deadline.
    later = acd.tick(NOON + 10)
    assert not of(cmd.ReleaseCaller, later)
    end = acd.handle(ev.ChannelHungUp(uniqueid=dial.attempt_id, cause="Normal Clearing"), NOON + 65)
    assert acd.agents["a1"].state is AgentState.WRAP_UP
    everything = out + handled.commands + end
    record = final(everything, dial.attempt_id)
    assert record.outcome is AttemptOutcome.CONNECTED and record.connected_at == NOON + 5.3 and record.ended_at == NOON + 65
    assert not record.abandoned and record.agent_id == "a1" and record.amd == "HUMAN"
    progress = records(ContactProgress, everything)
    assert progress == [
        ContactProgress(
            contact_id=1, campaign="renewals", attempts=1, next_at=NOON + 5.3, locked_until=None, done=True,
            outcome=AttemptOutcome.CONNECTED, outcome_counts={"connected": 1},
        )
    ]  # fmt: skip
    assert dial.attempt_id not in acd.attempts


def test_busy_is_retried_after_the_campaign_s_delay_and_frees_the_agent() -> None:
    acd = make_acd()
    dial = of(cmd.DialContact, start(acd, NOON, contact(1)))[0]
    out = acd.handle(ev.ContactDialEnded(attempt_id=dial.attempt_id, failure=ev.DialFailure.BUSY), NOON + 3)
    (progress,) = records(ContactProgress, out)
    assert progress.next_at == NOON + 3 + 600 and progress.attempts == 1 and not progress.done
    assert progress.outcome is AttemptOutcome.BUSY
    assert acd.agents["a1"].state is AgentState.AVAILABLE
    assert final(out, dial.attempt_id).outcome is AttemptOutcome.BUSY


def test_a_dial_whose_channel_hangs_up_unreported_is_settled_soon_and_frees_its_line() -> None:
    acd = make_acd()
    dial = of(cmd.DialContact, start(acd, NOON, contact(1)))[0]
    acd.handle(ev.ChannelHungUp(uniqueid=dial.attempt_id, cause="Normal Clearing"), NOON + 8)
    assert acd.next_deadline() == NOON + 11
    out = acd.tick(NOON + 11)
    assert final(out, dial.attempt_id).outcome is AttemptOutcome.NO_ANSWER
    assert acd.outbound_lines() == 0 and acd.agents["a1"].state is not AgentState.RESERVED


def test_the_last_allowed_try_ends_the_contact() -> None:
    acd = make_acd()
    dial = of(cmd.DialContact, start(acd, NOON, contact(1, attempts=2)))[0]
    out = acd.handle(ev.ContactDialEnded(attempt_id=dial.attempt_id, failure=ev.DialFailure.NO_ANSWER), NOON + 25)
    (progress,) = records(ContactProgress, out)
    assert progress.done and progress.attempts == 3


RETRY = {
    AttemptOutcome.BUSY: RetryRule(after_s=60.0, max_tries=2),
    AttemptOutcome.NO_ANSWER: RetryRule(after_s=300.0, max_tries=3),
}


@pytest.mark.parametrize(
    ("counts", "failure", "retried"),
    [
        # Busy twice before: the busy rule's max_tries (2) is spent, whatever else.
        ({"busy": 1}, ev.DialFailure.BUSY, False),
        # Three tries so far, none busy: the busy rule still allows one more busy.
        ({"no_answer": 2, "failed": 1}, ev.DialFailure.BUSY, True),
        ({"busy": 1, "no_answer": 1}, ev.DialFailure.NO_ANSWER, True),
        ({"no_answer": 2}, ev.DialFailure.NO_ANSWER, False),
        ({}, ev.DialFailure.BUSY, True),
    ],
)
def test_a_retry_rule_counts_the_tries_its_own_outcome_ended(
    counts: dict[str, int], failure: ev.DialFailure, retried: bool
) -> None:
    acd = make_acd(campaign(max_attempts=10, retry=RETRY))
    tries = sum(counts.values())
    dial = of(cmd.DialContact, start(acd, NOON, contact(1, attempts=tries, outcome_counts=counts)))[0]
    out = acd.handle(ev.ContactDialEnded(attempt_id=dial.attempt_id, failure=failure), NOON + 3)
    (progress,) = records(ContactProgress, out)
    expected = dict(counts)
    expected[failure.value] = expected.get(failure.value, 0) + 1
    assert progress.outcome_counts == expected
    assert progress.attempts == tries + 1
    assert progress.done is not retried
    if retried:
        assert progress.next_at == NOON + 3 + RETRY[AttemptOutcome(failure.value)].after_s


def test_max_attempts_still_caps_all_outcomes_together() -> None:
    acd = make_acd(campaign(max_attempts=3, retry=RETRY))
    counts = {"busy": 1, "no_answer": 1}
    dial = of(cmd.DialContact, start(acd, NOON, contact(1, attempts=2, outcome_counts=counts)))[0]
    out = acd.handle(ev.ContactDialEnded(attempt_id=dial.attempt_id, failure=ev.DialFailure.NO_ANSWER), NOON + 3)
    (progress,) = records(ContactProgress, out)
    assert progress.done and progress.outcome_counts == {"busy": 1, "no_answer": 2}


def test_a_contact_written_back_keeps_its_outcome_counts() -> None:
    acd = make_acd()
    tokyo = dt.timezone(dt.timedelta(hours=9))  # 21:00 there: the window is closed
    out = start(acd, NOON, contact(1, zone=tokyo, attempts=1, outcome_counts={"busy": 1}))
    (progress,) = records(ContactProgress, out)
    assert progress.outcome is None and progress.outcome_counts == {"busy": 1}


def test_a_machine_never_reaches_an_agent() -> None:
    acd = make_acd()
    dial = of(cmd.DialContact, start(acd, NOON, contact(1)))[0]
    out = acd.handle(
        ev.ContactAnswered(attempt_id=dial.attempt_id, amd="MACHINE", uniqueid=dial.attempt_id, channel="L;1"), NOON + 6
    )
    assert not of(cmd.OriginateAgent, out)
    assert of(cmd.ReleaseCaller, out)[0].sound is None
    out += acd.handle(ev.ChannelHungUp(uniqueid=dial.attempt_id), NOON + 6.5)
    record = final(out, dial.attempt_id)
    assert record.outcome is AttemptOutcome.MACHINE and not record.message_left and record.amd == "MACHINE"
    assert records(ContactProgress, out)[0].next_at == NOON + 6 + 7200


def test_a_machine_gets_the_message_when_the_campaign_leaves_one() -> None:
    acd = make_acd(campaign(on_machine="leave_message", machine_message="ccqueue/renewal-message"))
    dial = of(cmd.DialContact, start(acd, NOON, contact(1)))[0]
    assert dial.on_machine == "leave_message" and dial.machine_message == "ccqueue/renewal-message"
    out = acd.handle(
        ev.ContactAnswered(attempt_id=dial.attempt_id, amd="MACHINE", uniqueid=dial.attempt_id, channel="L;1"), NOON + 6
    )
    assert of(cmd.LeaveMessage, out) == [cmd.LeaveMessage(call_id=dial.attempt_id, sound="ccqueue/renewal-message")]
    out += acd.handle(ev.ChannelHungUp(uniqueid=dial.attempt_id), NOON + 30)
    assert final(out, dial.attempt_id).message_left


def test_the_agent_missing_the_ring_leaves_the_person_to_the_next_agent_or_the_safe_harbour() -> None:
    acd = make_acd()
    dial = of(cmd.DialContact, start(acd, NOON, contact(1)))[0]
    out = acd.handle(
        ev.ContactAnswered(attempt_id=dial.attempt_id, amd="HUMAN", uniqueid=dial.attempt_id, channel="L;1"), NOON + 5
    )
    ring = of(cmd.OriginateAgent, out)[0]
    out = acd.handle(ev.OfferFailed(offer_id=ring.offer_id, failure=ev.RingFailure.NO_ANSWER), NOON + 6)
    assert not of(cmd.OriginateAgent, out)  # a1 cools down, nobody else
    out = acd.tick(NOON + 7.01)
    assert of(cmd.ReleaseCaller, out)[0].sound == "ccqueue/safe-harbour"


# ---------------------------------------------------------------------- predictive


def test_predictive_with_no_free_agent_plays_the_safe_harbour_at_the_deadline_and_locks_the_number() -> None:
    acd = make_acd(campaign(CampaignMode.PREDICTIVE), agents=3)
    # A day's history with no abandon leaves the pacer room to dial ahead of its agents.
    history = tuple(NOON - 60 * i for i in range(1, 301))
    acd.handle(ev.CampaignsRestored(states={}, answers={"renewals": history}), NOON)
    dials = of(cmd.DialContact, start(acd, NOON, *(contact(n) for n in range(1, 12)), logins=3))
    assert len(dials) > 3  # more dials than agents
    for i, dial in enumerate(dials[:3]):
        at = NOON + 4 + i * 0.3
        out = acd.handle(ev.ContactAnswered(attempt_id=dial.attempt_id, amd="HUMAN", uniqueid=dial.attempt_id, channel="L;1"), at)
        ring = of(cmd.OriginateAgent, out)[0]
        acd.handle(ev.OfferClaimed(offer_id=ring.offer_id), at + 0.2)
    second = dials[3]
    out = acd.handle(
        ev.ContactAnswered(attempt_id=second.attempt_id, amd="HUMAN", uniqueid=second.attempt_id, channel="L;1"), NOON + 5
    )
    assert not of(cmd.OriginateAgent, out)
    assert not of(cmd.ReleaseCaller, acd.tick(NOON + 6.9))
    assert acd.next_deadline() is not None and acd.next_deadline() <= NOON + 7  # type: ignore[operator]
    out = acd.tick(NOON + 7)
    release = of(cmd.ReleaseCaller, out)
    assert release == [cmd.ReleaseCaller(call_id=second.attempt_id, sound="ccqueue/safe-harbour", reason=release[0].reason)]
    out += acd.handle(ev.ChannelHungUp(uniqueid=second.attempt_id), NOON + 12)
    record = final(out, second.attempt_id)
    assert record.outcome is AttemptOutcome.ABANDONED and record.abandoned and record.safe_harbour
    (progress,) = records(ContactProgress, out)
    assert progress.locked_until == NOON + 7 + 72 * 3600
    status = acd.campaign_status("renewals", NOON + 13)
    assert status.pacing.abandons_24h == 1 and status.pacing.live_answers_24h == 304


def test_predictive_holds_its_free_agents_as_a_pool_for_whichever_person_answers_first() -> None:
    acd = make_acd(campaign(CampaignMode.PREDICTIVE), agents=3)
    history = tuple(NOON - 60 * i for i in range(1, 301))
    acd.handle(ev.CampaignsRestored(states={}, answers={"renewals": history}), NOON)
    dials = of(cmd.DialContact, start(acd, NOON, *(contact(n) for n in range(1, 12)), logins=3))
    assert len(dials) > 3
    assert all(a.state is AgentState.RESERVED for a in acd.agents.values())  # held for the first three dials
    inbound = acd.handle(ev.CallArrived(call_id="c1", hotline="100", caller="+1", channel="P/x-1", uniqueid="u1"), NOON + 1)
    assert not of(cmd.OriginateAgent, inbound)  # the held agent is not the inbound caller's
    late = dials[-1]
    out = acd.handle(
        ev.ContactAnswered(attempt_id=late.attempt_id, amd="HUMAN", uniqueid=late.attempt_id, channel="L;1"), NOON + 3
    )
    assert len(of(cmd.OriginateAgent, out)) == 1
    taken = [r for r in records(AttemptEvent, out) if r.kind == "agent_taken"]
    assert taken and taken[0].attempt_id == dials[0].attempt_id


def test_an_agent_held_for_a_predictive_dial_may_still_log_out_and_the_person_gets_the_safe_harbour() -> None:
    acd = make_acd(campaign(CampaignMode.PREDICTIVE))
    (dial,) = of(cmd.DialContact, start(acd, NOON, contact(1), logins=1))
    assert acd.agents["a1"].state is AgentState.RESERVED
    acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGOUT), NOON + 1)
    assert acd.agents["a1"].state is AgentState.LOGGED_OUT
    out = acd.handle(
        ev.ContactAnswered(attempt_id=dial.attempt_id, amd="HUMAN", uniqueid=dial.attempt_id, channel="L;1"), NOON + 4
    )
    assert not of(cmd.OriginateAgent, out)
    assert of(cmd.ReleaseCaller, acd.tick(NOON + 6))[0].sound == "ccqueue/safe-harbour"


def test_a_locked_number_is_not_dialled_by_predictive_but_is_by_progressive() -> None:
    locked = contact(1, locked_until=NOON + 3600)
    predictive = make_acd(campaign(CampaignMode.PREDICTIVE))
    out = start(predictive, NOON, locked)
    assert not of(cmd.DialContact, out)
    assert records(ContactProgress, out)[0].next_at == NOON + 3600
    progressive = make_acd()
    assert [d.number for d in of(cmd.DialContact, start(progressive, NOON, contact(1, locked_until=NOON + 3600)))] == [
        locked.number
    ]


# ---------------------------------------------------------------------- contact rules


def test_do_not_call_and_out_of_window_contacts_are_never_dialled() -> None:
    tokyo = dt.timezone(dt.timedelta(hours=9))  # 21:00 there at NOON UTC: closed
    acd = make_acd(agents=3)
    acd.handle(ev.DoNotCallAdded(number="+15550000002"), NOON)
    out = start(acd, NOON, contact(1, zone=tokyo), contact(2), contact(3), logins=3)
    assert [d.number for d in of(cmd.DialContact, out)] == ["+15550000003"]
    progress = {p.contact_id: p for p in records(ContactProgress, out)}
    assert progress[2].done
    opens = dt.datetime(2026, 3, 3, 9, 0, tzinfo=tokyo).timestamp()
    assert progress[1].next_at == opens and not progress[1].done


def test_holidays_and_days_close_the_window() -> None:
    monday = dt.date(2026, 3, 2)
    acd = make_acd(campaign(window=CallingWindow(holidays=frozenset({monday}))))
    out = start(acd, NOON, contact(1))
    assert not of(cmd.DialContact, out)
    assert records(ContactProgress, out)[0].next_at == dt.datetime(2026, 3, 3, 9, 0, tzinfo=UTC).timestamp()


def test_the_line_cap_holds_for_the_campaign_and_for_all() -> None:
    acd = make_acd(campaign(CampaignMode.BROADCAST, max_lines=3), max_channels=2)
    out = start(acd, NOON, *(contact(n) for n in range(1, 9)), logins=0)
    assert len(of(cmd.DialContact, out)) == 2
    assert acd.outbound_lines() == 2


def test_contacts_written_back_are_not_taken_again_from_a_late_store_answer() -> None:
    acd = make_acd()
    dial = of(cmd.DialContact, start(acd, NOON, contact(1)))[0]
    acd.handle(ev.ContactDialEnded(attempt_id=dial.attempt_id, failure=ev.DialFailure.BUSY), NOON + 3)
    out = acd.handle(ev.ContactsSupplied(campaign="renewals", contacts=(contact(1),)), NOON + 4)
    assert not of(cmd.DialContact, out)


# ---------------------------------------------------------------------- stop, pause


def test_stop_hangs_up_ringing_dials_at_once_and_lets_connected_calls_finish() -> None:
    acd = make_acd()
    out = start(acd, NOON, contact(1), contact(2), logins=2)
    first, second = of(cmd.DialContact, out)
    out = acd.handle(
        ev.ContactAnswered(attempt_id=first.attempt_id, amd="HUMAN", uniqueid=first.attempt_id, channel="L;1"), NOON + 3
    )
    ring = of(cmd.OriginateAgent, out)[0]
    acd.handle(ev.OfferClaimed(offer_id=ring.offer_id), NOON + 3.1)
    out = acd.handle(ev.CampaignRequested(campaign="renewals", action=ev.CampaignAction.STOP), NOON + 4)
    assert [h.uniqueid for h in of(cmd.HangupChannel, out)] == [second.attempt_id]
    assert acd.agents[ring.agent_id].state is AgentState.ON_CALL
    out = acd.handle(ev.ContactDialEnded(attempt_id=second.attempt_id, failure=ev.DialFailure.NO_ANSWER), NOON + 4.1)
    assert not of(cmd.DialContact, out)
    assert all(a.state is not AgentState.RESERVED for a in acd.agents.values())


def test_pause_starts_no_new_dial() -> None:
    acd = make_acd()
    dial = of(cmd.DialContact, start(acd, NOON, contact(1), contact(2)))[0]
    acd.handle(ev.CampaignRequested(campaign="renewals", action=ev.CampaignAction.PAUSE), NOON + 1)
    out = acd.handle(ev.ContactDialEnded(attempt_id=dial.attempt_id, failure=ev.DialFailure.BUSY), NOON + 2)
    assert not of(cmd.DialContact, out)
    out = acd.handle(ev.CampaignRequested(campaign="renewals", action=ev.CampaignAction.START), NOON + 3)
    assert [d.number for d in of(cmd.DialContact, out)] == ["+15550000002"]


# ---------------------------------------------------------------------- broadcast, preview


def broadcast_answered(acd: Acd) -> tuple[str, list[cmd.Command]]:
    dial = of(cmd.DialContact, start(acd, NOON, contact(1), logins=1))[0]
    out = acd.handle(
        ev.ContactAnswered(attempt_id=dial.attempt_id, amd="HUMAN", uniqueid=dial.attempt_id, channel="L;1"), NOON + 5
    )
    assert of(cmd.PlayBroadcast, out) == [cmd.PlayBroadcast(call_id=dial.attempt_id, sound="ccqueue/offer", keys="91")]
    return dial.attempt_id, out


def test_broadcast_opt_out_key_puts_the_number_on_do_not_call() -> None:
    acd = make_acd(campaign(CampaignMode.BROADCAST))
    attempt_id, _ = broadcast_answered(acd)
    out = acd.handle(ev.CalleePressed(attempt_id=attempt_id, digit="9"), NOON + 9)
    assert records(DoNotCallRecord, out) == [DoNotCallRecord(number="+15550000001", source="opt_out", at=NOON + 9)]
    out += acd.handle(ev.ChannelHungUp(uniqueid=attempt_id), NOON + 11)
    assert final(out, attempt_id).outcome is AttemptOutcome.OPTED_OUT


def test_broadcast_operator_key_makes_the_callee_an_inbound_caller_with_the_contact_s_data() -> None:
    acd = make_acd(campaign(CampaignMode.BROADCAST))
    attempt_id, _ = broadcast_answered(acd)
    out = acd.handle(ev.CalleePressed(attempt_id=attempt_id, digit="1"), NOON + 9)
    offer = of(cmd.OriginateAgent, out)
    assert offer and offer[0].call_id == attempt_id  # the free agent a1 rings for it as for any caller
    queued = [r for r in records(AttemptEvent, out) if r.kind == "broadcast_key"]
    assert queued and queued[0].detail == {"digit": "1"}
    assert acd.calls[attempt_id].queue == "sales"


def test_preview_shows_the_contact_to_the_held_agent_who_dials_or_skips() -> None:
    acd = make_acd(campaign(CampaignMode.PREVIEW))
    out = start(acd, NOON, contact(1), contact(2))
    assert not of(cmd.DialContact, out)
    view = acd.agent_contact("a1")
    assert view is not None and view["stage"] == "preview"
    out = acd.handle(ev.PreviewDecided(attempt_id=view["attempt_id"], dial=False), NOON + 10)
    assert records(ContactProgress, out)[0].outcome is AttemptOutcome.SKIPPED
    view = acd.agent_contact("a1")
    assert view is not None and view["number"] == "+15550000002"  # the next one
    out = acd.handle(ev.PreviewDecided(attempt_id=view["attempt_id"], dial=True), NOON + 20)
    assert [d.number for d in of(cmd.DialContact, out)] == ["+15550000002"]


# ---------------------------------------------------------------------- blending


def test_a_waiting_inbound_caller_takes_the_freed_agent_before_any_dial() -> None:
    acd = make_acd()
    acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN), NOON)
    acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.PAUSE, reason="x"), NOON)
    start(acd, NOON, contact(1), logins=0)
    acd.handle(ev.CallArrived(call_id="c1", hotline="100", caller="+1", channel="PJSIP/x-1", uniqueid="u1"), NOON + 1)
    out = acd.handle(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.UNPAUSE), NOON + 2)
    assert of(cmd.OriginateAgent, out)[0].call_id == "c1"
    assert not of(cmd.DialContact, out)


def test_restored_campaign_state_and_abandon_history() -> None:
    acd = make_acd(campaign(CampaignMode.PREDICTIVE))
    acd.handle(
        ev.CampaignsRestored(
            states={"renewals": "paused"},
            answers={"renewals": tuple(NOON - 3600 * i for i in range(1, 11))},
            abandons={"renewals": (NOON - 7200,)},
        ),
        NOON,
    )
    status = acd.campaign_status("renewals", NOON)
    assert status.state == "paused"
    assert status.pacing.live_answers_24h == 10 and status.pacing.abandons_24h == 1
