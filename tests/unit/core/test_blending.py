"""Blending: callbacks and campaign dials take turns for the agents they share."""

from __future__ import annotations

import datetime as dt
import heapq
from types import MappingProxyType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.blending import Blender, ShareCounter
from ccqueue.core.callbacks import CallbackPolicy
from ccqueue.core.campaigns import CampaignMode, CampaignSettings, Contact

NOON = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC).timestamp()
POLICY = CallbackPolicy(dial="PJSIP/{digits}@trunk", allowed=(r"\+1555\d{7}",), max_attempts=2, retry_delay_s=60, expire_s=86_400)

# ---------------------------------------------------------------------- the counter


@given(
    share=st.floats(min_value=0.0, max_value=1.0),
    runs=st.lists(st.integers(min_value=1, max_value=5), min_size=1, max_size=60),
)
def test_stride_turns_keep_each_side_within_one_of_its_share(share: float, runs: list[int]) -> None:
    # Each pass the side whose turn it is takes its hand-outs: campaigns at most their
    # allowance, callbacks one at a time. Every prefix stays within one of the share.
    counter = ShareCounter(campaign_share=share)
    for run in runs:
        if counter.campaigns_turn():
            counter.note(campaigns=min(run, counter.campaign_allowance()))
        else:
            counter.note(callbacks=1)
        total = counter.campaigns + counter.callbacks
        assert abs(counter.campaigns - share * total) <= 1.0 + 1e-9
        assert abs(counter.callbacks - (1.0 - share) * total) <= 1.0 + 1e-9


@pytest.mark.parametrize(("share", "first"), [(0.0, "callbacks"), (0.5, "callbacks"), (1.0, "campaigns")])
def test_ties_go_to_callbacks_and_the_ends_give_one_side_everything(share: float, first: str) -> None:
    counter = ShareCounter(campaign_share=share)
    assert ("campaigns" if counter.campaigns_turn() else "callbacks") == first


def test_a_share_outside_zero_to_one_is_refused() -> None:
    with pytest.raises(ValueError, match="campaign_share"):
        ShareCounter(campaign_share=1.5)


# ---------------------------------------------------------------------- a busy stretch


def make_acd(share: float, *, agents: int = 3) -> Acd:
    campaign = CampaignSettings(
        name="renewals", mode=CampaignMode.PROGRESSIVE, queues=("support",), caller_id="+15550009999", max_lines=agents
    )
    return Acd(
        AcdSettings(
            queues=MappingProxyType(
                {"support": QueueSettings(name="support", ring_timeout_s=10, wrapup_s=2, missed_cooldown_s=0)}
            ),
            agents=MappingProxyType(
                {
                    f"a{i}": AgentSettings(agent_id=f"a{i}", name=f"A{i}", endpoint=f"PJSIP/a{i}", queues=("support",))
                    for i in range(1, agents + 1)
                }
            ),
            hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support", greeting=None)}),
            callbacks=POLICY,
            campaigns=MappingProxyType({"renewals": campaign}),
            campaign_share=share,
        )
    )


def busy_stretch(share: float, *, seconds: float = 1800.0) -> list[str]:
    """Plenty of callbacks waiting and contacts to dial, three agents: who got each
    agent, in order. A callback's call lasts 40 s, a campaign's dial 25 s (no answer)."""
    acd = make_acd(share)
    for n in range(200):
        acd.handle(ev.CallbackRequested(callback_id=f"k{n}", number=f"+1555100{n:04d}", queue="support"), NOON - 300 + n)
    contacts = tuple(
        Contact(contact_id=n, campaign="renewals", number=f"+1555200{n:04d}", name=f"C{n}", zone=dt.UTC) for n in range(200)
    )
    pending: list[tuple[float, int, ev.Event]] = []
    handed: list[str] = []
    seq = 0

    def later(at: float, event: ev.Event) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(pending, (at, seq, event))

    def follow(out: list[cmd.Command], now: float) -> None:
        for command in out:
            if isinstance(command, cmd.OriginateAgent) and command.offer_id.startswith("cb-"):
                handed.append("callback")
                later(now + 1, ev.OfferClaimed(offer_id=command.offer_id))
                later(now + 2, ev.DialEnded(uniqueid=command.offer_id, status="ANSWER"))
                later(now + 40, ev.ChannelHungUp(uniqueid=command.offer_id))
            elif isinstance(command, cmd.DialContact):
                handed.append("campaign")
                later(now + 25, ev.ContactDialEnded(attempt_id=command.attempt_id, failure=ev.DialFailure.NO_ANSWER))
            elif isinstance(command, cmd.FetchContacts):
                # One list, handed over once; later asks find nothing new.
                later(now, ev.ContactsSupplied(campaign="renewals", contacts=() if supplied else contacts))
                supplied.append(True)

    supplied: list[bool] = []
    now = NOON
    follow(acd.handle(ev.CampaignRequested(campaign="renewals", action=ev.CampaignAction.START), now), now)
    for i in range(1, 4):
        later(NOON + 3 * i, ev.AgentRequested(agent_id=f"a{i}", action=ev.AgentAction.LOGIN))
    while pending and pending[0][0] <= NOON + seconds:
        now, _, event = heapq.heappop(pending)
        follow(acd.handle(event, now), now)
        deadline = acd.next_deadline()
        while deadline is not None and deadline <= (pending[0][0] if pending else now):
            follow(acd.tick(deadline), deadline)
            deadline = acd.next_deadline()
    return handed


@pytest.mark.parametrize("share", [0.5, 0.25, 0.75])
def test_over_a_busy_stretch_each_side_gets_its_share_of_the_agents(share: float) -> None:
    handed = busy_stretch(share)
    assert len(handed) > 100  # a busy stretch indeed: three agents, half an hour
    # Every prefix: within one agent of the share, plus the three agents that may free up
    # together at the start (all logged in while both sides wait).
    campaigns = 0
    for total, side in enumerate(handed, start=1):
        campaigns += side == "campaign"
        assert abs(campaigns - share * total) <= 1 + 3, (total, campaigns)


def test_with_no_share_callbacks_go_first_as_before() -> None:
    handed = busy_stretch(0.0, seconds=600.0)
    assert handed and set(handed) == {"callback"}


# ---------------------------------------------------------------------- one pass, step by step


class Parts:
    """The parts a pass drives, recording what it asked of them."""

    def __init__(self, *, person: bool, callbacks: list[str], dispatched: int = 1, paced: int = 1) -> None:
        self.person = person
        self.callbacks = callbacks
        self.dispatched = dispatched
        self.paced = paced
        self.calls: list[tuple[str, object]] = []
        self.aside = False

    def blender(self, share: float = 0.5) -> Blender:
        return Blender(
            campaign_share=share,
            contested_queues=lambda: frozenset({"support"}),
            person_waiting=lambda: self.person,
            callbacks_waiting=lambda queues: list(self.callbacks),
            stand_aside=lambda ids: self._log("aside", tuple(ids)),
            back_in_line=lambda ids: self._log("back", tuple(ids)),
            dispatch=lambda now, out: self._log("dispatch", self.aside) or (0 if self.aside else self.dispatched),
            pace=lambda now, out, limit: self._log("pace", limit) or self.paced,
        )

    def _log(self, what: str, detail: object) -> None:
        self.calls.append((what, detail))
        if what in ("aside", "back"):
            self.aside = what == "aside"


def test_a_person_on_the_line_goes_before_a_waiting_callback_whoever_s_turn() -> None:
    parts = Parts(person=True, callbacks=["cb:k1"])
    parts.blender(share=0.0).run(NOON, [])  # callbacks' turn, and yet
    assert parts.calls == [
        ("aside", ("cb:k1",)),
        ("dispatch", True),  # callers on the line only
        ("pace", None),  # the person takes the agent
        ("back", ("cb:k1",)),
        ("dispatch", False),  # what is left goes to the callback
    ]


def test_on_the_campaigns_turn_the_dialer_takes_at_most_its_allowance() -> None:
    parts = Parts(person=False, callbacks=["cb:k1", "cb:k2"])
    blender = parts.blender(share=0.75)
    # One callback already: campaigns may take five in a row ((0 + k) / 0.75 < 2 / 0.25)
    # and still be within one of their share of the six.
    blender.counter.note(callbacks=1)
    blender.run(NOON, [])
    assert [c for c in parts.calls if c[0] == "pace"] == [("pace", 5)]
    assert (blender.counter.campaigns, blender.counter.callbacks) == (1, 2)


def test_on_the_callbacks_turn_nothing_stands_aside_and_no_contest_starts_the_counts_afresh() -> None:
    parts = Parts(person=False, callbacks=["cb:k1"])
    blender = parts.blender()
    blender.run(NOON, [])
    assert parts.calls == [("dispatch", False), ("pace", None)]
    assert (blender.counter.campaigns, blender.counter.callbacks) == (1, 1)
    parts.callbacks = []
    blender.run(NOON + 1, [])
    assert (blender.counter.campaigns, blender.counter.callbacks) == (0, 0)
