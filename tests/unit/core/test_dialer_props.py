"""Properties of the dialer under any order of events: the line caps hold, no
do-not-call or out-of-window number is ever dialled, progressive never abandons (as long
as the held agent's phone answers)."""

from __future__ import annotations

import datetime as dt
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.campaigns import CampaignMode, CampaignSettings, Contact, window_open
from ccqueue.core.dialer import Stage
from ccqueue.core.records import AttemptRecord

NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC).timestamp()
ZONES = [dt.UTC, dt.timezone(dt.timedelta(hours=9)), dt.timezone(dt.timedelta(hours=-5)), dt.timezone(dt.timedelta(hours=-11))]
DNC = {"+15550000003", "+15550000007"}
MAX_LINES = 3
MAX_CHANNELS = 4


def make(mode: CampaignMode) -> Acd:
    campaign = CampaignSettings(name="c", mode=mode, queues=("q",), caller_id="+15550009999", max_lines=MAX_LINES)
    other = CampaignSettings(name="d", mode=CampaignMode.PREDICTIVE, queues=("q",), caller_id="+15550009999", max_lines=MAX_LINES)
    return Acd(
        AcdSettings(
            queues=MappingProxyType({"q": QueueSettings(name="q", wrapup_s=2)}),
            agents=MappingProxyType(
                {f"a{i}": AgentSettings(agent_id=f"a{i}", name="A", endpoint=f"PJSIP/a{i}", queues=("q",)) for i in range(4)}
            ),
            hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="q")}),
            campaigns=MappingProxyType({"c": campaign, "d": other}),
            max_outbound_channels=MAX_CHANNELS,
        )
    )


def contacts(campaign: str, first: int, zone_picks: list[int]) -> tuple[Contact, ...]:
    return tuple(
        Contact(
            contact_id=first + i,
            campaign=campaign,
            number=f"+1555{first + i:07d}",
            name="x",
            zone=ZONES[z],
        )
        for i, z in enumerate(zone_picks)
    )


steps = st.lists(
    st.tuples(st.integers(0, 9), st.integers(0, 50), st.floats(0.0, 30.0), st.lists(st.integers(0, 3), max_size=4)),
    min_size=1,
    max_size=60,
)


def run(mode: CampaignMode, plan: list[tuple[int, int, float, list[int]]]) -> None:
    acd = make(mode)
    now = NOON
    zones: dict[str, dt.tzinfo] = {}
    for number in DNC:
        acd.handle(ev.DoNotCallAdded(number=number), now)
    for i in range(4):
        acd.handle(ev.AgentRequested(agent_id=f"a{i}", action=ev.AgentAction.LOGIN), now)
    for name in ("c", "d"):
        acd.handle(ev.CampaignRequested(campaign=name, action=ev.CampaignAction.START), now)
    dialled = 0
    next_id = 0
    calls = 0
    for kind, pick, dt_s, zone_picks in plan:
        if mode is CampaignMode.PROGRESSIVE and kind in (4, 6):
            # An agent's phone that fails the held agent is Asterisk's failure, not pacing's.
            kind = 9
        now += dt_s
        out: list[cmd.Command] = []
        live = sorted(acd.attempts.values(), key=lambda a: a.attempt_id)
        target = live[pick % len(live)] if live else None
        if kind == 0:
            for name in ("c", "d"):
                batch = contacts(name, next_id, zone_picks or [0])
                next_id += len(batch)
                zones.update({c.number: c.zone for c in batch})
                out += acd.handle(ev.ContactsSupplied(campaign=name, contacts=batch), now)
        elif kind == 1 and target is not None and target.stage is Stage.DIALING:
            amd = ["HUMAN", "MACHINE", "NOTSURE", "HANGUP"][pick % 4]
            out += acd.handle(
                ev.ContactAnswered(attempt_id=target.attempt_id, amd=amd, uniqueid=target.attempt_id, channel="L;1"), now
            )
            rung = [c for c in out if isinstance(c, cmd.OriginateAgent)]
            if mode is CampaignMode.PROGRESSIVE and rung and target.campaign == "c":
                # The held agent's phone answers by itself (auto-answer) at once.
                out += acd.handle_with_reply(ev.OfferClaimed(offer_id=rung[0].offer_id), now).commands
        elif kind == 2 and target is not None:
            out += acd.handle(ev.ContactDialEnded(attempt_id=target.attempt_id, failure=list(ev.DialFailure)[pick % 3]), now)
        elif kind == 3 and target is not None and target.offer_id is not None:
            out += acd.handle_with_reply(ev.OfferClaimed(offer_id=target.offer_id), now).commands
        elif kind == 4 and target is not None and target.offer_id is not None:
            out += acd.handle(ev.OfferFailed(offer_id=target.offer_id, failure=ev.RingFailure.NO_ANSWER), now)
        elif kind == 5 and target is not None:
            out += acd.handle(ev.ChannelHungUp(uniqueid=target.uniqueid or target.attempt_id), now)
        elif kind == 6 and target is not None and target.offer_id is not None:
            out += acd.handle(ev.ChannelHungUp(uniqueid=target.offer_id), now)
        elif kind == 7:
            calls += 1
            out += acd.handle(
                ev.CallArrived(call_id=f"in{calls}", hotline="100", caller="+1", channel="P/x", uniqueid=f"in{calls}"), now
            )
        elif kind == 8:
            action = [ev.CampaignAction.START, ev.CampaignAction.PAUSE, ev.CampaignAction.STOP][pick % 3]
            try:
                out += acd.handle(ev.CampaignRequested(campaign="c", action=action), now)
            except Exception as exc:  # illegal moves raise and change nothing
                assert getattr(exc, "error_id", "") == "campaign-state-illegal"
        else:
            out += acd.tick(now)
        for dial in (c for c in out if isinstance(c, cmd.DialContact)):
            dialled += 1
            assert dial.number not in DNC
            assert window_open(acd.settings.campaigns[dial.campaign].window, now, zones[dial.number])
        for name in ("c", "d"):
            assert acd.campaign_status(name, now).lines <= MAX_LINES
        assert acd.outbound_lines() <= MAX_CHANNELS
        if mode is CampaignMode.PROGRESSIVE:
            abandoned = [
                c.record
                for c in out
                if isinstance(c, cmd.Write) and isinstance(c.record, AttemptRecord) and c.record.campaign == "c"
            ]
            assert not any(r.abandoned for r in abandoned)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_progressive_campaign_invariants(plan: list[tuple[int, int, float, list[int]]]) -> None:
    run(CampaignMode.PROGRESSIVE, plan)


@settings(max_examples=100, deadline=None)
@given(steps)
def test_predictive_campaign_invariants(plan: list[tuple[int, int, float, list[int]]]) -> None:
    run(CampaignMode.PREDICTIVE, plan)
