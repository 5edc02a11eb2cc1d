"""The discrete-event simulator: the real call distributor, a virtual clock, made-up people.

Rules kept here:

1. The core decides everything, as live. The simulator plays Asterisk and the people:
   it feeds ``ccqueue.core.acd.Acd`` the events they would cause (agents log in, callers
   arrive, agents answer, calls end, callers lose patience) and carries out the
   commands it returns. Nothing of the core is replaced or bypassed.
2. Time is virtual. One heap holds every future event as ``(time, seq, kind, arg)``;
   ``seq`` breaks ties in the order events were scheduled, so a run is a function of
   the scenario alone. The core's own timers (wrap-up ends, ring timeouts, routing
   steps) are honoured by calling ``acd.tick`` at ``acd.next_deadline()``, before any
   event scheduled for a later moment.
3. Randomness comes from generators seeded by the scenario's seed, one per stream
   (arrivals, handle times, patience), so changing how patient callers are does not
   change who calls when: two scenarios differing in one respect compare like for like.
4. The people. Arrivals are Poisson per queue, piecewise constant in rate. An offered
   agent answers after ``answer_delay_s`` (or lets it ring out if that is longer than
   the queue's ring timeout); it then talks for a draw of ``handle_time`` and the caller
   hangs up; the queue's wrap-up follows, as the core decides. A caller not yet
   answered hangs up when its patience (a draw, or never) runs out.
5. The IVR. A caller of a scenario's IVR walks the very IVR machine a live call does
   (``ccqueue.core.ivr``), fed on the virtual clock: each prompt or value said takes
   ``prompt_s``, each key ``key_s``; at a menu, collect or language node the caller
   presses a key drawn from the scenario's shares for that node (or nothing, and the
   node's timeout passes). A CRM look-up fails at once (no CRM is simulated). The walk
   ends as live, by telling the core where the call goes (`CallRouted`,
   `CallbackRequested`, `CallFinished`); the caller's patience starts when it joins a
   queue.
6. Two estimates are recorded for every caller at the moment it joins: ccqueue's
   (``ccqueue.core.ewt.WaitEstimator``, fed only with what the engine would see) and
   app_queue's ``holdtime``, moved on every answer as Asterisk does
   (``holdtime = (3 * holdtime + wait) / 4``, from 0, announced as is). Both are then
   compared with the wait the caller had.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

from ccqueue.core import commands as cmd
from ccqueue.core import dialogue as dlg
from ccqueue.core import events as ev
from ccqueue.core import ivr
from ccqueue.core.acd import Acd, CallState
from ccqueue.core.errors import CcqueueError
from ccqueue.core.records import (
    CallbackRecord,
    CallEventRecord,
    CallOutcome,
    CallRecord,
)
from ccqueue.core.replies import ClaimAnswer
from ccqueue.core.waiting import Announcements
from ccqueue.sim.scenario import VIA_IVR, Distribution, IvrPlan, Scenario

__all__ = ["CallRow", "Simulation"]

# Event kinds, in no particular order; the heap orders by time and then by ``seq``.
_ARRIVE, _LOGIN, _LOGOUT, _CLAIM, _RING_OUT, _TALK_END, _PATIENCE, _DIAL_END, _CALLBACK_END, _IVR, _IVR_FINISH, _TELL = range(12)
# When draining, stop anyway this long after the end of the day: a queue nobody serves
# and nobody leaves never empties.
_DRAIN_LIMIT_S = 86_400.0
# When a queue without announcements of its own would make its first: the product's default.
FIRST_ANNOUNCEMENT_S = Announcements().first_after_s
# Call outcomes by which ccqueue let a caller go unanswered, as CallRow.released says.
_RELEASES = {
    CallOutcome.REFUSED: "refused",
    CallOutcome.OVERFLOWED: "overflowed",
    CallOutcome.CALLBACK: "callback",
    CallOutcome.VOICEMAIL: "voicemail",
    CallOutcome.SELF_SERVICE: "self_service",
    CallOutcome.TRANSFERRED: "transferred",
}


@dataclass(slots=True, kw_only=True)
class CallRow:
    """One simulated caller: what it was told on joining and what then happened."""

    call_id: str
    queue: str  # VIA_IVR until the IVR sends the caller to a queue
    uniqueid: str
    arrived_at: float
    position: int = 0
    ewt_s: float = math.nan
    ewt_low_s: float = math.nan
    ewt_high_s: float = math.nan
    ewt_confident: bool = False
    holdtime_s: float = math.nan  # app_queue's announcement
    # At the queue's first announcement, to a caller still waiting with no agent ringing:
    # the wait left as ccqueue would tell it, and as app_queue would (|holdtime - waited|).
    told_at: float = math.nan
    told_s: float = math.nan
    told_low_s: float = math.nan
    told_high_s: float = math.nan
    told_confident: bool = False
    holdtime_told_s: float = math.nan
    answered_at: float | None = None
    abandoned_at: float | None = None
    offered_at: float = math.nan  # when the agent who answered was offered the call
    ended_at: float | None = None  # when the answered call ended
    agent_id: str | None = None
    patience_s: float = math.inf
    released: str | None = None  # why ccqueue let the caller go unanswered: "refused", "overflowed", "callback",
    # "voicemail", "self_service", "transferred"
    ivr_path: tuple[str, ...] = ()  # the IVR nodes the caller went through, in order
    ivr_s: float = 0.0  # time in the IVR before joining the queue (arrived_at is then the joining)

    @property
    def wait_s(self) -> float | None:
        return None if self.answered_at is None else self.answered_at - self.arrived_at


@dataclass(slots=True)
class _Offer:
    call_id: str
    agent_id: str
    offered_at: float
    live: bool = True


def _sampler(dist: Distribution, rng: random.Random) -> Callable[[], float]:
    if dist.kind == "exponential":
        rate = 1.0 / dist.mean_s
        return lambda: rng.expovariate(rate)
    if dist.kind == "lognormal":
        mu = math.log(dist.mean_s) - dist.sigma**2 / 2  # so that the mean is mean_s
        sigma = dist.sigma
        return lambda: rng.lognormvariate(mu, sigma)
    mean = dist.mean_s
    return lambda: mean


class Simulation:
    """One run of one scenario. ``run()`` once, then read ``rows``."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.acd = Acd(scenario.settings, seed=scenario.seed)
        self.holdtime: dict[str, float] = dict.fromkeys(scenario.settings.queues, 0.0)
        self._first_after_s = {
            name: q.announcements.first_after_s for name, q in scenario.settings.queues.items() if q.announcements is not None
        }
        self.rows: dict[str, CallRow] = {}
        self.now = 0.0
        self._heap: list[tuple[float, int, int, str]] = []
        self._seq = 0
        seed = scenario.seed
        self._arrival_rng = random.Random(f"{seed}:arrivals")
        self._talk = _sampler(scenario.handle_time, random.Random(f"{seed}:handle"))
        self._patience = _sampler(scenario.patience, random.Random(f"{seed}:patience")) if scenario.patience else None
        self._offers: dict[str, _Offer] = {}
        self._unsettled = 0  # callers neither answered nor gone
        self._calls = 0
        # Callbacks: the caller's choice, the customer's phone, and how each one ended.
        self._choice_rng = random.Random(f"{seed}:callbacks")
        self.callback_results: dict[str, str] = {}  # callback id -> last status written
        # The IVR: each walk in progress, with the result its caller gives when the
        # action under way ends.
        self._ivr_rng = random.Random(f"{seed}:ivr")
        self._walks: dict[str, tuple[ivr.IvrCall, ivr.Result]] = {}
        self._finishes: dict[str, ev.CallFinished] = {}  # told the core once the goodbye or message is over

    # ------------------------------------------------------------------ the loop

    def run(self) -> list[CallRow]:
        scenario = self.scenario
        for plan in scenario.agents:
            self._push(plan.login_s, _LOGIN, plan.agent_id)
            if plan.logout_s is not None:
                self._push(plan.logout_s, _LOGOUT, plan.agent_id)
        for queue in scenario.arrivals:
            self._next_arrival(queue, 0.0)
        end = scenario.duration_s
        limit = end + _DRAIN_LIMIT_S if scenario.drain else end
        heap, acd = self._heap, self.acd
        deadline = acd.next_deadline()
        repeated = False  # a tick left a deadline at or before now: allowed once in a row
        while True:
            at = heap[0][0] if heap else math.inf
            if deadline is not None and deadline <= at:
                if deadline > limit:
                    break
                self.now = max(self.now, deadline)
                self._apply(acd.tick(self.now))
                deadline = acd.next_deadline()
                if deadline is not None and deadline <= self.now:
                    if repeated:
                        raise RuntimeError(f"acd.next_deadline() stays at {deadline} after a tick at {self.now}")
                    repeated = True
                continue
            if at > limit or (at > end and scenario.drain and self._unsettled == 0 and not acd.views.callbacks()):
                break
            at, _, kind, arg = heapq.heappop(heap)
            self.now = at
            repeated = False
            if self._event(kind, arg):
                deadline = acd.next_deadline()
        return list(self.rows.values())

    def _push(self, at: float, kind: int, arg: str) -> None:
        self._seq += 1
        heapq.heappush(self._heap, (at, self._seq, kind, arg))

    def _event(self, kind: int, arg: str) -> bool:
        """Carry out one scheduled event; True when the core was told something."""
        now, acd = self.now, self.acd
        if kind == _ARRIVE:
            self._arrive(arg)
        elif kind == _CLAIM:
            offer = self._offers.get(arg)
            if offer is None or not offer.live:
                return False
            handled = acd.handle_with_reply(ev.OfferClaimed(offer_id=arg), now)
            if isinstance(handled.reply, ClaimAnswer):  # the agent leg learns first, as over FastAGI
                self._answered(handled.reply)
            self._apply(handled.commands)
        elif kind == _RING_OUT:
            offer = self._offers.pop(arg, None)
            if offer is None or not offer.live:
                return False
            self._apply(acd.handle(ev.OfferFailed(offer_id=arg, failure=ev.RingFailure.NO_ANSWER), now))
        elif kind == _TALK_END:
            row = self.rows[arg]
            row.ended_at = now
            self._apply(acd.handle(ev.ChannelHungUp(uniqueid=row.uniqueid, cause="normal clearing"), now))
        elif kind == _PATIENCE:
            call = acd.views.caller(arg)
            if call is None or call.state not in (CallState.WAITING, CallState.OFFERING):
                return False
            row = self.rows[arg]
            row.abandoned_at = now
            self._unsettled -= 1
            self._apply(acd.handle(ev.ChannelHungUp(uniqueid=row.uniqueid, cause="caller gave up"), now))
        elif kind == _DIAL_END:
            offer_id, _, status = arg.partition(" ")
            self._apply(acd.handle(ev.DialEnded(uniqueid=offer_id, status=status), now))
            if status == "ANSWER":
                self._push(now + self._talk(), _CALLBACK_END, offer_id)
            else:
                self._apply(acd.handle(ev.ChannelHungUp(uniqueid=offer_id, cause="no answer"), now))
        elif kind == _CALLBACK_END:
            self._apply(acd.handle(ev.ChannelHungUp(uniqueid=arg, cause="normal clearing"), now))
        elif kind == _IVR:
            walk, result = self._walks.pop(arg)
            self._walk(arg, walk, walk.feed(result, now=now))
        elif kind == _IVR_FINISH:
            self._apply(acd.handle(self._finishes.pop(arg), now))
        elif kind == _TELL:
            self._tell(self.rows[arg])
            return False
        elif kind == _LOGIN:
            self._apply(acd.handle(ev.AgentRequested(agent_id=arg, action=ev.AgentAction.LOGIN), now))
        elif kind == _LOGOUT:
            self._apply(acd.handle(ev.AgentRequested(agent_id=arg, action=ev.AgentAction.LOGOUT), now))
        return True

    # ------------------------------------------------------------------ callers

    def _next_arrival(self, queue: str, after: float) -> None:
        """Schedule the queue's next Poisson arrival after ``after`` (piecewise rates)."""
        t = after
        for segment in self.scenario.arrivals[queue]:
            if segment.until_s <= t or segment.per_s <= 0:
                continue
            t = max(t, segment.start_s)
            t += self._arrival_rng.expovariate(segment.per_s)
            if t < segment.until_s:
                self._push(t, _ARRIVE, queue)
                return
            t = segment.until_s  # memoryless: start afresh in the next segment

    def _arrive(self, queue: str) -> None:
        now, acd = self.now, self.acd
        self._calls += 1
        n = self._calls
        call_id, uniqueid = f"c{n}", f"u{n}"
        row = self.rows[call_id] = CallRow(call_id=call_id, queue=queue, uniqueid=uniqueid, arrived_at=now)
        self._unsettled += 1
        out = acd.handle(
            ev.CallArrived(
                call_id=call_id,
                hotline=self.scenario.hotline_of[queue],
                caller=f"+1555{n:07d}",
                channel=f"SIM/caller-{n}",
                uniqueid=uniqueid,
            ),
            now,
        )
        if queue == VIA_IVR:
            self._apply(out)  # a RunIvr among them starts the walk
        else:
            self._joined(row, out)
        self._next_arrival(queue, now)

    def _joined(self, row: CallRow, out: list[cmd.Command]) -> None:
        """The caller is in a queue (or was refused at its door): what it was told, its patience."""
        now, acd, call_id = self.now, self.acd, row.call_id
        for command in out:  # the place the core gave the caller, before any agent took it
            if isinstance(command, cmd.Write) and isinstance(command.record, CallEventRecord):
                if command.record.kind == "call_queued":
                    row.position = int(command.record.data["position"])
        self._apply(out)
        call = acd.views.caller(call_id)
        estimate = call.ewt_at_entry if call is not None else None
        if estimate is not None:  # None: refused at the door, no wait was promised
            row.ewt_s, row.ewt_low_s, row.ewt_high_s = estimate.seconds, estimate.low, estimate.high
            row.ewt_confident = estimate.confident
        row.holdtime_s = self.holdtime.get(row.queue, math.nan)
        if self._patience is not None and call is not None and call.state in (CallState.WAITING, CallState.OFFERING):
            row.patience_s = self._patience()
            self._push(now + row.patience_s, _PATIENCE, call_id)
        if call is not None and call.state in (CallState.WAITING, CallState.OFFERING):
            self._push(max(now, row.arrived_at + self._first_after_s.get(row.queue, FIRST_ANNOUNCEMENT_S)), _TELL, call_id)

    def _tell(self, row: CallRow) -> None:
        """The caller's first announcement is due: what each estimator would tell it now."""
        call = self.acd.views.caller(row.call_id)
        if call is None or call.state is not CallState.WAITING:
            return  # answered, gone, or an agent's phone ringing: no announcement
        now = self.now
        estimate = self.acd.wait_estimate(row.call_id, now)
        if estimate is None:
            return
        row.told_at = now
        row.told_s, row.told_low_s, row.told_high_s = estimate.seconds, estimate.low, estimate.high
        row.told_confident = estimate.confident
        # app_queue says the queue's holdtime less what the caller has waited, as a
        # distance: abs((holdtime + 30) - waited) / 60, rounded down to minutes (the
        # rounding is left out here, as for ccqueue's own figure).
        row.holdtime_told_s = abs(self.holdtime.get(row.queue, 0.0) - (now - row.arrived_at))

    # ------------------------------------------------------------------ the IVR

    def _start_walk(self, command: cmd.RunIvr) -> None:
        plan = self.scenario.ivr
        tree = None if plan is None else plan.trees.get(command.entry)
        if tree is None:  # parse_scenario checks every tree named: not reached
            raise RuntimeError(f"no IVR tree {command.entry!r} in this scenario")
        n = command.call_id.lstrip("c")
        walk = ivr.IvrCall(tree, caller=f"+1555{int(n):07d}" if n.isdigit() else "", language=command.language,
                           hotline=self.scenario.hotline_of[VIA_IVR])  # fmt: skip
        self._walk(command.call_id, walk, walk.start(now=self.now))

    def _walk(self, call_id: str, walk: ivr.IvrCall, step: ivr.Step) -> None:
        """Go on through the walk until the caller spends time on an action, or it ends."""
        plan = self.scenario.ivr
        assert plan is not None
        row = self.rows[call_id]
        while True:
            row.ivr_path += tuple(e.data["node"] for e in step.timeline if e.kind == "ivr_node")
            for entry in step.timeline:
                self._apply(self.acd.handle(ev.CallProgressed(call_id=call_id, kind=entry.kind, data=dict(entry.data)), self.now))
            if step.final:
                self._walk_ended(row, step.action, plan)
                return
            result, spent = self._caller_does(walk, step.action, plan)
            if spent > 0:
                self._walks[call_id] = (walk, result)
                self._push(self.now + spent, _IVR, call_id)
                return
            step = walk.feed(result, now=self.now)

    def _caller_does(self, walk: ivr.IvrCall, action: ivr.Action, plan: IvrPlan) -> tuple[ivr.Result, float]:
        """What the caller answers to ``action``, and after how long."""
        match action:
            case dlg.Play(prompts=prompts):
                return dlg.Heard(), plan.prompt_s * len(prompts)
            case dlg.Say():
                return dlg.Heard(), plan.prompt_s
            case dlg.SetLanguage():
                return dlg.Heard(), 0.0
            case ivr.FetchJson():
                return ivr.LookupFailed("no CRM in a simulation"), 0.0
            case dlg.Collect(prompts=prompts, timeout_s=timeout_s):
                key = self._key(plan, walk.node_name)
                heard = plan.prompt_s * len(prompts)
                if not key:
                    return dlg.TimedOut(), heard + timeout_s
                return dlg.Pressed(key), heard + plan.key_s * len(key)
        raise TypeError(f"not an IVR request: {action!r}")

    def _key(self, plan: IvrPlan, node: str) -> str:
        """The key the caller presses at ``node``, drawn by the scenario's shares ('' none)."""
        shares = plan.keys.get(node)
        if not shares:
            return ""
        draw = self._ivr_rng.random()
        for key, share in shares:
            draw -= share
            if draw < 0:
                return key
        return shares[-1][0]

    def _walk_ended(self, row: CallRow, outcome: ivr.Action, plan: IvrPlan) -> None:
        now, acd, call_id = self.now, self.acd, row.call_id
        match outcome:
            case ivr.RouteToQueue():
                row.queue = outcome.queue
                row.ivr_s, row.arrived_at = now - row.arrived_at, now  # waits count from joining the queue
                routed = ev.CallRouted(call_id=call_id, queue=outcome.queue, priority=outcome.priority,
                                       language=outcome.language, preferred_agent=outcome.preferred_agent,
                                       attributes=dict(outcome.variables),
                                       skills=dict(outcome.skills) if outcome.skills is not None else None)  # fmt: skip
                self._joined(row, acd.handle(routed, now))
            case ivr.RequestCallback(queue=queue, number=number):
                try:
                    self._apply(acd.handle(ev.CallbackRequested(callback_id=f"k{call_id}", number=number,
                                                                call_id=call_id, queue=queue), now))  # fmt: skip
                except CcqueueError as exc:  # e.g. no callbacks in this scenario
                    self._finish(call_id, ev.Finish.SELF_SERVICE, exc.error_id)
            case ivr.LeaveMessage(max_s=max_s):
                data = {"path": f"sim/{call_id}.wav", "max_s": max_s, "caller_hung_up": False}
                self._later_finish(call_id, min(max_s, plan.message_s) + (plan.prompt_s if outcome.prompt else 0.0),
                                   ev.Finish.VOICEMAIL, "ivr", data)  # fmt: skip
            case ivr.TransferCall(to=to, context=context):
                self._finish(call_id, ev.Finish.TRANSFERRED, "ivr", {"to": to, "context": context, "status": "ANSWER"})
            case ivr.HangUp(prompts=prompts, reason=reason):
                self._later_finish(call_id, plan.prompt_s * len(prompts), ev.Finish.SELF_SERVICE, reason, {})

    def _later_finish(self, call_id: str, after_s: float, finish: ev.Finish, reason: str, data: dict[str, object]) -> None:
        # The caller still hears the goodbye or leaves the message: the core is told when
        # that is over, as the live IVR runner tells it.
        self._finish(call_id, finish, reason, data, at=self.now + after_s)

    def _finish(
        self, call_id: str, finish: ev.Finish, reason: str, data: dict[str, object] | None = None, *, at: float | None = None
    ) -> None:
        if at is not None and at > self.now:
            self._finishes[call_id] = ev.CallFinished(call_id=call_id, finish=finish, reason=reason, data=data or {})
            self._push(at, _IVR_FINISH, call_id)
            return
        self._apply(self.acd.handle(ev.CallFinished(call_id=call_id, finish=finish, reason=reason, data=data or {}), self.now))

    # ------------------------------------------------------------------ commands

    def _apply(self, out: list[cmd.Command]) -> None:
        now = self.now
        for command in out:
            kind = type(command)
            if kind is cmd.OriginateAgent:
                assert isinstance(command, cmd.OriginateAgent)
                self._offers[command.offer_id] = _Offer(command.call_id, command.agent_id, now)
                delay = self.scenario.answer_delay_s
                if delay < command.ring_timeout_s:
                    self._push(now + delay, _CLAIM, command.offer_id)
                else:
                    self._push(now + command.ring_timeout_s, _RING_OUT, command.offer_id)
            elif kind is cmd.RunIvr:
                assert isinstance(command, cmd.RunIvr)
                self._start_walk(command)
            elif kind is cmd.OfferCallback:
                assert isinstance(command, cmd.OfferCallback)
                self._callback_choice(command)
            elif kind is cmd.ReleaseCaller or kind is cmd.RecordMessage:
                assert isinstance(command, (cmd.ReleaseCaller, cmd.RecordMessage))
                self._released(command.call_id)
            elif kind is cmd.Write:
                assert isinstance(command, cmd.Write)
                record = command.record
                if isinstance(record, CallRecord) and record.outcome in _RELEASES and record.call_id in self.rows:
                    self.rows[record.call_id].released = _RELEASES[record.outcome]
                elif isinstance(record, CallbackRecord):
                    self.callback_results[record.callback_id] = record.status.value
            elif kind is cmd.HangupChannel:
                assert isinstance(command, cmd.HangupChannel)
                offer = self._offers.pop(command.uniqueid, None)
                if offer is not None:
                    offer.live = False

    def _answered(self, answer: ClaimAnswer) -> None:
        offer = self._offers.pop(answer.offer_id, None)
        if offer is not None and answer.caller_uniqueid is not None:
            self._connected(offer)
        elif offer is not None and answer.dial is not None:
            self._dial_customer(answer.offer_id)

    def _released(self, call_id: str) -> None:
        """The caller leaves unanswered by ccqueue's decision (or after giving up)."""
        row = self.rows.get(call_id)
        if row is None or row.abandoned_at is not None or row.answered_at is not None or row.ended_at is not None:
            return
        row.ended_at = self.now
        self._unsettled -= 1

    def _callback_choice(self, offer: cmd.OfferCallback) -> None:
        sim = self.scenario.callbacks
        accept = sim.accept if sim is not None else 0.0
        if self._choice_rng.random() < accept:
            event: ev.Event = ev.CallbackRequested(callback_id=f"k{offer.call_id}", number=offer.number, call_id=offer.call_id)
        else:
            event = ev.CallbackDeclined(call_id=offer.call_id)
        self._apply(self.acd.handle(event, self.now))

    def _dial_customer(self, offer_id: str) -> None:
        """The agent's leg dials the customer: answered after ``ring_s``, or not."""
        sim = self.scenario.callbacks
        assert sim is not None
        if self._choice_rng.random() < sim.answer:
            self._push(self.now + sim.ring_s, _DIAL_END, f"{offer_id} ANSWER")
        else:
            self._push(self.now + sim.ring_s * 3, _DIAL_END, f"{offer_id} NOANSWER")

    def _connected(self, offer: _Offer) -> None:
        now = self.now
        row = self.rows[offer.call_id]
        row.answered_at = now
        row.agent_id = offer.agent_id
        self._unsettled -= 1
        wait = now - row.arrived_at
        held = self.holdtime[row.queue]
        self.holdtime[row.queue] = (3 * held + wait) / 4
        row.offered_at = offer.offered_at
        self._push(now + self._talk(), _TALK_END, offer.call_id)
