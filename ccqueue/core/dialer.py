"""The dialer: outbound campaigns, from the contact list to the agent's ear.

Campaigns dial contacts the store hands over (``ContactsSupplied``, asked for by
``FetchContacts`` when a campaign's buffer runs low), paced by ``ccqueue.core.pacing``,
and share the inbound queues' agents.

Rules kept here:

1. A campaign is stopped, running or paused; ``CAMPAIGN_TRANSITIONS`` is the table, and
   anything else raises ``CampaignStateIllegal`` and changes nothing. Paused: no new
   dial. Stopped: no new dial, and the dials still ringing are hung up at once; calls
   already answered finish as they would have.
2. A contact is dialled only when every rule allows it at the moment of the dial: not
   on the do-not-call list, under its campaign's ``max_attempts``, due (``next_at``),
   inside the calling window in the callee's own zone (holidays included), and not
   locked by an abandon within ``abandon_lock_s`` — unless an agent is held for it
   first (progressive, preview), which cannot abandon. After an attempt, its outcome's
   retry rule dials again ``after_s`` later while that outcome has ended fewer than
   ``max_tries`` of the contact's attempts (``Contact.outcome_counts``, kept in the
   store), and ``max_attempts`` caps the tries of every outcome together. A contact that fails a rule is
   written back with when it may be tried (the window's next opening, the lock's
   end) or as done, so the store does not hand it over again before then.
3. Lines: a campaign never holds more than ``max_lines`` outbound channels, and all
   campaigns together never more than ``AcdSettings.max_outbound_channels``.
4. Inbound first (blending): a freed agent takes a waiting inbound caller first (the
   router's choices run before the dialer's); a person who answered a campaign's dial
   comes next, before any callback or new dial; waiting callbacks and new dials take
   turns for the agents they share, by ``AcdSettings.campaign_share``
   (``ccqueue.core.blending``); and a campaign dials only for the agents its queues'
   inbound traffic does not need, by Erlang C on what the queues measure
   (``INBOUND_ANSWER_WITHIN_S``, ``INBOUND_TARGET``).
5. Progressive and preview hold an agent (RESERVED) before the dial: a person who
   answers always finds one, so these modes never abandon. Predictive holds the free
   agents for its first dials too, as a pool (the first person to answer takes a held
   agent, whichever dial it was held for), so that an inbound caller cannot take the
   agent a live answer counts on; the dials beyond them, which the pacer's budget
   allows, hold none. A person with no agent within ``connect_deadline_s`` (or none
   who answered by then) hears the safe-harbour message, is counted as an abandon by
   the pacer, and the number is locked for ``abandon_lock_s``.
6. Every attempt's record is its whole latest state (``AttemptRecord``, version
   growing) and a timeline keyed ``{attempt_id}:{seq}``; its outcome is decided once,
   and its contact written back once, when it is.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core import pacing as pc
from ccqueue.core.agent_state import AgentState, AgentStatus, AgentTrigger
from ccqueue.core.campaigns import AttemptOutcome, CallingWindow, CampaignMode, CampaignSettings, Contact, window_open
from ccqueue.core.errors import CampaignStateIllegal, PreviewUnknown, UnknownCampaign
from ccqueue.core.ewt import WaitEstimator
from ccqueue.core.records import AttemptEvent, AttemptRecord, CampaignRunRecord, ContactProgress, DoNotCallRecord
from ccqueue.core.replies import CampaignStatus, ClaimAnswer
from ccqueue.core.roster import Roster
from ccqueue.core.staffing_math import agents_erlang_c
from ccqueue.core.timers import TimerKind, Timers

# Blending's view of inbound: the service level its agents are kept for. 80 % in 20 s
# is the industry's default objective (and app_queue's servicelevel default of 20 s).
INBOUND_ANSWER_WITHIN_S = 20.0
INBOUND_TARGET = 0.80
# Contacts kept ready per line, and asked for at once; an empty answer is asked again
# this much later (a list may be refilled, or contacts may come due).
BUFFER_PER_LINE = 2
FETCH_MIN = 10
FETCH_AGAIN_S = 30.0
# How long past its ring timeout a dial may go unreported by Asterisk before the core
# settles it as unanswered itself (an Originate through a Local channel reports late).
DIAL_GRACE_S = 30.0
# A dial whose channel hung up with no OriginateResponse saying why (the callee hung up
# during AMD) is settled this long after the hang-up.
HUNG_UP_GRACE_S = 3.0
# How long an agent's phone may ring for a person on the line: it auto-answers, so any
# longer and the connect deadline has passed anyway.
AGENT_RING_S = 5.0
# Played to an opted-out callee before the hang-up (Asterisk's core sounds).
OPTED_OUT_SOUND = "vm-goodbye"
_AGENT_PREFIX = "agent"


class CampaignState(enum.Enum):
    STOPPED = "stopped"
    RUNNING = "running"
    PAUSED = "paused"


_C, _A = CampaignState, ev.CampaignAction
CAMPAIGN_TRANSITIONS: dict[CampaignState, dict[ev.CampaignAction, CampaignState]] = {
    _C.STOPPED: {_A.START: _C.RUNNING},
    _C.RUNNING: {_A.PAUSE: _C.PAUSED, _A.STOP: _C.STOPPED},
    _C.PAUSED: {_A.START: _C.RUNNING, _A.STOP: _C.STOPPED},
}


class Stage(enum.Enum):
    PREVIEW = "preview"  # shown to its held agent, not dialled yet
    DIALING = "dialing"  # ringing the callee
    WAITING = "waiting"  # a person answered: an agent is being found or rung
    CONNECTED = "connected"  # talking to an agent
    MESSAGE = "message"  # a machine's message or a broadcast plays
    QUEUED = "queued"  # a broadcast's callee asked for an operator: an inbound call now
    CLOSING = "closing"  # decided (safe harbour, hang-up asked): the channel is ending
    ENDED = "ended"


# Stages that hold an outbound channel (rule 3).
_ON_LINE = frozenset({Stage.DIALING, Stage.WAITING, Stage.CONNECTED, Stage.MESSAGE, Stage.QUEUED, Stage.CLOSING})
# Outcomes after which a contact is done with, whatever its retry rules.
_FINAL = frozenset({AttemptOutcome.CONNECTED, AttemptOutcome.OPTED_OUT, AttemptOutcome.BROADCAST_HEARD})


@dataclass(slots=True, kw_only=True)
class Attempt:
    attempt_id: str
    campaign: str
    contact: Contact
    started_at: float
    stage: Stage = Stage.DIALING
    agent_id: str | None = None  # held, ringing, or talking
    offer_id: str | None = None  # the agent leg ringing or bridged
    offer_claimed: bool = False
    offers_made: int = 0
    uniqueid: str | None = None  # the callee's channel, once answered
    channel: str = ""
    answered_at: float | None = None
    connected_at: float | None = None
    deadline_at: float | None = None
    dial_deadline: float = 0.0  # the dial's backstop: settled as unanswered if still unreported
    ended_at: float | None = None
    amd: str | None = None
    outcome: AttemptOutcome | None = None
    abandoned: bool = False
    safe_harbour: bool = False
    message_left: bool = False
    hangup_cause: str | None = None
    version: int = 0
    seq: int = 0
    agent_done: bool = False  # the agent's call is over (wrap-up started)


@dataclass(slots=True, kw_only=True)
class _Campaign:
    settings: CampaignSettings
    pacer: pc.Pacer
    state: CampaignState = CampaignState.STOPPED
    buffer: deque[Contact] = field(default_factory=deque)
    fetching: bool = False
    fetch_after: float = 0.0
    attempt_ids: set[str] = field(default_factory=set)
    outcomes: Counter[str] = field(default_factory=Counter)
    # Contacts written back (an attempt's end, a closed window) and when they may come
    # again: the store may hand them over before the write has landed.
    not_before: dict[int, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.settings.name


def refusal(
    settings: CampaignSettings, contact: Contact, now: float, *, do_not_call: bool, agent_held: bool
) -> tuple[str, float | None, bool] | None:
    """Why ``contact`` may not be dialled now (rule 2), or None: (reason, when it may
    be tried again or None, whether it is done with)."""
    if do_not_call:
        return "do-not-call", None, True
    if contact.attempts >= settings.max_attempts:
        return "max attempts", None, True
    if contact.next_at > now:
        return "not due", contact.next_at, False
    if contact.locked_until > now and not agent_held:
        return "abandon lock", contact.locked_until, False
    if not window_open(settings.window, now, contact.zone):
        return "outside calling window", next_opening(settings.window, now, contact.zone), False
    return None


def next_opening(window: CallingWindow, at: float, zone: dt.tzinfo) -> float:
    """The first moment after ``at`` when ``window`` is open for a callee in ``zone``
    (a year ahead at most: a window closed all year is tried again a day later)."""
    local = dt.datetime.fromtimestamp(at, zone)
    for days in range(0, 367):
        day = local.date() + dt.timedelta(days=days)
        if day in window.holidays or day.weekday() not in window.days:
            continue
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=zone)
        opens = (midnight + dt.timedelta(seconds=window.start_s)).timestamp()
        closes = (midnight + dt.timedelta(seconds=window.end_s)).timestamp()
        if closes <= at:
            continue
        return max(opens, math.floor(at) + 1.0) if opens <= at else opens
    return at + 86_400.0


class Dialer:
    """Every campaign's state, contacts, dials and the agents they hold."""

    def __init__(
        self,
        campaigns: dict[str, CampaignSettings],
        *,
        max_channels: int,
        roster: Roster,
        ewt: WaitEstimator,
        timers: Timers,
        queue_waiting: Callable[[str], int],
        join_queue: Callable[[Attempt, str, float, list[cmd.Command]], None] | None = None,
    ) -> None:
        # Puts a broadcast's callee in a queue as an inbound caller (the facade's).
        self._join_queue = join_queue
        self._roster = roster
        self._ewt = ewt
        self._timers = timers
        self._queue_waiting = queue_waiting
        self._max_channels = max_channels
        self._campaigns: dict[str, _Campaign] = {}
        self.attempts: dict[str, Attempt] = {}  # live ones (ended ones are dropped)
        self.agents_held = 0  # agents ever held for a dial or a person (blending counts them)
        self._by_offer: dict[str, str] = {}  # agent leg -> attempt
        self._by_uniqueid: dict[str, str] = {}  # callee channel -> attempt
        self._do_not_call: set[str] = set()  # added while running (the store filters the rest)
        self._seq = 0
        self.reconfigure(campaigns, max_channels)
        timers.register(TimerKind.DIAL, live=self._dial_live, fire=self._dial_unreported)
        timers.register(TimerKind.CONNECT, live=self._connect_live, fire=self._connect_deadline)
        timers.register(TimerKind.CONTACTS, live=self._contacts_live, fire=lambda _c, _now, _out: None)

    def reconfigure(self, campaigns: dict[str, CampaignSettings], max_channels: int) -> None:
        """New settings take over; a campaign removed is stopped (its calls finish)."""
        self._max_channels = max_channels
        for name, settings in campaigns.items():
            known = self._campaigns.get(name)
            if known is None:
                self._campaigns[name] = _Campaign(settings=settings, pacer=pc.Pacer(settings.pacing))
            else:
                known.settings = settings
                known.pacer.settings = settings.pacing
        for name in [n for n in self._campaigns if n not in campaigns]:
            campaign = self._campaigns[name]
            if not campaign.attempt_ids:
                del self._campaigns[name]
            else:
                campaign.state = CampaignState.STOPPED

    # ------------------------------------------------------------------ requests

    def requested(self, e: ev.CampaignRequested, now: float, out: list[cmd.Command]) -> CampaignStatus:
        campaign = self._campaign(e.campaign)
        new = CAMPAIGN_TRANSITIONS[campaign.state].get(e.action)
        if new is None:
            raise CampaignStateIllegal(campaign=campaign.name, state=campaign.state.value, action=e.action.value)
        self._set_state(campaign, new, now, out)
        if new is CampaignState.STOPPED:
            self._stop_dialling(campaign, now, out)
        return self.status(campaign.name, now)

    def _set_state(self, campaign: _Campaign, state: CampaignState, now: float, out: list[cmd.Command]) -> None:
        campaign.state = state
        out.append(cmd.Write(record=CampaignRunRecord(campaign=campaign.name, state=state.value, changed_at=now)))

    def _stop_dialling(self, campaign: _Campaign, now: float, out: list[cmd.Command]) -> None:
        """Rule 1: no dial rings on, no agent stays held; answered calls go on."""
        campaign.buffer.clear()
        for attempt_id in sorted(campaign.attempt_ids):
            attempt = self.attempts[attempt_id]
            if attempt.stage is Stage.PREVIEW:
                self._release_agent(attempt, now, out)
                self._event(attempt, "preview_withdrawn", now, out, reason="campaign stopped")
                attempt.stage = Stage.ENDED
                self._forget(attempt)
            elif attempt.stage is Stage.DIALING:
                out.append(cmd.HangupChannel(uniqueid=attempt.attempt_id, reason="campaign stopped"))
                self._event(attempt, "dial_cancelled", now, out, reason="campaign stopped")

    def restored(self, e: ev.CampaignsRestored, now: float, out: list[cmd.Command]) -> None:
        for name, campaign in self._campaigns.items():
            state = e.states.get(name)
            if state in {s.value for s in CampaignState}:
                campaign.state = CampaignState(state)
            campaign.pacer.restore(answers=e.answers.get(name, ()), abandons=e.abandons.get(name, ()))

    def do_not_call(self, e: ev.DoNotCallAdded, now: float, out: list[cmd.Command]) -> None:
        self._do_not_call.add(e.number)
        for campaign in self._campaigns.values():
            campaign.buffer = deque(c for c in campaign.buffer if c.number != e.number)

    def supplied(self, e: ev.ContactsSupplied, now: float, out: list[cmd.Command]) -> None:
        campaign = self._campaigns.get(e.campaign)
        if campaign is None:
            return
        campaign.fetching = False
        if e.failed or not e.contacts:
            campaign.fetch_after = now + FETCH_AGAIN_S
            self._timers.start(campaign.fetch_after, TimerKind.CONTACTS, campaign.name)
            return
        held = {c.contact_id for c in campaign.buffer}
        held |= {self.attempts[a].contact.contact_id for a in campaign.attempt_ids}
        fresh = [
            c
            for c in e.contacts
            if c.contact_id not in held and c.campaign == campaign.name and campaign.not_before.get(c.contact_id, 0.0) <= now
        ]
        campaign.buffer.extend(fresh)
        if not fresh:  # all of them in hand already: the store has nothing new yet
            campaign.fetch_after = now + FETCH_AGAIN_S
            self._timers.start(campaign.fetch_after, TimerKind.CONTACTS, campaign.name)

    def preview_decided(self, e: ev.PreviewDecided, now: float, out: list[cmd.Command]) -> None:
        attempt = self.attempts.get(e.attempt_id)
        if attempt is None or attempt.stage is not Stage.PREVIEW:
            raise PreviewUnknown(f"no contact {e.attempt_id!r} is being previewed", attempt_id=e.attempt_id)
        campaign = self._campaigns[attempt.campaign]
        if not e.dial:
            self._event(attempt, "preview_skipped", now, out, agent=attempt.agent_id)
            self._release_agent(attempt, now, out)
            attempt.stage = Stage.CLOSING
            self._decide(attempt, AttemptOutcome.SKIPPED, now, out)
            self._ended(attempt, now, out, cause="skipped")
            return
        reason = refusal(
            campaign.settings, attempt.contact, now, do_not_call=attempt.contact.number in self._do_not_call, agent_held=True
        )
        if reason is not None or self._lines_free(campaign) <= 0 or campaign.state is not CampaignState.RUNNING:
            why = reason[0] if reason else "no line free" if campaign.state is CampaignState.RUNNING else "campaign not running"
            self._event(attempt, "preview_refused", now, out, reason=why)
            self._release_agent(attempt, now, out)
            attempt.stage = Stage.ENDED
            self._forget(attempt)
            if reason is not None:
                self._write_back(campaign, attempt.contact, reason, now, out)
            return
        self._dial(campaign, attempt, now, out)

    # ------------------------------------------------------------------ Asterisk's reports

    def dial_ended(self, e: ev.ContactDialEnded, now: float, out: list[cmd.Command]) -> None:
        attempt = self.attempts.get(e.attempt_id)
        if attempt is None or attempt.stage is not Stage.DIALING:
            return
        outcome = {
            ev.DialFailure.BUSY: AttemptOutcome.BUSY,
            ev.DialFailure.NO_ANSWER: AttemptOutcome.NO_ANSWER,
            ev.DialFailure.FAILED: AttemptOutcome.FAILED,
        }[e.failure]
        self._dial_over(attempt, outcome, now, out, cause=e.cause or e.failure.value)

    def _dial_over(self, attempt: Attempt, outcome: AttemptOutcome, now: float, out: list[cmd.Command], *, cause: str) -> None:
        campaign = self._campaigns[attempt.campaign]
        result = {
            AttemptOutcome.BUSY: pc.DialResult.BUSY,
            AttemptOutcome.NO_ANSWER: pc.DialResult.NO_ANSWER,
        }.get(outcome, pc.DialResult.FAILED)
        campaign.pacer.observe(pc.DialEnded(at=now, result=result, ring_s=now - attempt.started_at))
        self._event(attempt, "dial_ended", now, out, result=outcome.value, cause=cause)
        self._release_agent(attempt, now, out)
        self._decide(attempt, outcome, now, out)
        self._ended(attempt, now, out, cause=cause)

    def answered(self, e: ev.ContactAnswered, now: float, out: list[cmd.Command]) -> None:
        attempt = self.attempts.get(e.attempt_id)
        if attempt is None or attempt.stage is not Stage.DIALING:
            # Not ours, or settled already (stopped, or its backstop ran): let it go.
            out.append(cmd.ReleaseCaller(call_id=e.attempt_id, sound=None, reason="attempt no longer live"))
            return
        campaign = self._campaigns[attempt.campaign]
        settings = campaign.settings
        attempt.uniqueid = e.uniqueid
        attempt.channel = e.channel
        self._by_uniqueid[e.uniqueid] = attempt.attempt_id
        attempt.answered_at = now
        attempt.amd = e.amd.upper() or None
        ring_s = now - attempt.started_at
        self._event(attempt, "answered", now, out, amd=attempt.amd, channel=e.channel)
        if attempt.amd == "HANGUP":  # hung up during the greeting: nobody to talk to
            campaign.pacer.observe(pc.DialEnded(at=now, result=pc.DialResult.NO_ANSWER, ring_s=ring_s))
            self._release_agent(attempt, now, out)
            self._decide(attempt, AttemptOutcome.NO_ANSWER, now, out)
            self._close(attempt, out, sound=None, reason="callee hung up during detection")
            return
        if attempt.amd == "MACHINE":
            campaign.pacer.observe(pc.DialEnded(at=now, result=pc.DialResult.MACHINE, ring_s=ring_s))
            self._release_agent(attempt, now, out)
            self._decide(attempt, AttemptOutcome.MACHINE, now, out)
            message = settings.machine_message if settings.on_machine == "leave_message" else None
            if settings.mode is CampaignMode.BROADCAST:
                message = settings.broadcast_message
            if message:
                attempt.stage = Stage.MESSAGE
                attempt.message_left = True
                self._event(attempt, "message_left", now, out, sound=message)
                self._write(attempt, out)
                out.append(cmd.LeaveMessage(call_id=attempt.attempt_id, sound=message))
            else:
                self._close(attempt, out, sound=None, reason="answering machine")
            return
        campaign.pacer.observe(pc.HumanAnswered(at=now, ring_s=ring_s))
        if settings.mode is CampaignMode.BROADCAST:
            attempt.stage = Stage.MESSAGE
            self._write(attempt, out)
            keys = settings.opt_out_key + (settings.operator_key if settings.queues else "")
            out.append(cmd.PlayBroadcast(call_id=attempt.attempt_id, sound=settings.broadcast_message or "", keys=keys))
            return
        attempt.stage = Stage.WAITING
        attempt.deadline_at = now + settings.connect_deadline_s
        self._timers.start(attempt.deadline_at, TimerKind.CONNECT, attempt.attempt_id)
        self._write(attempt, out)
        if attempt.agent_id is not None:  # held for it (progressive, preview): ring at once
            self._ring_agent(attempt, attempt.agent_id, now, out)
        # Predictive: the agent is found in ``pace``, after inbound callers (rule 4).

    def pressed(self, e: ev.CalleePressed, now: float, out: list[cmd.Command]) -> None:
        attempt = self.attempts.get(e.attempt_id)
        if attempt is None or attempt.stage is not Stage.MESSAGE:
            return
        settings = self._campaigns[attempt.campaign].settings
        self._event(attempt, "broadcast_key", now, out, digit=e.digit)
        if e.digit is not None and e.digit == settings.opt_out_key:
            self._do_not_call.add(attempt.contact.number)
            out.append(cmd.Write(record=DoNotCallRecord(number=attempt.contact.number, source="opt_out", at=now)))
            self._decide(attempt, AttemptOutcome.OPTED_OUT, now, out)
            self._close(attempt, out, sound=OPTED_OUT_SOUND, reason="opted out")
            return
        if e.digit is not None and e.digit == settings.operator_key and settings.queues:
            # The callee becomes an inbound caller of the campaign's first queue; the
            # distributor takes it from here (``join_queue`` is wired by the facade).
            attempt.stage = Stage.QUEUED
            self._decide(attempt, AttemptOutcome.CONNECTED, now, out)
            if self._join_queue is not None:
                self._join_queue(attempt, settings.queues[0], now, out)
            return
        self._decide(attempt, AttemptOutcome.BROADCAST_HEARD, now, out)
        self._close(attempt, out, sound=None, reason="broadcast heard")

    def owns_offer(self, offer_id: str) -> bool:
        return offer_id in self._by_offer

    def claimed(self, e: ev.OfferClaimed, now: float, out: list[cmd.Command]) -> ClaimAnswer:
        attempt = self.attempts.get(self._by_offer.get(e.offer_id, ""))
        if (
            attempt is None
            or attempt.offer_id != e.offer_id
            or attempt.stage is not Stage.WAITING
            or attempt.uniqueid is None
            or attempt.agent_id is None
        ):
            return ClaimAnswer(offer_id=e.offer_id, caller_uniqueid=None, reason="campaign call no longer waiting")
        campaign = self._campaigns[attempt.campaign]
        attempt.offer_claimed = True
        attempt.stage = Stage.CONNECTED
        attempt.connected_at = now
        self._roster.answered(attempt.agent_id, now, out)
        wait_s = now - (attempt.answered_at or now)
        campaign.pacer.observe(pc.AgentConnected(at=now, wait_s=wait_s))
        self._event(attempt, "agent_connected", now, out, agent=attempt.agent_id, wait_s=round(wait_s, 3))
        self._decide(attempt, AttemptOutcome.CONNECTED, now, out)
        return ClaimAnswer(offer_id=e.offer_id, caller_uniqueid=attempt.uniqueid, reason="campaign call claimed")

    def offer_failed(self, e: ev.OfferFailed, now: float, out: list[cmd.Command]) -> None:
        attempt = self.attempts.get(self._by_offer.get(e.offer_id, ""))
        if attempt is None or attempt.offer_id != e.offer_id or attempt.offer_claimed:
            return
        self._event(attempt, "agent_missed", now, out, agent=attempt.agent_id, failure=e.failure.value)
        self._agent_ring_over(attempt, now, out, missed=e.failure is not ev.RingFailure.CANCELLED)

    def hung_up(self, e: ev.ChannelHungUp, now: float, out: list[cmd.Command]) -> None:
        attempt_id = self._by_offer.get(e.uniqueid)
        if attempt_id is not None:
            self._agent_leg_gone(self.attempts[attempt_id], now, out)
            return
        attempt = self.attempts.get(self._by_uniqueid.get(e.uniqueid, e.uniqueid))
        if attempt is not None and attempt.stage is Stage.DIALING:
            # Its OriginateResponse says why, and comes at once; a callee who hung up
            # during AMD, before the session, has none that says so: settled soon.
            attempt.dial_deadline = min(attempt.dial_deadline, now + HUNG_UP_GRACE_S)
            self._timers.start(attempt.dial_deadline, TimerKind.DIAL, attempt.attempt_id)
            return
        if attempt is None or attempt.stage in (Stage.PREVIEW, Stage.ENDED):
            return
        if attempt.stage is Stage.WAITING:  # the person left before any agent joined
            self._event(attempt, "callee_left", now, out, cause=e.cause)
            if attempt.offer_id is not None and not attempt.offer_claimed:
                out.append(cmd.HangupChannel(uniqueid=attempt.offer_id, reason="the callee hung up"))
                self._agent_ring_over(attempt, now, out, missed=False, look_again=False)
            self._release_agent(attempt, now, out)
            self._decide(attempt, AttemptOutcome.NO_ANSWER, now, out)
        elif attempt.stage is Stage.MESSAGE and attempt.outcome is None:
            self._decide(attempt, AttemptOutcome.BROADCAST_HEARD, now, out)
        elif attempt.stage is Stage.CONNECTED and attempt.offer_id is not None and not attempt.agent_done:
            out.append(cmd.HangupChannel(uniqueid=attempt.offer_id, reason="the callee hung up"))
            self._agent_call_over(attempt, now, out)
        self._ended(attempt, now, out, cause=e.cause or "hung up")

    def _agent_leg_gone(self, attempt: Attempt, now: float, out: list[cmd.Command]) -> None:
        if not attempt.offer_claimed:
            self._agent_ring_over(attempt, now, out, missed=True)
            return
        self._agent_call_over(attempt, now, out)
        if attempt.uniqueid is not None and attempt.stage is Stage.CONNECTED:
            out.append(cmd.HangupChannel(uniqueid=attempt.uniqueid, reason="the agent hung up"))

    # ------------------------------------------------------------------ pacing

    def pace(self, now: float, out: list[cmd.Command], max_agents: int | None = None) -> int:
        """After the router's choices: persons waiting first, then new dials (rule 4).
        ``max_agents``: how many free agents it may take (blending's turn); returns how
        many it took."""
        # Nothing to do (the common case of an inbound-only day) costs no scan of agents.
        running = any(c.state is CampaignState.RUNNING for c in self._campaigns.values())
        if not running and not self.person_waiting():
            return 0
        free = self._free_agents(now)
        if max_agents is not None:
            free = free[:max_agents]
        held_before = self.agents_held
        for attempt in sorted(
            (a for a in self.attempts.values() if a.stage is Stage.WAITING and a.agent_id is None),
            key=lambda a: a.answered_at or 0.0,
        ):
            agent_id = self._take_agent(free, self._campaigns[attempt.campaign].settings.queues)
            if agent_id is not None:
                self._hold_agent(attempt, agent_id, now, out)
            elif not self._take_hold(attempt, now, out):
                continue
            assert attempt.agent_id is not None
            self._ring_agent(attempt, attempt.agent_id, now, out)
        for campaign in self._campaigns.values():
            if campaign.state is CampaignState.RUNNING:
                self._pace_one(campaign, free, now, out)
        return self.agents_held - held_before

    def person_waiting(self) -> bool:
        """Whether a person who answered a dial waits for an agent."""
        return any(a.stage is Stage.WAITING and a.agent_id is None for a in self.attempts.values())

    def contested_queues(self) -> frozenset[str]:
        """The queues whose agents running campaigns dial for (blending's contest)."""
        return frozenset(
            q
            for c in self._campaigns.values()
            if c.state is CampaignState.RUNNING and c.settings.mode is not CampaignMode.BROADCAST
            for q in c.settings.queues
        )

    def _pace_one(self, campaign: _Campaign, free: list[AgentStatus], now: float, out: list[cmd.Command]) -> None:
        settings = campaign.settings
        lines = self._lines_free(campaign)
        mode = settings.mode
        to_hold = 0  # predictive: agents held for its dials, as a pool
        if mode is CampaignMode.BROADCAST:
            count = lines
        else:
            mine = [a for a in free if self._works(a.agent_id, settings.queues)]
            spare = max(0, len(mine) - self._inbound_need(settings.queues, now)) if settings.inbound_first else len(mine)
            if mode is CampaignMode.PREDICTIVE:
                # Dials holding an agent are as progressive ones: not in flight for the
                # pacer, whose free agents are those not held (rule 5).
                mine_now = [self.attempts[a] for a in campaign.attempt_ids]
                ringing = [now - a.started_at for a in mine_now if a.stage is Stage.DIALING and a.agent_id is None]
                in_flight = len(ringing) + sum(
                    1 for a in mine_now if a.stage is Stage.WAITING and a.agent_id is None and not a.offer_claimed
                )
                count = campaign.pacer.decide(now, free_agents=spare, in_flight=in_flight, ringing_for=ringing)
                to_hold = spare
            else:
                count = spare
        count = max(0, min(count, lines))
        dialled = 0
        while dialled < count:
            contact = self._next_contact(campaign, now, out, agent_held=mode in (CampaignMode.PROGRESSIVE, CampaignMode.PREVIEW))
            if contact is None:
                break
            attempt = self._new_attempt(campaign, contact, now)
            if mode is CampaignMode.PREDICTIVE and to_hold > 0:
                agent_id = self._take_agent(free, settings.queues)
                if agent_id is not None:
                    to_hold -= 1
                    self._hold_agent(attempt, agent_id, now, out)
            if mode in (CampaignMode.PROGRESSIVE, CampaignMode.PREVIEW):
                agent_id = self._take_agent(free, settings.queues)
                if agent_id is None:  # cannot happen: counted above; keep the contact
                    campaign.buffer.appendleft(contact)
                    self._forget(attempt)
                    break
                self._hold_agent(attempt, agent_id, now, out)
                if mode is CampaignMode.PREVIEW:
                    attempt.stage = Stage.PREVIEW
                    self._event(attempt, "preview_offered", now, out, agent=agent_id)
                    self._write(attempt, out)
                    dialled += 1
                    continue
            self._dial(campaign, attempt, now, out)
            dialled += 1
        self._refill(campaign, now, out)

    def _refill(self, campaign: _Campaign, now: float, out: list[cmd.Command]) -> None:
        want = max(FETCH_MIN, BUFFER_PER_LINE * campaign.settings.max_lines)
        if campaign.fetching or now < campaign.fetch_after or len(campaign.buffer) * 2 >= want:
            return
        campaign.fetching = True
        out.append(cmd.FetchContacts(campaign=campaign.name, limit=want))

    def _next_contact(self, campaign: _Campaign, now: float, out: list[cmd.Command], *, agent_held: bool) -> Contact | None:
        """The next contact every rule allows (rule 2); the others are written back."""
        while campaign.buffer:
            contact = campaign.buffer.popleft()
            reason = refusal(
                campaign.settings, contact, now, do_not_call=contact.number in self._do_not_call, agent_held=agent_held
            )
            if reason is None:
                return contact
            self._write_back(campaign, contact, reason, now, out)
        return None

    def _write_back(
        self, campaign: _Campaign, contact: Contact, reason: tuple[str, float | None, bool], now: float, out: list[cmd.Command]
    ) -> None:
        _why, next_at, done = reason
        campaign.not_before[contact.contact_id] = math.inf if done else next_at if next_at is not None else now
        out.append(
            cmd.Write(
                record=ContactProgress(
                    contact_id=contact.contact_id,
                    campaign=campaign.name,
                    attempts=contact.attempts,
                    next_at=next_at if next_at is not None else now,
                    locked_until=contact.locked_until or None,
                    done=done,
                    outcome=None,
                    outcome_counts=dict(contact.outcome_counts),
                )
            )
        )

    def _new_attempt(self, campaign: _Campaign, contact: Contact, now: float) -> Attempt:
        self._seq += 1
        # Unique across restarts and usable as an Asterisk uniqueid (session_check.UNIQUEID).
        attempt_id = f"out-{campaign.name[:40]}-{contact.contact_id}-{int(now * 1000)}-{self._seq}"
        attempt_id = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in attempt_id)
        attempt = Attempt(attempt_id=attempt_id, campaign=campaign.name, contact=contact, started_at=now)
        self.attempts[attempt_id] = attempt
        campaign.attempt_ids.add(attempt_id)
        return attempt

    def _dial(self, campaign: _Campaign, attempt: Attempt, now: float, out: list[cmd.Command]) -> None:
        settings = campaign.settings
        attempt.stage = Stage.DIALING
        attempt.started_at = now
        self._event(attempt, "dialed", now, out, number=attempt.contact.number, agent=attempt.agent_id)
        self._write(attempt, out)
        attempt.dial_deadline = now + settings.ring_timeout_s + DIAL_GRACE_S
        self._timers.start(attempt.dial_deadline, TimerKind.DIAL, attempt.attempt_id)
        out.append(
            cmd.DialContact(
                attempt_id=attempt.attempt_id,
                campaign=campaign.name,
                number=attempt.contact.number,
                caller_id=settings.caller_id,
                ring_timeout_s=settings.ring_timeout_s,
                amd=settings.amd,
                on_machine=settings.on_machine,
                machine_message=settings.machine_message,
            )
        )

    # ------------------------------------------------------------------ agents

    def _free_agents(self, now: float) -> list[AgentStatus]:
        """Agents ready for a call now (the router has not taken them), longest idle first."""
        free = [
            a
            for a in self._roster.agents.values()
            if a.state is AgentState.AVAILABLE and a.missed_until <= now and a.device_ok and a.deferred is None
        ]
        free.sort(key=lambda a: (a.idle_since, a.agent_id))
        return free

    def _works(self, agent_id: str, queues: tuple[str, ...]) -> bool:
        return any(q in queues for q in self._roster.queues_of(agent_id))

    def _take_agent(self, free: list[AgentStatus], queues: tuple[str, ...]) -> str | None:
        for i, agent in enumerate(free):
            if self._works(agent.agent_id, queues):
                del free[i]
                return agent.agent_id
        return None

    def _inbound_need(self, queues: tuple[str, ...], now: float) -> int:
        """Free agents inbound needs kept free now (rule 4): its Erlang C staffing for
        the traffic it measures, less the agents already busy with it; all of them
        while callers wait."""
        need = 0
        on_outbound = self._agents_on_outbound()
        for queue in queues:
            if self._queue_waiting(queue) > 0:
                return 1_000_000
            rate = self._ewt.answer_rate(queue, now)
            if rate <= 0:
                continue
            aht = self._ewt.mean_handle_s(queue)
            staff = agents_erlang_c(rate * aht, aht, INBOUND_ANSWER_WITHIN_S, INBOUND_TARGET)
            busy_inbound = sum(
                1
                for a in self._roster.agents.values()
                if queue in self._roster.queues_of(a.agent_id)
                and a.state in (AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP)
                and a.agent_id not in on_outbound
            )
            need += max(0, staff - busy_inbound)
        return need

    def agent_leg(self, agent_id: str) -> str | None:
        """The uniqueid of ``agent_id``'s answered leg on a campaign call (None: none)."""
        for a in self.attempts.values():
            if a.agent_id == agent_id and a.offer_claimed and not a.agent_done and a.offer_id is not None:
                return a.offer_id
        return None

    def _agents_on_outbound(self) -> set[str]:
        return {a.agent_id for a in self.attempts.values() if a.agent_id is not None and not a.agent_done}

    def _hold_agent(self, attempt: Attempt, agent_id: str, now: float, out: list[cmd.Command]) -> None:
        self.agents_held += 1
        agent = self._roster.agents[agent_id]
        self._roster.move(agent, AgentTrigger.RESERVE, now, out)
        self._roster.sync_router(agent, now)
        attempt.agent_id = agent_id
        self._event(attempt, "agent_held", now, out, agent=agent_id)

    def let_agent_go(self, agent_id: str, now: float, out: list[cmd.Command]) -> bool:
        """An agent asked to pause or log out while held for a predictive dial still
        ringing: the hold is dropped (the dial goes on as one the pacer counts on no
        agent for) and the request takes effect. True when a hold was dropped."""
        agent = self._roster.agents.get(agent_id)
        if agent is None or agent.state is not AgentState.RESERVED or agent.deferred is None:
            return False
        for attempt in self.attempts.values():
            if attempt.agent_id == agent_id and attempt.stage is Stage.DIALING:
                if self._campaigns[attempt.campaign].settings.mode is not CampaignMode.PREDICTIVE:
                    return False  # progressive: the agent is the promise made to the callee
                attempt.agent_id = None
                self._event(attempt, "agent_let_go", now, out, agent=agent_id)
                self._roster.release(agent_id, now, out, missed=False)
                return True
        return False

    def _take_hold(self, attempt: Attempt, now: float, out: list[cmd.Command]) -> bool:
        """A person waiting for an agent takes the one held for a dial of its campaign
        still ringing (predictive holds them as a pool): the person is here, the dial
        may never be answered."""
        for other_id in sorted(self._campaigns[attempt.campaign].attempt_ids):
            other = self.attempts[other_id]
            if other.stage is Stage.DIALING and other.agent_id is not None:
                attempt.agent_id, other.agent_id = other.agent_id, None
                self._event(other, "agent_taken", now, out, agent=attempt.agent_id, by=attempt.attempt_id)
                self._event(attempt, "agent_held", now, out, agent=attempt.agent_id, from_attempt=other_id)
                return True
        return False

    def _release_agent(self, attempt: Attempt, now: float, out: list[cmd.Command]) -> None:
        """The agent held for (or ringing for) an attempt that will not reach it."""
        if attempt.agent_id is None or attempt.offer_claimed:
            return
        agent = self._roster.agents.get(attempt.agent_id)
        if attempt.offer_id is not None:
            out.append(cmd.HangupChannel(uniqueid=attempt.offer_id, reason="campaign call gone"))
            self._by_offer.pop(attempt.offer_id, None)
            attempt.offer_id = None
        if agent is not None and agent.state in (AgentState.RESERVED, AgentState.RINGING):
            self._roster.release(agent.agent_id, now, out, missed=False)
        attempt.agent_id = None

    def _ring_agent(self, attempt: Attempt, agent_id: str, now: float, out: list[cmd.Command]) -> None:
        campaign = self._campaigns[attempt.campaign]
        attempt.offers_made += 1
        # Not starting with the attempt id: Bridge() finds a channel by uniqueid prefix.
        offer_id = f"{_AGENT_PREFIX}{attempt.offers_made}-{attempt.attempt_id}"
        attempt.offer_id = offer_id
        self._by_offer[offer_id] = attempt.attempt_id
        self._roster.ring(agent_id, now, out)
        self._event(attempt, "agent_rung", now, out, agent=agent_id, offer_id=offer_id)
        contact = attempt.contact
        out.append(
            cmd.OriginateAgent(
                offer_id=offer_id,
                call_id=attempt.attempt_id,
                agent_id=agent_id,
                endpoint=self._roster.endpoint_of(agent_id),
                ring_timeout_s=AGENT_RING_S,
                caller_id=f"{campaign.name}: {contact.name or contact.number}"[:60],
                auto_answer=True,
            )
        )

    def _agent_ring_over(
        self, attempt: Attempt, now: float, out: list[cmd.Command], *, missed: bool, look_again: bool = True
    ) -> None:
        """The agent's phone did not take the person: free it; ``pace`` looks for another."""
        if attempt.offer_id is not None:
            self._by_offer.pop(attempt.offer_id, None)
        attempt.offer_id = None
        if attempt.agent_id is not None:
            agent = self._roster.agents.get(attempt.agent_id)
            if agent is not None and agent.state in (AgentState.RINGING, AgentState.RESERVED):
                self._roster.release(agent.agent_id, now, out, missed=missed)
            attempt.agent_id = None

    def _agent_call_over(self, attempt: Attempt, now: float, out: list[cmd.Command]) -> None:
        if attempt.agent_done or attempt.agent_id is None or not attempt.offer_claimed:
            return
        attempt.agent_done = True
        campaign = self._campaigns[attempt.campaign]
        queue = campaign.settings.queues[0] if campaign.settings.queues else None
        wrap_s = self._roster.call_over(attempt.agent_id, queue, now, out)
        talk_s = now - (attempt.connected_at or now)
        campaign.pacer.observe(pc.CallFinished(at=now, talk_s=talk_s, wrap_s=wrap_s))
        self._event(attempt, "agent_call_ended", now, out, agent=attempt.agent_id, talk_s=round(talk_s, 3))
        if attempt.offer_id is not None:
            self._by_offer.pop(attempt.offer_id, None)

    # ------------------------------------------------------------------ timers

    def _dial_live(self, attempt_id: str, at: float) -> bool:
        attempt = self.attempts.get(attempt_id)
        if attempt is None or attempt.stage is not Stage.DIALING:
            return False
        return at == attempt.dial_deadline

    def _dial_unreported(self, attempt_id: str, now: float, out: list[cmd.Command]) -> None:
        attempt = self.attempts[attempt_id]
        out.append(cmd.HangupChannel(uniqueid=attempt_id, reason="dial unreported past its ring timeout"))
        self._dial_over(attempt, AttemptOutcome.NO_ANSWER, now, out, cause="unreported")

    def _connect_live(self, attempt_id: str, at: float) -> bool:
        attempt = self.attempts.get(attempt_id)
        return attempt is not None and attempt.stage is Stage.WAITING and attempt.deadline_at == at

    def _connect_deadline(self, attempt_id: str, now: float, out: list[cmd.Command]) -> None:
        """Rule 5: no agent joined in time: the safe-harbour message, an abandon."""
        attempt = self.attempts[attempt_id]
        campaign = self._campaigns[attempt.campaign]
        self._release_agent(attempt, now, out)
        attempt.abandoned = True
        attempt.safe_harbour = True
        campaign.pacer.observe(pc.CallAbandoned(at=now))
        self._event(attempt, "safe_harbour", now, out, waited_s=round(now - (attempt.answered_at or now), 3))
        self._decide(attempt, AttemptOutcome.ABANDONED, now, out)
        self._close(attempt, out, sound=campaign.settings.safe_harbour, reason="no agent within the connect deadline")

    def _contacts_live(self, name: str, at: float) -> bool:
        campaign = self._campaigns.get(name)
        return campaign is not None and campaign.fetch_after == at and campaign.state is CampaignState.RUNNING

    # ------------------------------------------------------------------ outcomes and records

    def _decide(self, attempt: Attempt, outcome: AttemptOutcome, now: float, out: list[cmd.Command]) -> None:
        """The attempt's outcome, once; its contact written back with it (rule 6)."""
        if attempt.outcome is not None:
            return
        attempt.outcome = outcome
        campaign = self._campaigns[attempt.campaign]
        campaign.outcomes[outcome.value] += 1
        settings = campaign.settings
        contact = attempt.contact
        counted = outcome is not AttemptOutcome.SKIPPED
        tries = contact.attempts + (1 if counted else 0)
        locked = contact.locked_until or None
        if outcome is AttemptOutcome.ABANDONED:
            locked = now + settings.abandon_lock_s
        # A retry rule's max_tries counts the attempts this outcome ended (busy three
        # times), not all tries: those are max_attempts' to cap.
        counts = dict(contact.outcome_counts)
        counts[outcome.value] = counts.get(outcome.value, 0) + 1
        rule = settings.retry_rule(outcome)
        done = outcome in _FINAL or tries >= settings.max_attempts
        next_at = now
        if outcome is AttemptOutcome.SKIPPED:
            next_at = now + FETCH_AGAIN_S * 120  # an hour: another agent may take it
        elif not done:
            if rule is not None and counts[outcome.value] < rule.max_tries:
                next_at = now + rule.after_s
            elif outcome is AttemptOutcome.ABANDONED:
                next_at = locked or now
            else:
                done = True
        campaign.not_before[contact.contact_id] = math.inf if done else next_at
        self._write(attempt, out)
        out.append(
            cmd.Write(
                record=ContactProgress(
                    contact_id=contact.contact_id,
                    campaign=attempt.campaign,
                    attempts=tries,
                    next_at=next_at,
                    locked_until=locked,
                    done=done,
                    outcome=outcome,
                    outcome_counts=counts,
                )
            )
        )

    def _close(self, attempt: Attempt, out: list[cmd.Command], *, sound: str | None, reason: str) -> None:
        """Decided: the callee's session plays ``sound`` (if any) and hangs up."""
        attempt.stage = Stage.CLOSING
        self._write(attempt, out)
        out.append(cmd.ReleaseCaller(call_id=attempt.attempt_id, sound=sound, reason=reason))

    def _ended(self, attempt: Attempt, now: float, out: list[cmd.Command], *, cause: str) -> None:
        attempt.stage = Stage.ENDED
        attempt.ended_at = now
        attempt.hangup_cause = cause
        if attempt.outcome is None:
            self._decide(attempt, AttemptOutcome.FAILED, now, out)
        self._event(attempt, "ended", now, out, cause=cause)
        self._write(attempt, out)
        self._forget(attempt)

    def _forget(self, attempt: Attempt) -> None:
        self.attempts.pop(attempt.attempt_id, None)
        campaign = self._campaigns.get(attempt.campaign)
        if campaign is not None:
            campaign.attempt_ids.discard(attempt.attempt_id)
        if attempt.uniqueid is not None:
            self._by_uniqueid.pop(attempt.uniqueid, None)
        if attempt.offer_id is not None and not attempt.offer_claimed:
            self._by_offer.pop(attempt.offer_id, None)

    def _event(self, attempt: Attempt, kind: str, now: float, out: list[cmd.Command], **detail: Any) -> None:
        seq = attempt.seq
        attempt.seq += 1
        out.append(
            cmd.Write(
                record=AttemptEvent(
                    event_id=f"{attempt.attempt_id}:{seq}",
                    attempt_id=attempt.attempt_id,
                    seq=seq,
                    at=now,
                    kind=kind,
                    detail={k: v for k, v in detail.items() if v is not None},
                )
            )
        )

    def _write(self, attempt: Attempt, out: list[cmd.Command]) -> None:
        attempt.version += 1
        out.append(
            cmd.Write(
                record=AttemptRecord(
                    attempt_id=attempt.attempt_id,
                    version=attempt.version,
                    campaign=attempt.campaign,
                    contact_id=attempt.contact.contact_id,
                    number=attempt.contact.number,
                    started_at=attempt.started_at,
                    answered_at=attempt.answered_at,
                    connected_at=attempt.connected_at,
                    ended_at=attempt.ended_at,
                    amd=attempt.amd,
                    agent_id=attempt.agent_id,
                    outcome=attempt.outcome,
                    abandoned=attempt.abandoned,
                    safe_harbour=attempt.safe_harbour,
                    message_left=attempt.message_left,
                    hangup_cause=attempt.hangup_cause,
                )
            )
        )

    # ------------------------------------------------------------------ stopping, views

    def let_dials_go(self, now: float, out: list[cmd.Command]) -> None:
        """ccqueue stopping: dials still ringing and held agents are let go."""
        for attempt in list(self.attempts.values()):
            if attempt.stage in (Stage.PREVIEW, Stage.DIALING):
                if attempt.stage is Stage.DIALING:
                    out.append(cmd.HangupChannel(uniqueid=attempt.attempt_id, reason="ccqueue stopping"))
                self._release_agent(attempt, now, out)
                self._ended(attempt, now, out, cause="ccqueue stopping")

    def _lines(self, campaign: _Campaign | None = None) -> int:
        ids = campaign.attempt_ids if campaign is not None else self.attempts.keys()
        return sum(1 for a in ids if self.attempts[a].stage in _ON_LINE)

    def _lines_free(self, campaign: _Campaign) -> int:
        return max(0, min(campaign.settings.max_lines - self._lines(campaign), self._max_channels - self._lines()))

    def lines_in_use(self) -> int:
        return self._lines()

    def _campaign(self, name: str) -> _Campaign:
        campaign = self._campaigns.get(name)
        if campaign is None:
            raise UnknownCampaign(name)
        return campaign

    def names(self) -> list[str]:
        return sorted(self._campaigns)

    def status(self, name: str, now: float) -> CampaignStatus:
        campaign = self._campaign(name)
        mine = [self.attempts[a] for a in campaign.attempt_ids]
        stages = Counter(a.stage for a in mine)
        agents = {a.agent_id for a in mine if a.agent_id is not None}
        working = sum(
            1
            for a in self._roster.agents.values()
            if a.state not in (AgentState.LOGGED_OUT, AgentState.PAUSED) and self._works(a.agent_id, campaign.settings.queues)
        )
        in_flight = stages[Stage.DIALING] + stages[Stage.WAITING]
        return CampaignStatus(
            name=name,
            mode=campaign.settings.mode.value,
            state=campaign.state.value,
            lines=self._lines(campaign),
            max_lines=campaign.settings.max_lines,
            dialing=stages[Stage.DIALING],
            waiting_for_agent=stages[Stage.WAITING],
            connected=stages[Stage.CONNECTED],
            previewing=stages[Stage.PREVIEW],
            buffered=len(campaign.buffer),
            agents_on_outbound=len(agents),
            dial_level=in_flight / working if working else 0.0,
            attempts=dict(campaign.outcomes),
            pacing=campaign.pacer.view(now),
        )

    def agent_contact(self, agent_id: str) -> dict[str, Any] | None:
        """The contact an agent is held for, previews or talks to: its screen data."""
        for attempt in self.attempts.values():
            if attempt.agent_id == agent_id and not attempt.agent_done:
                contact = attempt.contact
                return {
                    "attempt_id": attempt.attempt_id,
                    "campaign": attempt.campaign,
                    "stage": attempt.stage.value,
                    "contact_id": contact.contact_id,
                    "number": contact.number,
                    "name": contact.name,
                    "fields": dict(contact.fields),
                }
        return None
