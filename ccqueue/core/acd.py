"""The call distributor: calls wait, agents are offered calls, one claim wins.

``Acd`` is the facade over the distributor's parts; it builds each with the parts it
uses, hands each event to the part that handles it, and lets the router's choices and
the timers run after every event:

- ``call_book``: the calls in progress; ``ledger``: what is written down;
- ``timers``: one heap of timers, a predicate and a handler per kind;
- ``staffing``: who is staffed, serving, busy per queue; ``roster``: agents' moves;
- ``offers``: agents' phones ringing; ``reception``: arrivals and the IVR's hand-over;
- ``admission``: joining a queue, overflow, announcements, forecast;
- ``callback_desk``: callbacks; ``switchboard``: rings, claims, failures, hang-ups;
- ``dialer``: outbound campaigns, their contacts, dials and the agents they hold;
- ``views``: the read model, frozen values for HTTP, metrics and the simulator.

Rules kept here:

1. Events in, commands out: ``handle(event, now)`` and ``tick(now)`` return commands and
   never perform I/O; ``handle_with_reply`` adds the reply for whoever asked
   (``replies``). ``next_deadline()`` tells the engine when to call ``tick`` next, so
   nothing polls.
2. Every event type has one handler in ``_handlers``; after it, due timers run, then
   the router's choices are rung, then the dialer paces its campaigns with the agents
   left (inbound first; except on shutdown), callbacks and campaigns taking turns for
   the agents they share (``blending``).
3. A reloaded configuration takes over at once, or not at all (``_replace_settings``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.admission import Admission
from ccqueue.core.agent_state import AgentState, AgentStatus
from ccqueue.core.blending import Blender
from ccqueue.core.call_book import CallBook
from ccqueue.core.callback_desk import CallbackDesk
from ccqueue.core.calls import (
    DEVICE_FREE,
    OFFER_GRACE_S,
    AcdSettings,
    AgentSettings,
    Call,
    CallState,
    HotlineSettings,
    Offer,
    QueueSettings,
)
from ccqueue.core.dialer import Attempt, Dialer
from ccqueue.core.errors import ReloadRefused
from ccqueue.core.ewt import Estimate, WaitEstimator
from ccqueue.core.ledger import CallLedger
from ccqueue.core.offers import Offers
from ccqueue.core.reception import Reception
from ccqueue.core.recorder import Recorder
from ccqueue.core.records import CallbackRecord
from ccqueue.core.replies import CampaignStatus, ClaimAnswer, Handled, Reply
from ccqueue.core.restoration import Restoration
from ccqueue.core.roster import Roster
from ccqueue.core.routing import QueuePolicy, Router
from ccqueue.core.staffing import Staffing
from ccqueue.core.switchboard import Switchboard
from ccqueue.core.timers import Timers
from ccqueue.core.views import ReadModel

__all__ = [
    "DEVICE_FREE",
    "OFFER_GRACE_S",
    "Acd",
    "AcdSettings",
    "AgentSettings",
    "Call",
    "CallState",
    "HotlineSettings",
    "Offer",
    "QueueSettings",
]

# An event's handler: the event, now, the commands so far; the reply to the asker, if any.
Handler = Callable[[Any, float, list[cmd.Command]], Reply | None]


class Acd:
    """All calls, agents and offers of one ccqueue process."""

    def __init__(self, settings: AcdSettings, *, seed: int = 0) -> None:
        self._settings = settings
        self._stopping = False
        self.router = Router([_policy(q) for q in settings.queues.values()], seed=seed)
        self.ewt = WaitEstimator()
        ledger = CallLedger()
        self._timers = timers = Timers()
        self._staffing = staffing = Staffing(settings)
        self._roster = roster = Roster(settings, router=self.router, staffing=staffing, ledger=ledger, timers=timers)
        self._book = book = CallBook(settings, router=self.router, ledger=ledger)
        self._offers = offers = Offers(settings, roster=roster, ledger=ledger, timers=timers)
        self._admission = admission = Admission(
            settings,
            router=self.router,
            ewt=self.ewt,
            staffing=staffing,
            book=book,
            offers=offers,
            roster=roster,
            ledger=ledger,
            timers=timers,
        )
        self._desk = desk = CallbackDesk(
            settings,
            router=self.router,
            book=book,
            offers=offers,
            roster=roster,
            admission=admission,
            ledger=ledger,
            timers=timers,
        )
        self._switchboard = board = Switchboard(
            settings,
            router=self.router,
            ewt=self.ewt,
            book=book,
            offers=offers,
            roster=roster,
            admission=admission,
            desk=desk,
            ledger=ledger,
            timers=timers,
        )
        self._reception = reception = Reception(settings, book=book, admission=admission, roster=roster, ledger=ledger)
        self._restoration = restoration = Restoration(
            settings, book=book, offers=offers, roster=roster, admission=admission, ledger=ledger
        )
        self._ledger = ledger
        self._recorder = Recorder(settings, book=book, ledger=ledger)
        self._dialer = dialer = Dialer(
            dict(settings.campaigns),
            max_channels=settings.max_outbound_channels,
            roster=roster,
            ewt=self.ewt,
            timers=timers,
            queue_waiting=self.router.waiting,
            join_queue=self._join_queue,
        )
        # Callers first; callbacks and campaigns in turns for the agents they share.
        self._blender = Blender(
            campaign_share=settings.campaign_share,
            contested_queues=dialer.contested_queues,
            person_waiting=dialer.person_waiting,
            callbacks_waiting=desk.waiting_in,
            stand_aside=desk.stand_aside,
            back_in_line=desk.back_in_line,
            dispatch=board.dispatch,
            pace=dialer.pace,
        )
        # What everything outside the core reads (views rule 2).
        self.views = ReadModel(settings, book=book, roster=roster, desk=desk)
        self._handlers: dict[type[Any], Handler] = {
            ev.CallArrived: reception.arrived,
            ev.CallRouted: reception.routed,
            ev.CallFinished: reception.finished,
            ev.CallProgressed: reception.progressed,
            ev.SurveyAnswered: reception.survey_answered,
            ev.ChannelHungUp: self._hung_up,
            ev.CallerSessionEnded: board.session_ended,
            ev.OfferClaimed: self._claimed,
            ev.OfferFailed: self._offer_failed,
            ev.ChannelBridged: board.bridged,
            ev.AsteriskReconnected: board.reconcile,
            ev.AgentRequested: self._agent_requested,
            ev.DeviceStateChanged: lambda e, now, _out: roster.device_changed(e, now),
            ev.CallerPressed: desk.caller_pressed,
            ev.CallbackRequested: desk.requested,
            ev.CallbackDeclined: desk.declined,
            ev.CallbackCancelled: desk.cancelled,
            ev.CallbacksRestored: desk.restored,
            ev.DialEnded: desk.dialed,
            ev.SettingsReplaced: lambda e, now, out: self._replace_settings(e.settings, now, out),
            ev.CampaignRequested: dialer.requested,
            ev.ContactsSupplied: dialer.supplied,
            ev.CampaignsRestored: dialer.restored,
            ev.ContactDialEnded: dialer.dial_ended,
            ev.ContactAnswered: dialer.answered,
            ev.CalleePressed: dialer.pressed,
            ev.PreviewDecided: dialer.preview_decided,
            ev.DoNotCallAdded: dialer.do_not_call,
            ev.StateRestored: self._state_restored,
            ev.CallerReturned: restoration.returned,
            ev.RecordingRequested: self._recorder.requested,
        }

    # ------------------------------------------------------------------ the engine's API

    def handle(self, event: ev.Event, now: float) -> list[cmd.Command]:
        """The commands ``event`` comes to (its reply, if any, is left out)."""
        return self.handle_with_reply(event, now).commands

    def handle_with_reply(self, event: ev.Event, now: float) -> Handled:
        """The commands ``event`` comes to, and the reply for whoever put it in."""
        out: list[cmd.Command] = []
        if isinstance(event, ev.ShutdownRequested):
            self._stopping = True
            self._shut_down(now, out)
            return Handled(out)
        if self._stopping and isinstance(event, ev.CallerSessionEnded):
            return Handled(out)  # the sessions close because we stop: the callers are still there
        reply = self._handlers[type(event)](event, now, out)
        self._timers.run_due(now, out)
        self._blender.run(now, out)
        return Handled(out, reply)

    def tick(self, now: float) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        self._timers.run_due(now, out)
        self._blender.run(now, out)
        return out

    def next_deadline(self) -> float | None:
        times = [t for t in (self._timers.next_at(), self.router.next_deadline()) if t is not None]
        return min(times, default=None)

    # ------------------------------------------------------------------ queries

    @property
    def settings(self) -> AcdSettings:
        return self._settings

    # The parts' live state, for the core's own tests; everything else reads ``views``.

    @property
    def calls(self) -> dict[str, Call]:
        return self._book.calls

    @property
    def agents(self) -> dict[str, AgentStatus]:
        return self._roster.agents

    @property
    def callbacks(self) -> dict[str, CallbackRecord]:
        return self._desk.callbacks

    @property
    def attempts(self) -> dict[str, Attempt]:
        """The campaigns' attempts in progress."""
        return self._dialer.attempts

    def campaign_names(self) -> list[str]:
        return self._dialer.names()

    def campaign_status(self, name: str, now: float) -> CampaignStatus:
        """A campaign as it stands (raises ``UnknownCampaign``)."""
        return self._dialer.status(name, now)

    def agent_contact(self, agent_id: str) -> dict[str, Any] | None:
        """The campaign contact an agent is held for, previews or talks to (screen data)."""
        return self._dialer.agent_contact(agent_id)

    def outbound_lines(self) -> int:
        return self._dialer.lines_in_use()

    def live_offers(self) -> list[Offer]:
        """The agents' phones ringing (or answered) for a caller or a callback now."""
        return list(self._offers)

    def agent_leg(self, agent_id: str) -> str | None:
        """The uniqueid of the agent's leg in conversation (a caller's, a callback's or a
        campaign's call); None when it talks to nobody. Each leg's uniqueid is its offer
        id, given to Asterisk as the Originate's ChannelId, so it names that one channel."""
        for offer in self._offers:
            if offer.agent_id == agent_id and offer.claimed:
                return offer.offer_id
        return self._dialer.agent_leg(agent_id)

    def agent_for_endpoint(self, endpoint: str) -> str | None:
        return self._roster.agent_for_endpoint(endpoint)

    def staff_counts(self) -> dict[str, list[int]]:
        """Every queue's [staffed, serving, busy] agents, as kept by staffing."""
        return self._staffing.counts()

    def waiting(self, queue: str) -> int:
        return self.views.waiting(queue)

    def wait_estimate(self, call_id: str, now: float) -> Estimate | None:
        """The wait ahead of a caller in line now, as an announcement would tell it; None
        for a caller not in a queue."""
        call = self._book.get(call_id)
        if call is None or call.queue is None or call.state not in (CallState.WAITING, CallState.OFFERING):
            return None
        return self._admission.estimate(call, now)

    def agent_counts(self) -> dict[AgentState, int]:
        return self.views.agent_counts()

    # ------------------------------------------------------------------ composed steps

    def _agent_requested(self, e: ev.AgentRequested, now: float, out: list[cmd.Command]) -> None:
        left = self._roster.requested(e, now, out)
        if not left and self._dialer.let_agent_go(e.agent_id, now, out):
            left = self._roster.agents[e.agent_id].state in (AgentState.PAUSED, AgentState.LOGGED_OUT)
        if left:
            self._admission.last_agent_left(e.agent_id, now, out)

    def _hung_up(self, e: ev.ChannelHungUp, now: float, out: list[cmd.Command]) -> None:
        self._switchboard.hung_up(e, now, out)
        self._dialer.hung_up(e, now, out)

    def _claimed(self, e: ev.OfferClaimed, now: float, out: list[cmd.Command]) -> ClaimAnswer:
        if self._dialer.owns_offer(e.offer_id):
            return self._dialer.claimed(e, now, out)
        answer = self._switchboard.claimed(e, now, out)
        call = self._book.by_uniqueid(answer.caller_uniqueid) if answer.caller_uniqueid is not None else None
        if call is None or call.agent_id is None:
            return answer
        rec = self._recorder.granted(call, answer.offer_id, call.agent_id, now, out)
        if rec is None:
            return dataclasses.replace(answer, call_id=call.call_id)
        return dataclasses.replace(answer, recording_file=rec.file, recording_held=rec.held, call_id=call.call_id)

    def _offer_failed(self, e: ev.OfferFailed, now: float, out: list[cmd.Command]) -> None:
        if self._dialer.owns_offer(e.offer_id):
            self._dialer.offer_failed(e, now, out)
        else:
            self._switchboard.failed(e, now, out)

    def _join_queue(self, attempt: Attempt, queue: str, now: float, out: list[cmd.Command]) -> None:
        """A broadcast's callee asked for an operator: an inbound caller of ``queue``
        now, with the contact's data, in the same FastAGI session (call id = attempt id)."""
        call = Call(
            call_id=attempt.attempt_id,
            hotline=f"campaign:{attempt.campaign}",
            caller=attempt.contact.number,
            channel=attempt.channel,
            uniqueid=attempt.uniqueid or attempt.attempt_id,
            queue=None,
            arrived_at=now,
        )
        self._book.add(call)
        self._ledger.event(call, "call_arrived", now, out, caller=call.caller, hotline=call.hotline, channel=call.channel)
        attributes = {"name": attempt.contact.name, **dict(attempt.contact.fields)}
        self._admission.join(call, queue, now, out, attributes=attributes)

    def _state_restored(self, e: ev.StateRestored, now: float, out: list[cmd.Command]) -> None:
        self._desk.note_live_legs(e.live_legs)  # before the open callbacks come back
        self._restoration.restored(e, now, out, agents_back=lambda: self._desk.follow_live_attempts(e.callbacks, now))

    def _shut_down(self, now: float, out: list[cmd.Command]) -> None:
        """Stopping: callers left to the dialplan's hold loop for the next process, rings
        stopped, agents' intervals closed."""
        self._dialer.let_dials_go(now, out)
        self._switchboard.let_calls_go(now, out)
        self._desk.stop_ringing(out)
        self._roster.close_intervals(now, out)

    def _replace_settings(self, new: AcdSettings, now: float, out: list[cmd.Command]) -> None:
        """A reloaded configuration takes over at once, or not at all.

        Waiting calls and callbacks keep their places under the new queue rules; agents
        keep their states, with their new queues and skills. Refused (and nothing
        changes) when it would strand someone: a queue removed while calls or callbacks
        wait in it, or an agent removed while logged in.
        """
        in_use = {c.queue for c in self._book.calls.values() if c.queue is not None and c.state is not CallState.ENDED}
        in_use |= {r.queue for r in self._desk.callbacks.values()}
        gone_queues = sorted(in_use - set(new.queues))
        gone_agents = sorted(
            a for a, status in self._roster.agents.items() if a not in new.agents and status.state is not AgentState.LOGGED_OUT
        )
        if gone_queues or gone_agents:
            raise ReloadRefused(
                "the new configuration would strand "
                + "; ".join(
                    part
                    for part in (
                        f"callers waiting in queues {gone_queues}" if gone_queues else "",
                        f"logged-in agents {gone_agents} (log them out first)" if gone_agents else "",
                    )
                    if part
                ),
                queues=gone_queues,
                agents=gone_agents,
            )
        self._settings = new
        self.router.set_queues([_policy(q) for q in new.queues.values()])
        self._roster.reconfigure(new, now)
        for part in (
            self._book, self._offers, self._admission, self._desk, self._switchboard, self._reception, self._restoration,
            self.views, self._recorder,
        ):  # fmt: skip
            part.reconfigure(new)
        self._dialer.reconfigure(dict(new.campaigns), new.max_outbound_channels)
        self._blender.reconfigure(new.campaign_share)
        self._staffing.reconfigure(new)  # counted afresh from the agents' states
        self._roster.restaff_all(now)


def _policy(q: QueueSettings) -> QueuePolicy:
    return QueuePolicy(name=q.name, strategy=q.strategy, weight=q.weight, steps=q.steps)
