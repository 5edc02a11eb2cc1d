"""The call distributor: calls wait, agents are offered calls, one claim wins.

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

import enum
import heapq
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.agent_state import AgentState, AgentStatus, AgentTrigger
from ccqueue.core.errors import UnknownAgent
from ccqueue.core.records import AgentStateRecord, CallEventRecord, CallOutcome, CallRecord
from ccqueue.core.routing import QueuePolicy, Router, Strategy
from ccqueue.core.skills import RoutingStep

# Asterisk device states in which an agent's phone can take a call. UNKNOWN is taken as
# free: not knowing must not stop calls (Asterisk reports it before the first
# registration event on some endpoints).
DEVICE_FREE = frozenset({"NOT_INUSE", "UNKNOWN"})

# Extra time past the ring timeout before we stop trusting Asterisk to report the end of
# an unanswered agent leg and cancel it ourselves.
OFFER_GRACE_S = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSettings:
    name: str
    strategy: Strategy = Strategy.LONGEST_IDLE
    ring_timeout_s: float = 15.0  # app_queue's default 'timeout' is 15 s as well
    wrapup_s: float = 5.0
    missed_cooldown_s: float = 10.0
    moh_class: str = "default"
    weight: float = 1.0
    priority: int = 0
    steps: tuple[RoutingStep, ...] = (RoutingStep(),)
    returning_window_s: float | None = None  # None: no returning-customer preference
    returning_wait_s: float = 20.0
    auto_pause_after: int | None = None  # None: never auto-pause
    auto_pause_window_s: float = 600.0
    auto_pause_reason: str = "missed-calls"


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentSettings:
    agent_id: str
    name: str
    endpoint: str  # the dial string, e.g. PJSIP/agent1
    queues: tuple[str, ...]
    skills: Mapping[str, int] = field(default_factory=dict)
    wrapup_s: float | None = None
    order: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class HotlineSettings:
    number: str
    queue: str
    greeting: str | None = "ccqueue/welcome"


@dataclass(frozen=True, slots=True, kw_only=True)
class AcdSettings:
    queues: Mapping[str, QueueSettings]
    agents: Mapping[str, AgentSettings]
    hotlines: Mapping[str, HotlineSettings]
    refusal_sound: str = "ccqueue/unavailable"


class CallState(enum.Enum):
    WAITING = "waiting"
    OFFERING = "offering"
    CONNECTED = "connected"
    ENDED = "ended"


@dataclass(slots=True, kw_only=True)
class Call:
    call_id: str
    hotline: str
    caller: str
    channel: str
    uniqueid: str
    queue: str | None
    arrived_at: float
    state: CallState = CallState.WAITING
    offer_ids: set[str] = field(default_factory=set)  # live offers: one, or several when ringing all
    agent_id: str | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: CallOutcome = CallOutcome.WAITING
    offers_made: int = 0
    seq: int = 0
    version: int = 0


@dataclass(slots=True, kw_only=True)
class Offer:
    offer_id: str
    call_id: str
    agent_id: str
    expires_at: float
    claimed: bool = False


class Acd:
    """All calls, agents and offers of one ccqueue process."""

    def __init__(self, settings: AcdSettings, *, seed: int = 0) -> None:
        self.settings = settings
        self.router = Router([_policy(q) for q in settings.queues.values()], seed=seed)
        self.calls: dict[str, Call] = {}
        self.agents: dict[str, AgentStatus] = {}
        self.offers: dict[str, Offer] = {}
        self._by_uniqueid: dict[str, str] = {}  # caller uniqueid -> call_id
        self._by_endpoint = {a.endpoint: a.agent_id for a in settings.agents.values()}
        # (queue, caller number) -> (agent, when their last call ended), oldest first
        self._recent: dict[tuple[str, str], tuple[str, float]] = {}
        # How far back any queue looks for a returning customer; older entries are dropped.
        self._recent_horizon = max((q.returning_window_s or 0.0 for q in settings.queues.values()), default=0.0)
        self._timers_heap: list[tuple[float, int, str, str]] = []
        self._timer_seq = 0
        for agent in settings.agents.values():
            self._add_agent(agent)

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
        queue = hotline.queue if hotline else None
        call = Call(
            call_id=e.call_id,
            hotline=e.hotline,
            caller=e.caller,
            channel=e.channel,
            uniqueid=e.uniqueid,
            queue=queue,
            arrived_at=now,
        )
        self.calls[e.call_id] = call
        self._by_uniqueid[e.uniqueid] = e.call_id
        self._event(call, "call_arrived", now, out, caller=e.caller, hotline=e.hotline, channel=e.channel)
        if hotline is None or queue is None or queue not in self.settings.queues:
            self._end_call(call, CallOutcome.REFUSED, now, out, reason="no queue for this hotline")
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=self.settings.refusal_sound, reason="unknown hotline"))
            return
        settings = self.settings.queues[queue]
        self._summary(call, out)
        self._event(call, "call_queued", now, out, queue=queue)
        if hotline.greeting:
            out.append(cmd.PlayToCaller(call_id=call.call_id, sound=hotline.greeting))
        out.append(cmd.HoldCaller(call_id=call.call_id, moh_class=settings.moh_class))
        preferred, until = self._returning(call, settings, now)
        if preferred is not None:
            self._event(call, "returning_customer", now, out, agent=preferred, until=until)
        self._enqueue(call, preferred=preferred, until=until)

    def _enqueue(self, call: Call, *, preferred: str | None = None, until: float | None = None) -> None:
        settings = self.settings.queues[call.queue or ""]
        self.router.enqueue(
            call.call_id,
            queue=settings.name,
            arrived_at=call.arrived_at,
            priority=settings.priority,
            preferred_agent=preferred,
            preferred_until=until,
        )

    def _returning(self, call: Call, settings: QueueSettings, now: float) -> tuple[str | None, float | None]:
        """The agent this caller spoke to recently, if the queue prefers them, and until when."""
        window = settings.returning_window_s
        while self._recent:  # forget what no queue's window reaches any more (oldest first)
            key, (_, ended) = next(iter(self._recent.items()))
            if ended >= now - self._recent_horizon:
                break
            del self._recent[key]
        if window is None or not call.caller:
            return None, None
        last = self._recent.get((settings.name, call.caller))
        if last is None or last[1] < now - window or last[0] not in self.agents:
            return None, None
        return last[0], now + settings.returning_wait_s

    def _channel_hung_up(self, e: ev.ChannelHungUp, now: float, out: list[cmd.Command]) -> None:
        offer = self.offers.get(e.uniqueid)
        if offer is not None:
            self._agent_leg_gone(offer, now, out)
            return
        call_id = self._by_uniqueid.get(e.uniqueid)
        call = self.calls.get(call_id) if call_id else None
        if call is None or call.state is CallState.ENDED:
            return
        if call.state is CallState.WAITING:
            self.router.dequeue(call.call_id)
            self._end_call(call, CallOutcome.ABANDONED, now, out, reason="caller hung up while waiting")
        elif call.state is CallState.OFFERING:
            self._withdraw_offers(call, now, out, kind="offer_cancelled", reason="caller hung up while agent rang")
            self._end_call(call, CallOutcome.ABANDONED, now, out, reason="caller hung up while agent rang")
        else:  # CONNECTED
            self._hang_up_connected(call, now, out, by="caller")

    def _agent_leg_gone(self, offer: Offer, now: float, out: list[cmd.Command]) -> None:
        call = self.calls[offer.call_id]
        if not offer.claimed:
            self._offer_failed(offer.offer_id, ev.RingFailure.NO_ANSWER, now, out)
            return
        self.offers.pop(offer.offer_id, None)
        if call.state is CallState.CONNECTED and call.agent_id == offer.agent_id:
            self._hang_up_connected(call, now, out, by="agent")

    def _hang_up_connected(self, call: Call, now: float, out: list[cmd.Command], *, by: str) -> None:
        assert call.agent_id is not None
        for offer_id in call.offer_ids:
            self.offers.pop(offer_id, None)
        call.offer_ids.clear()
        agent = self.agents[call.agent_id]
        wrapup = self._wrapup_s(call.agent_id, call.queue)
        self._move(agent, AgentTrigger.HANGUP, now, out)
        agent.wrap_up_until = now + wrapup
        self._start_timer(agent.wrap_up_until, "wrap_up", agent.agent_id)
        if call.queue is not None and call.caller:
            key = (call.queue, call.caller)
            self._recent.pop(key, None)  # re-insert: the dict stays ordered by end time
            self._recent[key] = (call.agent_id, now)
        self._end_call(call, CallOutcome.ANSWERED, now, out, reason=f"{by} hung up")

    def _channel_bridged(self, e: ev.ChannelBridged, now: float, out: list[cmd.Command]) -> None:
        call_id = self._by_uniqueid.get(e.uniqueid)
        call = self.calls.get(call_id) if call_id else None
        if call is not None and call.state is CallState.CONNECTED:
            self._event(call, "call_bridged", now, out, bridge_id=e.bridge_id)

    def _offer_claimed(self, e: ev.OfferClaimed, now: float, out: list[cmd.Command]) -> None:
        offer = self.offers.get(e.offer_id)
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
        self._event(call, "call_answered", now, out, agent=offer.agent_id, offer_id=offer.offer_id)
        self._summary(call, out)
        out.append(cmd.AnswerClaim(offer_id=offer.offer_id, caller_channel=call.channel, reason="claim granted"))

    def _offer_failed(self, offer_id: str, failure: ev.RingFailure, now: float, out: list[cmd.Command]) -> None:
        offer = self.offers.get(offer_id)
        if offer is None or offer.claimed:
            return  # already settled (a hang-up and an OriginateResponse both report it)
        del self.offers[offer_id]
        call = self.calls[offer.call_id]
        self._event(call, "offer_failed", now, out, agent=offer.agent_id, offer_id=offer_id, failure=failure.value)
        missed = failure is not ev.RingFailure.CANCELLED
        self._release_agent(offer.agent_id, now, out, missed=missed, queue=call.queue)
        call.offer_ids.discard(offer_id)
        if call.state is CallState.OFFERING and not call.offer_ids:
            call.state = CallState.WAITING
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
            if call.state is CallState.OFFERING:
                self._withdraw_offers(call, now, out, kind="offer_cancelled", reason="ccqueue stopping")
            elif call.state is CallState.WAITING:
                self.router.dequeue(call.call_id)
            out.append(
                cmd.RedirectCaller(
                    call_id=call.call_id, channel=call.channel, context="hotline", exten=call.hotline, priority="unavailable"
                )
            )
            self._end_call(call, CallOutcome.FAILED, now, out, reason="ccqueue stopping")
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
            call = self.calls[assignment.call_id]
            settings = self.settings.queues[call.queue or ""]
            call.state = CallState.OFFERING
            for agent_id in assignment.agent_ids:
                call.offers_made += 1
                offer = Offer(
                    offer_id=f"{call.call_id}.{call.offers_made}",
                    call_id=call.call_id,
                    agent_id=agent_id,
                    expires_at=now + settings.ring_timeout_s + OFFER_GRACE_S,
                )
                self.offers[offer.offer_id] = offer
                self._start_timer(offer.expires_at, "offer", offer.offer_id)
                call.offer_ids.add(offer.offer_id)
                self._move(self.agents[agent_id], AgentTrigger.OFFER, now, out)
                self._event(call, "agent_offered", now, out, agent=agent_id, offer_id=offer.offer_id)
                out.append(
                    cmd.OriginateAgent(
                        offer_id=offer.offer_id,
                        call_id=call.call_id,
                        agent_id=agent_id,
                        endpoint=self.settings.agents[agent_id].endpoint,
                        ring_timeout_s=settings.ring_timeout_s,
                        caller_id=call.caller,
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

