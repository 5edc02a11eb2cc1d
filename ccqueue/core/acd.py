"""The call distributor: calls wait, agents are offered calls, one claim wins.

``Acd`` is written in three parts over ``acd_base.AcdBase``: this module (calls, offers,
agents, records, timers), ``acd_waiting`` (admission, overflow, estimates,
announcements) and ``acd_callbacks``; its values are in ``calls``.

Rules kept here:

1. Events in, commands out: ``handle(event, now)`` and ``tick(now)`` return commands and
   never perform I/O. ``next_deadline()`` tells the engine when to call ``tick`` next, so
   nothing polls.
2. A caller is never bridged to two agents: a call has at most one live offer, and only
   the claim of that offer, while the caller is still here, is granted (``OfferClaimed``).
   An agent never gets a caller who already hung up: the caller's hang-up cancels the
   offer first, and a late claim is refused.
3. A caller keeps its place: a failed offer puts the call back with its original arrival
   time; the router orders by it.
4. An agent that did not answer is not offered the next call at once: it sits out
   ``missed_cooldown_s``. An agent whose ring was cancelled because the caller left is
   free at once, and keeps its idle time.
5. Every call has one summary row (``CallRecord``, its ``version`` growing with each
   rewrite) and a timeline of events with stable ids ``{call_id}:{seq}``; every closed
   agent state interval is written once with a stable id ``{agent_id}:{seq}``.
6. Agents' moves follow ``agent_state.TRANSITIONS``; an illegal request raises and
   changes nothing.
"""

from __future__ import annotations

import heapq
from typing import Any

from ccqueue.core import callbacks as cb
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd_callbacks import CallbacksMixin
from ccqueue.core.acd_waiting import WaitingMixin
from ccqueue.core.agent_state import AgentState, AgentStatus, AgentTrigger
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
from ccqueue.core.errors import ReloadRefused, UnknownAgent
from ccqueue.core.ewt import WaitEstimator
from ccqueue.core.records import (
    AgentStateRecord,
    CallbackRecord,
    CallbackStatus,
    CallEventRecord,
    CallOutcome,
    CallRecord,
    SurveyRecord,
)
from ccqueue.core.routing import QueuePolicy, Router
from ccqueue.core.skills import RoutingStep, SkillRequirement, meets
from ccqueue.core.waiting import Overflow

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

class Acd(WaitingMixin, CallbacksMixin):
    """All calls, agents and offers of one ccqueue process."""

    def __init__(self, settings: AcdSettings, *, seed: int = 0) -> None:
        self.settings = settings
        self.router = Router([_policy(q) for q in settings.queues.values()], seed=seed)
        self.calls: dict[str, Call] = {}
        self.agents: dict[str, AgentStatus] = {}
        self.offers: dict[str, Offer] = {}
        self._by_uniqueid: dict[str, str] = {}  # caller uniqueid -> call_id
        # (queue, caller number) -> (agent, when their last call ended), oldest first
        self._recent: dict[tuple[str, str], tuple[str, float]] = {}
        self._timers_heap: list[tuple[float, int, str, str]] = []
        self._timer_seq = 0
        self.ewt = WaitEstimator()
        # Open callbacks: their latest record, and the one per (queue, number) (rule 1 of
        # ccqueue.core.callbacks).
        self.callbacks: dict[str, CallbackRecord] = {}
        self._callback_of: dict[tuple[str, str], str] = {}
        self._ringing = {}
        self._derive(settings)
        for agent in settings.agents.values():
            self._add_agent(agent)

    def _derive(self, settings: AcdSettings) -> None:
        """What follows from the settings alone, worked out once per configuration."""
        self._by_endpoint = {a.endpoint: a.agent_id for a in settings.agents.values()}
        # How far back any queue looks for a returning customer; older entries are dropped.
        self._recent_horizon = max((q.returning_window_s or 0.0 for q in settings.queues.values()), default=0.0)
        self._members = {
            queue: [a.agent_id for a in settings.agents.values() if queue in a.queues] for queue in settings.queues
        }
        # Per queue, the other queues whose callers wait for some of its agents and go
        # first (routing rule 2: a higher or equal priority). How many of the shared
        # agents serve now is kept in _shared_serving.
        self._rivals: dict[str, list[str]] = {queue: [] for queue in settings.queues}
        theirs_by = {other: set(theirs) for other, theirs in self._members.items()}
        for queue, mine in self._members.items():
            for other, theirs in theirs_by.items():
                shares = any(agent_id in theirs for agent_id in mine)
                if other != queue and shares and settings.queues[other].priority >= settings.queues[queue].priority:
                    self._rivals[queue].append(other)
        self._eligible = {
            queue: frozenset(a for a in members if meets(settings.agents[a].skills, settings.queues[queue].steps[-1]))
            for queue, members in self._members.items()
        }
        # Counted afresh from the agents' states (none yet when the core is built).
        self._staff_counts = {queue: [0, 0, 0] for queue in settings.queues}
        self._shared_serving = {}
        self._staff_flags = {}

    def _replace_settings(self, new: AcdSettings, now: float, out: list[cmd.Command]) -> None:
        """A reloaded configuration takes over at once, or not at all.

        Waiting calls and callbacks keep their places under the new queue rules; agents
        keep their states, with their new queues and skills. Refused (and nothing
        changes) when it would strand someone: a queue removed while calls or callbacks
        wait in it, or an agent removed while logged in.
        """
        in_use = {c.queue for c in self.calls.values() if c.queue is not None and c.state is not CallState.ENDED}
        in_use |= {r.queue for r in self.callbacks.values()}
        gone_queues = sorted(in_use - set(new.queues))
        gone_agents = sorted(
            a for a, status in self.agents.items() if a not in new.agents and status.state is not AgentState.LOGGED_OUT
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
        self.settings = new
        self.router.set_queues([_policy(q) for q in new.queues.values()])
        for agent_id in [a for a in self.agents if a not in new.agents]:
            del self.agents[agent_id]
            self.router.remove_agent(agent_id)
        for agent in new.agents.values():
            if agent.agent_id in self.agents:
                self.router.upsert_agent(agent.agent_id, queues=agent.queues, skills=dict(agent.skills), order=agent.order)
                self._sync_router(self.agents[agent.agent_id], now)
            else:
                self._add_agent(agent)
        self._derive(new)
        for status in self.agents.values():
            self._restaff(status, now)

    # ------------------------------------------------------------------ queries

    def next_deadline(self) -> float | None:
        while self._timers_heap and not self._timer_live(self._timers_heap[0]):
            heapq.heappop(self._timers_heap)
        times = [self._timers_heap[0][0]] if self._timers_heap else []
        router_deadline = self.router.next_deadline()
        if router_deadline is not None:
            times.append(router_deadline)
        return min(times, default=None)

    # Timers (ring backstops, wrap-up ends, missed-call cooldowns) sit in one heap and are
    # checked against the live state when they come up, so a timer made stale by a later
    # event costs nothing to cancel; with 10,000 agents no event scans them all.

    def _start_timer(self, at: float, kind: str, key: str) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers_heap, (at, self._timer_seq, kind, key))

    def _timer_live(self, timer: tuple[float, int, str, str]) -> bool:
        at, _, kind, key = timer
        if kind == "offer":
            offer = self.offers.get(key)
            return offer is not None and not offer.claimed and offer.expires_at == at
        if kind in ("announce", "periodic", "max_wait", "cb_offer", "forecast"):
            call = self.calls.get(key)
            if call is None or call.state not in (CallState.WAITING, CallState.OFFERING):
                return False
            times = {
                "announce": call.announce_at,
                "periodic": call.periodic_at,
                "max_wait": call.max_wait_at,
                "forecast": call.forecast_at,
            }
            return at == times.get(kind, call.callback_offer_at)
        if kind in ("cb_ready", "cb_expire"):
            record = self.callbacks.get(key)
            if record is None or record.status is not CallbackStatus.PENDING:
                return False
            return at == (record.expires_at if kind == "cb_expire" else cb.ready_at(record))
        agent = self.agents.get(key)
        if agent is None:
            return False
        if kind == "wrap_up":
            return agent.state is AgentState.WRAP_UP and agent.wrap_up_until == at
        return agent.state is AgentState.AVAILABLE and agent.missed_until == at  # "missed"

    def agent_for_endpoint(self, endpoint: str) -> str | None:
        return self._by_endpoint.get(endpoint)

    def waiting(self, queue: str) -> int:
        return sum(
            1
            for c in self.calls.values()
            if c.queue == queue and c.state in (CallState.WAITING, CallState.OFFERING)
        )

    def agent_counts(self) -> dict[AgentState, int]:
        counts = dict.fromkeys(AgentState, 0)
        for a in self.agents.values():
            counts[a.state] += 1
        return counts

    # ------------------------------------------------------------------ events

    def handle(self, event: ev.Event, now: float) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        match event:
            case ev.CallArrived():
                self._call_arrived(event, now, out)
            case ev.ChannelHungUp():
                self._channel_hung_up(event, now, out)
            case ev.OfferClaimed():
                self._offer_claimed(event, now, out)
            case ev.OfferFailed():
                self._offer_failed(event.offer_id, event.failure, now, out)
            case ev.CallerSessionEnded():
                call = self.calls.get(event.call_id)
                if call is not None and call.state in (CallState.WAITING, CallState.OFFERING):
                    self._channel_hung_up(ev.ChannelHungUp(uniqueid=call.uniqueid, cause="AGI session ended"), now, out)
            case ev.ChannelBridged():
                self._channel_bridged(event, now, out)
            case ev.AgentRequested():
                self._agent_requested(event, now, out)
            case ev.AsteriskReconnected():
                self._reconcile(event, now, out)
            case ev.DeviceStateChanged():
                self._device_state(event, now)
            case ev.ShutdownRequested():
                self._shut_down(now, out)
                return out
            case ev.CallProgressed():
                call = self.calls.get(event.call_id)
                if call is not None:
                    self._event(call, event.kind, now, out, **dict(event.data))
            case ev.CallRouted():
                self._call_routed(event, now, out)
            case ev.CallFinished():
                self._call_finished(event, now, out)
            case ev.CallerPressed():
                self._caller_pressed(event, now, out)
            case ev.CallbackRequested():
                self._callback_requested(event, now, out)
            case ev.CallbackDeclined():
                self._callback_declined(event, now, out)
            case ev.CallbackCancelled():
                self._callback_cancelled(event, now, out)
            case ev.CallbacksRestored():
                for record in event.callbacks:
                    self._callback_restored(record, now, out)
            case ev.DialEnded():
                offer = self.offers.get(event.uniqueid)
                if offer is not None and offer.callback_id is not None and offer.claimed:
                    self._callback_dialed(offer, event.status, now, out)
            case ev.SettingsReplaced():
                self._replace_settings(event.settings, now, out)
            case ev.SurveyAnswered():
                out.append(
                    cmd.Write(record=SurveyRecord(call_id=event.call_id, rating=event.rating, recommend=event.recommend, at=now))
                )
        self._timers(now, out)
        self._dispatch(now, out)
        return out

    def tick(self, now: float) -> list[cmd.Command]:
        out: list[cmd.Command] = []
        self._timers(now, out)
        self._dispatch(now, out)
        return out

    # ------------------------------------------------------------------ calls

    def _call_arrived(self, e: ev.CallArrived, now: float, out: list[cmd.Command]) -> None:
        if e.call_id in self.calls:
            return  # a repeated arrival changes nothing
        hotline = self.settings.hotlines.get(e.hotline)
        call = Call(
            call_id=e.call_id,
            hotline=e.hotline,
            caller=e.caller,
            channel=e.channel,
            uniqueid=e.uniqueid,
            queue=None,
            arrived_at=now,
            language=hotline.language if hotline else "en",
        )
        self.calls[e.call_id] = call
        self._by_uniqueid[e.uniqueid] = e.call_id
        self._event(call, "call_arrived", now, out, caller=e.caller, hotline=e.hotline, channel=e.channel)
        if e.refused is not None:
            self._event(call, "session_refused", now, out, reason=e.refused)
            self._end_call(call, CallOutcome.REFUSED, now, out, reason=e.refused)
            return
        if hotline is not None and hotline.ivr is not None:
            call.state = CallState.IVR
            self._summary(call, out)
            out.append(cmd.RunIvr(call_id=call.call_id, entry=hotline.ivr, language=call.language))
            return
        if hotline is None or hotline.queue is None or hotline.queue not in self.settings.queues:
            self._end_call(call, CallOutcome.REFUSED, now, out, reason="no queue for this hotline")
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=self.settings.refusal_sound, reason="unknown hotline"))
            return
        if hotline.greeting:
            out.append(cmd.PlayToCaller(call_id=call.call_id, sound=hotline.greeting))
        self._join(call, hotline.queue, now, out)

    def _call_routed(self, e: ev.CallRouted, now: float, out: list[cmd.Command]) -> None:
        call = self.calls.get(e.call_id)
        if call is None or call.state is not CallState.IVR:
            return
        if e.language:
            call.language = e.language
        call.priority = e.priority
        if e.preferred_agent in self.agents:
            call.preferred_agent = e.preferred_agent
        if e.skills:
            required = tuple(SkillRequirement(skill=s, min_level=level) for s, level in sorted(e.skills.items()))
            call.steps = (RoutingStep(requirements=required),)
        if e.queue not in self.settings.queues:
            self._event(call, "route_refused", now, out, queue=e.queue)
            self._end_call(call, CallOutcome.FAILED, now, out, reason=f"the IVR named an unknown queue {e.queue!r}")
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=self.settings.refusal_sound, reason="unknown queue"))
            return
        self._join(call, e.queue, now, out, attributes=dict(e.attributes))

    def _call_finished(self, e: ev.CallFinished, now: float, out: list[cmd.Command]) -> None:
        call = self.calls.get(e.call_id)
        if call is None or call.state is not CallState.IVR:
            return
        outcome = {
            ev.Finish.SELF_SERVICE: CallOutcome.SELF_SERVICE,
            ev.Finish.VOICEMAIL: CallOutcome.VOICEMAIL,
            ev.Finish.TRANSFERRED: CallOutcome.TRANSFERRED,
        }[e.finish]
        if e.data:
            self._event(call, f"ivr_{e.finish.value}", now, out, **dict(e.data))
        self._end_call(call, outcome, now, out, reason=e.reason or e.finish.value)
        # The IVR is done with the caller: its session hangs up and ends.
        out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=None, reason=e.reason or e.finish.value))

    def _channel_hung_up(self, e: ev.ChannelHungUp, now: float, out: list[cmd.Command]) -> None:
        offer = self.offers.get(e.uniqueid)
        if offer is not None:
            self._agent_leg_gone(offer, now, out)
            return
        call_id = self._by_uniqueid.get(e.uniqueid)
        call = self.calls.get(call_id) if call_id else None
        if call is None or call.state is CallState.ENDED:
            return
        if call.state is CallState.IVR:
            self._end_call(call, CallOutcome.ABANDONED, now, out, reason="caller hung up in the IVR")
        elif call.state is CallState.WAITING:
            if call.in_line:
                self.ewt.call_abandoned(call.queue or "", waited_s=now - call.arrived_at, now=now)
            self._leave_line(call, now, out)
            self._end_call(call, CallOutcome.ABANDONED, now, out, reason="caller hung up while waiting")
        elif call.state is CallState.OFFERING:
            self.ewt.call_abandoned(call.queue or "", waited_s=now - call.arrived_at, now=now)
            self._withdraw_offers(call, now, out, kind="offer_cancelled", reason="caller hung up while agent rang")
            self._end_call(call, CallOutcome.ABANDONED, now, out, reason="caller hung up while agent rang")
        else:  # CONNECTED
            self._hang_up_connected(call, now, out, by="caller")

    def _agent_leg_gone(self, offer: Offer, now: float, out: list[cmd.Command]) -> None:
        if offer.callback_id is not None and offer.claimed:
            self._callback_leg_gone(offer, now, out)
            return
        if not offer.claimed:
            self._offer_failed(offer.offer_id, ev.RingFailure.NO_ANSWER, now, out)
            return
        self.offers.pop(offer.offer_id, None)
        call = self.calls.get(offer.call_id)
        if call is not None and call.state is CallState.CONNECTED and call.agent_id == offer.agent_id:
            self._hang_up_connected(call, now, out, by="agent")

    def _hang_up_connected(self, call: Call, now: float, out: list[cmd.Command], *, by: str) -> None:
        assert call.agent_id is not None
        for offer_id in call.offer_ids:
            self.offers.pop(offer_id, None)
        call.offer_ids.clear()
        wrapup = self._agent_call_over(call.agent_id, call.queue, now, out)
        if call.queue is not None and call.offered_at is not None:
            self.ewt.call_ended(call.queue, handle_s=now - call.offered_at + wrapup, now=now)
        if call.queue is not None and call.caller:
            key = (call.queue, call.caller)
            self._recent.pop(key, None)  # re-insert: the dict stays ordered by end time
            self._recent[key] = (call.agent_id, now)
        self._end_call(call, CallOutcome.ANSWERED, now, out, reason=f"{by} hung up")

    def _agent_call_over(self, agent_id: str, queue: str | None, now: float, out: list[cmd.Command]) -> float:
        """The agent's call (or callback) is over: wrap-up starts; returns its length."""
        agent = self.agents[agent_id]
        wrapup = self._wrapup_s(agent_id, queue)
        self._move(agent, AgentTrigger.HANGUP, now, out)
        agent.wrap_up_until = now + wrapup
        self._start_timer(agent.wrap_up_until, "wrap_up", agent.agent_id)
        return wrapup

    def _channel_bridged(self, e: ev.ChannelBridged, now: float, out: list[cmd.Command]) -> None:
        call_id = self._by_uniqueid.get(e.uniqueid)
        call = self.calls.get(call_id) if call_id else None
        if call is not None and call.state is CallState.CONNECTED:
            self._event(call, "call_bridged", now, out, bridge_id=e.bridge_id)

    def _offer_claimed(self, e: ev.OfferClaimed, now: float, out: list[cmd.Command]) -> None:
        offer = self.offers.get(e.offer_id)
        if offer is not None and offer.callback_id is not None:
            self._callback_claimed(offer, now, out)
            return
        call = self.calls.get(offer.call_id) if offer else None
        if offer is None or call is None or call.state is not CallState.OFFERING or offer.offer_id not in call.offer_ids:
            out.append(cmd.AnswerClaim(offer_id=e.offer_id, caller_channel=None, reason="offer no longer live"))
            return
        offer.claimed = True
        call.offer_ids.discard(offer.offer_id)
        # Ringing all: the first to answer takes the call, the others stop ringing.
        self._withdraw_offers(call, now, out, kind="offer_withdrawn", reason="another agent answered first")
        call.offer_ids.add(offer.offer_id)
        agent = self.agents[offer.agent_id]
        agent.misses.clear()
        self._move(agent, AgentTrigger.ANSWER, now, out)
        self.router.note_call_answered(offer.agent_id, now=now)
        call.state = CallState.CONNECTED
        call.agent_id = offer.agent_id
        call.answered_at = now
        call.offered_at = offer.offered_at
        call.announce_at = call.periodic_at = call.max_wait_at = call.callback_offer_at = call.forecast_at = None
        self.ewt.call_answered(call.queue or "", waited_s=now - call.arrived_at, rang_s=now - offer.offered_at, now=now)
        self._event(call, "call_answered", now, out, agent=offer.agent_id, offer_id=offer.offer_id)
        self._summary(call, out)
        out.append(cmd.AnswerClaim(offer_id=offer.offer_id, caller_channel=call.channel, reason="claim granted"))

    def _offer_failed(self, offer_id: str, failure: ev.RingFailure, now: float, out: list[cmd.Command]) -> None:
        offer = self.offers.get(offer_id)
        if offer is None or offer.claimed:
            return  # already settled (a hang-up and an OriginateResponse both report it)
        del self.offers[offer_id]
        missed = failure is not ev.RingFailure.CANCELLED
        if offer.callback_id is not None:
            record = self.callbacks.get(offer.callback_id)
            self._release_agent(offer.agent_id, now, out, missed=missed, queue=record.queue if record else None)
            if record is not None and record.status is CallbackStatus.DIALING:
                self._callback_back_in_line(record, now, out, agent_failure=failure.value)
            return
        call = self.calls[offer.call_id]
        self._event(call, "offer_failed", now, out, agent=offer.agent_id, offer_id=offer_id, failure=failure.value)
        self._release_agent(offer.agent_id, now, out, missed=missed, queue=call.queue)
        call.offer_ids.discard(offer_id)
        if call.state is CallState.OFFERING and not call.offer_ids:
            call.state = CallState.WAITING
            if call.max_wait_at is not None and call.max_wait_at <= now:
                call.in_line = False
                self._overflow(call, Overflow.MAX_WAIT, now, out)
                return
            self._enqueue(call)  # its original arrival time: it keeps its place

    def _withdraw_offers(self, call: Call, now: float, out: list[cmd.Command], *, kind: str, reason: str) -> None:
        for offer_id in sorted(call.offer_ids):
            offer = self.offers.pop(offer_id)
            out.append(cmd.HangupChannel(uniqueid=offer_id, reason=reason))
            self._event(call, kind, now, out, agent=offer.agent_id, offer_id=offer_id)
            self._release_agent(offer.agent_id, now, out, missed=False)
        call.offer_ids.clear()

    def _reconcile(self, e: ev.AsteriskReconnected, now: float, out: list[cmd.Command]) -> None:
        # Whatever ended while the link was down: its hang-up event is lost, so settle it now.
        for call in list(self.calls.values()):
            if call.state is not CallState.ENDED and call.uniqueid not in e.live_uniqueids:
                self._channel_hung_up(ev.ChannelHungUp(uniqueid=call.uniqueid, cause="gone while AMI was down"), now, out)
        for offer in list(self.offers.values()):
            if offer.offer_id not in e.live_uniqueids:
                self._channel_hung_up(ev.ChannelHungUp(uniqueid=offer.offer_id, cause="gone while AMI was down"), now, out)

    def _shut_down(self, now: float, out: list[cmd.Command]) -> None:
        """Stopping: no caller is left in silence and no record is left open.

        Waiting callers go back to the dialplan's apology (``hotline`` priority
        ``unavailable``) and are recorded as failed; ringing legs are hung up. Connected
        calls go on in Asterisk without us: their summary says answered, end unknown.
        Every agent's current state is closed as an interval.
        """
        for call in list(self.calls.values()):
            if call.state is CallState.CONNECTED:
                call.outcome = CallOutcome.ANSWERED
                self._event(call, "call_unfollowed", now, out, reason="ccqueue stopped during the call")
                self._summary(call, out)
                continue
            self._leave_line(call, now, out)
            out.append(
                cmd.RedirectCaller(
                    call_id=call.call_id, channel=call.channel, context="hotline", exten=call.hotline, priority="unavailable"
                )
            )
            self._end_call(call, CallOutcome.FAILED, now, out, reason="ccqueue stopping")
        for offer in list(self.offers.values()):
            record = self.callbacks.get(offer.callback_id or "")
            if record is not None and not offer.claimed:  # ringing an agent: it waits for the next start
                del self.offers[offer.offer_id]
                out.append(cmd.HangupChannel(uniqueid=offer.offer_id, reason="ccqueue stopping"))
                self._callback_write(cb.revise(record, status=CallbackStatus.PENDING, agent=None), out)
        for agent in self.agents.values():
            if agent.state is not AgentState.LOGGED_OUT:
                agent.interval_seq += 1
                out.append(
                    cmd.Write(
                        record=AgentStateRecord(
                            interval_id=f"{agent.agent_id}:{agent.interval_seq}",
                            agent_id=agent.agent_id,
                            state=agent.state.value,
                            reason=agent.reason,
                            started_at=agent.since,
                            ended_at=now,
                        )
                    )
                )

    def _end_call(self, call: Call, outcome: CallOutcome, now: float, out: list[cmd.Command], *, reason: str) -> None:
        if call.in_line:
            self.router.dequeue(call.call_id)
            call.in_line = False
        call.state = CallState.ENDED
        call.outcome = outcome
        call.ended_at = now
        self._event(call, "call_ended", now, out, outcome=outcome.value, reason=reason)
        if outcome is CallOutcome.ABANDONED:
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=None, reason=reason))
        self._summary(call, out)
        self._by_uniqueid.pop(call.uniqueid, None)
        del self.calls[call.call_id]

    # ------------------------------------------------------------------ agents

    def _agent_requested(self, e: ev.AgentRequested, now: float, out: list[cmd.Command]) -> None:
        agent = self.agents.get(e.agent_id)
        if agent is None:
            raise UnknownAgent(e.agent_id)
        trigger = AgentTrigger(e.action.value)
        self._move(agent, trigger, now, out, reason=e.reason)
        self._sync_router(agent, now)
        if agent.state in (AgentState.PAUSED, AgentState.LOGGED_OUT):
            self._last_agent_left(e.agent_id, now, out)

    def _release_agent(
        self, agent_id: str, now: float, out: list[cmd.Command], *, missed: bool, queue: str | None = None
    ) -> None:
        agent = self.agents[agent_id]
        idle_since = agent.idle_since
        self._move(agent, AgentTrigger.RING_ENDED, now, out)
        agent.idle_since = idle_since  # a ring that came to nothing does not reset idle time
        if missed:
            settings = self.settings.queues.get(queue or "") or self._queue_of_agent(agent_id)
            agent.missed_until = now + settings.missed_cooldown_s
            self._start_timer(agent.missed_until, "missed", agent.agent_id)
            self._count_miss(agent, settings, now, out)
        self._apply_deferred(agent, now, out)
        self._sync_router(agent, now)

    def _count_miss(self, agent: AgentStatus, settings: QueueSettings, now: float, out: list[cmd.Command]) -> None:
        if settings.auto_pause_after is None:
            return
        agent.misses.append(now)
        while agent.misses and agent.misses[0] <= now - settings.auto_pause_window_s:
            agent.misses.pop(0)
        if len(agent.misses) >= settings.auto_pause_after and agent.state is AgentState.AVAILABLE:
            agent.misses.clear()
            self._move(agent, AgentTrigger.PAUSE, now, out, reason=settings.auto_pause_reason)
            out.append(cmd.NotifyAgentPaused(agent_id=agent.agent_id, reason=settings.auto_pause_reason))

    def _timers(self, now: float, out: list[cmd.Command]) -> None:
        while self._timers_heap and self._timers_heap[0][0] <= now:
            timer = heapq.heappop(self._timers_heap)
            if not self._timer_live(timer):
                continue
            _, _, kind, key = timer
            if kind == "offer":
                out.append(cmd.HangupChannel(uniqueid=key, reason="ring timeout passed unreported"))
                self._offer_failed(key, ev.RingFailure.NO_ANSWER, now, out)
            elif kind == "announce":
                self._announce(self.calls[key], now, out)
            elif kind == "periodic":
                self._periodic(self.calls[key], now, out)
            elif kind == "max_wait":
                call = self.calls[key]
                if call.state is CallState.WAITING:  # one ringing now gets its chance first
                    self._overflow(call, Overflow.MAX_WAIT, now, out, waited_s=now - call.arrived_at)
            elif kind == "forecast":
                self._forecast_again(self.calls[key], now, out)
            elif kind == "cb_offer":
                call = self.calls[key]
                if call.state is CallState.WAITING:
                    self._event(call, "callback_offered", now, out, after_s=now - call.arrived_at)
                    self._ask_about_callback(call, out, release_if_declined=False)
            elif kind == "cb_ready":
                self._callback_ready(self.callbacks[key], now)
            elif kind == "cb_expire":
                self._callback_closed(self.callbacks[key], CallbackStatus.EXPIRED, now, out)
            elif kind == "wrap_up":
                agent = self.agents[key]
                self._move(agent, AgentTrigger.WRAP_UP_DONE, now, out)
                agent.idle_since = now
                self._apply_deferred(agent, now, out)
                self._sync_router(agent, now)
            else:  # a missed-call cooldown is over
                agent = self.agents[key]
                agent.missed_until = 0.0
                self._sync_router(agent, now)

    def _apply_deferred(self, agent: AgentStatus, now: float, out: list[cmd.Command]) -> None:
        if agent.state is AgentState.AVAILABLE and agent.deferred is not None:
            trigger, reason = agent.deferred, agent.deferred_reason
            agent.deferred = agent.deferred_reason = None
            self._move(agent, trigger, now, out, reason=reason)

    def _move(self, agent: AgentStatus, trigger: AgentTrigger, now: float, out: list[cmd.Command], *, reason: str | None = None) -> None:
        was, was_since, was_reason = agent.state, agent.since, agent.reason
        agent.move(trigger, now=now, reason=reason)
        self._restaff(agent, now)  # a deferred pause changes who serves, not the state
        if (agent.state, agent.reason) == (was, was_reason) and agent.since == was_since:
            return
        if agent.state is AgentState.AVAILABLE and was is not AgentState.AVAILABLE:
            agent.idle_since = now
        if was is not AgentState.LOGGED_OUT or agent.interval_seq > 0:
            agent.interval_seq += 1
            out.append(
                cmd.Write(
                    record=AgentStateRecord(
                        interval_id=f"{agent.agent_id}:{agent.interval_seq}",
                        agent_id=agent.agent_id,
                        state=was.value,
                        reason=was_reason,
                        started_at=was_since,
                        ended_at=now,
                    )
                )
            )

    def _device_state(self, e: ev.DeviceStateChanged, now: float) -> None:
        agent_id = self._by_endpoint.get(e.device)
        if agent_id is None:
            return
        agent = self.agents[agent_id]
        agent.device_ok = e.state in DEVICE_FREE
        self._sync_router(agent, now)

    def _sync_router(self, agent: AgentStatus, now: float) -> None:
        self._restaff(agent, now)
        if agent.state is AgentState.AVAILABLE and agent.missed_until <= now and agent.device_ok:
            self.router.agent_ready(agent.agent_id, idle_since=agent.idle_since)
        else:
            self.router.agent_not_ready(agent.agent_id)

    def _add_agent(self, agent: AgentSettings) -> None:
        self.agents[agent.agent_id] = AgentStatus(agent_id=agent.agent_id)
        self.router.upsert_agent(agent.agent_id, queues=agent.queues, skills=dict(agent.skills), order=agent.order)

    # ------------------------------------------------------------------ routing

    def _dispatch(self, now: float, out: list[cmd.Command]) -> None:
        for assignment in self.router.assign(now):
            if assignment.call_id.startswith(cb.ROUTER_PREFIX):
                self._offer_callback(assignment.call_id.removeprefix(cb.ROUTER_PREFIX), assignment.agent_ids, now, out)
                continue
            call = self.calls[assignment.call_id]
            call.in_line = False
            settings = self.settings.queues[call.queue or ""]
            call.state = CallState.OFFERING
            for agent_id in assignment.agent_ids:
                call.offers_made += 1
                offer_id = f"{call.call_id}.{call.offers_made}"
                call.offer_ids.add(offer_id)
                self._event(call, "agent_offered", now, out, agent=agent_id, offer_id=offer_id)
                self._ring_agent(
                    Offer(offer_id=offer_id, call_id=call.call_id, agent_id=agent_id, expires_at=0.0, offered_at=now),
                    queue=settings.name,
                    ring_timeout_s=settings.ring_timeout_s,
                    caller_id=call.caller,
                    now=now,
                    out=out,
                )

    def _ring_agent(
        self, offer: Offer, *, queue: str, ring_timeout_s: float, caller_id: str, now: float, out: list[cmd.Command]
    ) -> None:
        """Ring the offer's agent: the offer is live until Asterisk reports on it, or its backstop."""
        offer.expires_at = now + ring_timeout_s + OFFER_GRACE_S
        self.offers[offer.offer_id] = offer
        self._ringing[offer.offer_id] = (queue, offer.call_id)
        self._start_timer(offer.expires_at, "offer", offer.offer_id)
        self._move(self.agents[offer.agent_id], AgentTrigger.OFFER, now, out)
        out.append(
            cmd.OriginateAgent(
                offer_id=offer.offer_id,
                call_id=offer.call_id,
                agent_id=offer.agent_id,
                endpoint=self.settings.agents[offer.agent_id].endpoint,
                ring_timeout_s=ring_timeout_s,
                caller_id=caller_id,
            )
        )

    # ------------------------------------------------------------------ records

    def _event(self, call: Call, kind: str, now: float, out: list[cmd.Command], **data: Any) -> None:
        seq = call.seq
        call.seq += 1
        out.append(
            cmd.Write(
                record=CallEventRecord(
                    event_id=f"{call.call_id}:{seq}", call_id=call.call_id, seq=seq, at=now, kind=kind, data=data
                )
            )
        )

    def _summary(self, call: Call, out: list[cmd.Command]) -> None:
        call.version += 1
        out.append(
            cmd.Write(
                record=CallRecord(
                    call_id=call.call_id,
                    version=call.version,
                    caller=call.caller,
                    hotline=call.hotline,
                    queue=call.queue,
                    agent=call.agent_id,
                    arrived_at=call.arrived_at,
                    answered_at=call.answered_at,
                    ended_at=call.ended_at,
                    outcome=call.outcome,
                    channel=call.channel,
                )
            )
        )

    # ------------------------------------------------------------------ helpers

    def _wrapup_s(self, agent_id: str, queue: str | None) -> float:
        override = self.settings.agents[agent_id].wrapup_s
        if override is not None:
            return override
        settings = self.settings.queues.get(queue or "")
        return settings.wrapup_s if settings is not None else 0.0

    def _queue_of_agent(self, agent_id: str) -> QueueSettings:
        queues = self.settings.agents[agent_id].queues
        return self.settings.queues[queues[0]] if queues else QueueSettings(name="")



def _policy(q: QueueSettings) -> QueuePolicy:
    return QueuePolicy(name=q.name, strategy=q.strategy, weight=q.weight, steps=q.steps)
