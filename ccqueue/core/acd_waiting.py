"""The distributor's rules for waiting callers: admission, overflow, wait estimates and
announcements (the pure rules are in ``ccqueue.core.waiting``; ``Acd`` applies them here).

A mixin of ``Acd``: its methods take the distributor as ``self`` and share its state.
"""

from __future__ import annotations

from typing import Any

from ccqueue.core import callbacks as cb
from ccqueue.core import commands as cmd
from ccqueue.core.acd_base import AcdBase
from ccqueue.core.agent_state import AgentState, AgentStatus
from ccqueue.core.calls import Call, CallState, QueueSettings, finite
from ccqueue.core.ewt import Estimate, Rival
from ccqueue.core.records import CallOutcome
from ccqueue.core.waiting import (
    FORECAST_EVERY_S,
    MAX_HOPS,
    Destination,
    DestinationKind,
    Overflow,
    position_prompts,
    refusal,
    wait_prompts,
)


class WaitingMixin(AcdBase):
    """Joining a queue, leaving it for an overflow destination, and what the caller hears."""

    def _join(
        self, call: Call, queue: str, now: float, out: list[cmd.Command], *, attributes: dict[str, str] | None = None
    ) -> None:
        """Admit the caller to ``queue`` or send it where the queue's rules say (waiting, rule 1)."""
        settings = self.settings.queues[queue]
        call.queue = queue
        self._summary(call, out)
        reason = refusal(settings.admission, waiting=self._in_line(queue), staffed=self._staffed(queue))
        if reason is not None:
            self._overflow(call, reason, now, out)
            return
        call.state = CallState.WAITING
        estimate = self._place_in_line(call, now)
        call.ewt_at_entry = estimate
        self._event(
            call,
            "call_queued",
            now,
            out,
            queue=queue,
            position=self.router.position(call.call_id),
            ewt_s=finite(estimate.seconds),
            ewt_low_s=finite(estimate.low),
            ewt_high_s=finite(estimate.high),
            ewt_confident=estimate.confident,
            **({"attributes": attributes} if attributes else {}),
        )
        out.append(cmd.HoldCaller(call_id=call.call_id, moh_class=settings.moh_class))
        if call.preferred_agent is not None:
            self._event(call, "returning_customer", now, out, agent=call.preferred_agent, until=None)
        self._schedule_waiting(call, settings, now)
        self._check_forecast(call, settings, estimate, now, out)

    def _place_in_line(self, call: Call, now: float) -> Estimate:
        """Put the call in the router (keeping its arrival time) and estimate its wait."""
        settings = self.settings.queues[call.queue or ""]
        preferred, until = call.preferred_agent, None
        if preferred is None:
            preferred, until = self._returning(call, settings, now)
            if preferred is not None:
                call.preferred_agent = preferred
        elif settings.returning_wait_s:
            until = now + settings.returning_wait_s
        self.router.enqueue(
            call.call_id,
            queue=settings.name,
            arrived_at=call.arrived_at,
            priority=settings.priority if call.priority is None else call.priority,
            preferred_agent=preferred,
            preferred_until=until,
            steps=call.steps,
        )
        call.in_line = True
        return self.estimate(call.call_id, now)

    def _enqueue(self, call: Call) -> None:
        """Back in line after an offer came to nothing: same arrival time, same place."""
        settings = self.settings.queues[call.queue or ""]
        self.router.enqueue(
            call.call_id,
            queue=settings.name,
            arrived_at=call.arrived_at,
            priority=settings.priority if call.priority is None else call.priority,
            steps=call.steps,
        )
        call.in_line = True

    def _schedule_waiting(self, call: Call, settings: QueueSettings, now: float) -> None:
        announce = settings.announcements
        if announce is not None and (announce.position or announce.wait):
            call.announce_at = now + announce.first_after_s
            self._start_timer(call.announce_at, "announce", call.call_id)
        if announce is not None and announce.periodic and announce.periodic_every_s:
            call.periodic_at = now + announce.periodic_every_s
            self._start_timer(call.periodic_at, "periodic", call.call_id)
        if settings.admission.max_wait_s is not None:
            call.max_wait_at = call.arrived_at + settings.admission.max_wait_s
            self._start_timer(call.max_wait_at, "max_wait", call.call_id)
        policy = self.settings.callbacks
        if policy is not None and policy.offer_after_s is not None and settings.callback_key:
            call.callback_offer_at = call.arrived_at + policy.offer_after_s
            self._start_timer(call.callback_offer_at, "cb_offer", call.call_id)
        if settings.admission.divert_ewt_s is not None and call.announce_at is None:
            self._forecast_later(call, now)

    def _forecast_later(self, call: Call, now: float) -> None:
        """Without announcements, the forecast is looked at again every FORECAST_EVERY_S."""
        call.forecast_at = now + FORECAST_EVERY_S
        self._start_timer(call.forecast_at, "forecast", call.call_id)

    def _forecast_again(self, call: Call, now: float, out: list[cmd.Command]) -> None:
        if call.diverted:
            return
        if call.state is CallState.WAITING:
            settings = self.settings.queues[call.queue or ""]
            self._check_forecast(call, settings, self.estimate(call.call_id, now), now, out)
        if not call.diverted:
            self._forecast_later(call, now)

    def estimate(self, call_id: str, now: float, *, min_history: int | None = None) -> Estimate:
        """The wait ahead of a caller (or a callback) in line, from the present state."""
        call = self.calls.get(call_id)
        queue = call.queue if call is not None else self.callbacks[call_id.removeprefix(cb.ROUTER_PREFIX)].queue
        assert queue is not None
        rivals = self._tell_staffing(queue, now)
        return self.ewt.estimate(queue, self.router.position(call_id), now, rivals=rivals, min_history=min_history)

    def _tell_staffing(self, queue: str, now: float) -> list[Rival]:
        """Tell the estimator who serves ``queue`` and its rivals; return the rivals.

        At equal priority every rival caller already waiting goes first: it has waited
        longer than one who just arrived (routing rule 2). The counts are kept as agents
        change (``_restaff``), so this costs one step per rival, not one per agent.
        """
        _, present, busy = self._staff_counts[queue]
        self.ewt.staffing(queue, agents=present, busy=busy, now=now)
        rivals = []
        priority = self.settings.queues[queue].priority
        for other in self._rivals[queue]:
            _, present, busy = self._staff_counts[other]
            self.ewt.staffing(other, agents=present, busy=busy, now=now)
            rivals.append(
                Rival(
                    queue=other,
                    waiting=self.router.waiting(other),
                    shared=self._shared_serving.get((queue, other), 0),
                    overtakes=self.settings.queues[other].priority > priority,
                )
            )
        return rivals

    def _restaff(self, agent: AgentStatus, now: float) -> None:
        """Keep the per-queue counts of staffed, serving and busy agents (and of serving
        agents two queues share) in step with one agent's change.

        Staffed: logged in and not paused (admission). Serving: staffed and not about to
        leave — a pause or log-out waits for the agent's call to end (the estimate).
        Busy: serving but not free for a call now (a call, a ring, wrap-up, a missed-call
        cool-down, or a phone that is in use).
        """
        staffed = agent.state not in (AgentState.LOGGED_OUT, AgentState.PAUSED)
        serving = staffed and agent.deferred is None
        busy = serving and (agent.state is not AgentState.AVAILABLE or agent.missed_until > now or not agent.device_ok)
        new = (staffed, serving, busy)
        old = self._staff_flags.get(agent.agent_id, (False, False, False))
        if new == old:
            return
        self._staff_flags[agent.agent_id] = new
        queues = [q for q in self.settings.agents[agent.agent_id].queues if q in self._staff_counts]
        for queue in queues:
            counts = self._staff_counts[queue]
            if agent.agent_id in self._eligible[queue]:
                counts[0] += new[0] - old[0]
            counts[1] += new[1] - old[1]
            counts[2] += new[2] - old[2]
        if new[1] != old[1]:
            for queue in queues:
                for other in queues:
                    if other != queue:
                        key = (queue, other)
                        self._shared_serving[key] = self._shared_serving.get(key, 0) + (new[1] - old[1])

    def _staffed(self, queue: str) -> int:
        """Agents logged in, not paused, who hold the skills of the queue's widest step."""
        return self._staff_counts[queue][0]

    def _in_line(self, queue: str) -> int:
        """Callers and callbacks of ``queue`` not yet answered: waiting, or with an agent
        ringing for them (a ring that comes to nothing puts them back in line)."""
        ringing = set()
        for offer_id, (ringing_queue, key) in list(self._ringing.items()):
            offer = self.offers.get(offer_id)
            if offer is None or offer.claimed:  # settled since: forget it
                del self._ringing[offer_id]
            elif ringing_queue == queue:
                ringing.add(key)
        return self.router.waiting(queue) + len(ringing)

    def _check_forecast(self, call: Call, settings: QueueSettings, estimate: Estimate, now: float, out: list[cmd.Command]) -> None:
        limit = settings.admission.divert_ewt_s
        if limit is None or call.diverted or call.state is not CallState.WAITING:
            return
        if estimate.confident and estimate.seconds > limit:
            call.diverted = True
            self._overflow(call, Overflow.FORECAST, now, out, ewt_s=finite(estimate.seconds))

    def _overflow(self, call: Call, reason: Overflow, now: float, out: list[cmd.Command], **data: Any) -> None:
        """Send the caller where its queue's rules say for ``reason`` (waiting, rule 2)."""
        settings = self.settings.queues[call.queue or ""]
        dest = settings.admission.destinations.get(reason) or Destination(kind=DestinationKind.MESSAGE)
        admitted = call.in_line or call.state is CallState.OFFERING
        if dest.kind is DestinationKind.QUEUE and (
            call.hops >= MAX_HOPS or dest.target not in self.settings.queues or dest.target == call.queue
        ):
            dest = Destination(kind=DestinationKind.MESSAGE)
        if dest.kind is DestinationKind.CALLBACK and (self.settings.callbacks is None or call.state is CallState.OFFERING):
            dest = Destination(kind=DestinationKind.MESSAGE)
        self._event(
            call,
            "call_overflowed" if admitted else "call_refused",
            now,
            out,
            queue=call.queue,
            reason=reason.value,
            destination=dest.kind.value,
            target=dest.target,
            **data,
        )
        if dest.kind is DestinationKind.CALLBACK:
            # The caller stays where it is (in line, or at the door) while it answers.
            release = not call.in_line or reason is Overflow.MAX_WAIT
            self._ask_about_callback(call, out, release_if_declined=release)
            return
        self._leave_line(call, now, out)
        match dest.kind:
            case DestinationKind.QUEUE:
                assert dest.target is not None
                call.hops += 1
                call.state = CallState.WAITING
                self._join(call, dest.target, now, out)
            case DestinationKind.IVR:
                assert dest.target is not None
                call.state = CallState.IVR
                call.queue = None
                self._summary(call, out)
                out.append(cmd.RunIvr(call_id=call.call_id, entry=dest.target, language=call.language))
            case DestinationKind.VOICEMAIL:
                path = f"{self.settings.messages_dir}/{call.call_id}"
                self._event(call, "message_recording", now, out, path=path)
                out.append(
                    cmd.RecordMessage(call_id=call.call_id, path=path, max_s=self.settings.max_message_s, language=call.language)
                )
                self._end_call(call, CallOutcome.VOICEMAIL, now, out, reason=f"{reason.value}: left a message")
            case _:
                sound = dest.target or self.settings.refusal_sound
                out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=sound, reason=reason.value))
                outcome = CallOutcome.OVERFLOWED if admitted else CallOutcome.REFUSED
                self._end_call(call, outcome, now, out, reason=reason.value)

    def _leave_line(self, call: Call, now: float, out: list[cmd.Command]) -> None:
        if call.state is CallState.OFFERING:
            self._withdraw_offers(call, now, out, kind="offer_cancelled", reason="the caller left the queue")
        if call.in_line:
            self.router.dequeue(call.call_id)
            call.in_line = False
        call.announce_at = call.periodic_at = call.max_wait_at = call.callback_offer_at = call.forecast_at = None

    def _announce(self, call: Call, now: float, out: list[cmd.Command]) -> None:
        settings = self.settings.queues[call.queue or ""]
        announce = settings.announcements
        assert announce is not None
        call.announce_at = now + announce.every_s if announce.every_s else None
        if call.announce_at is not None:
            self._start_timer(call.announce_at, "announce", call.call_id)
        if call.state is not CallState.WAITING:
            return  # an agent's phone is ringing: nothing must stand in the way
        estimate = self.estimate(call.call_id, now, min_history=announce.min_history)
        prompts: list[cmd.Prompt] = []
        if announce.position:
            prompts.extend(position_prompts(self.router.position(call.call_id)))
        said = None
        if announce.wait:
            wait = wait_prompts(estimate.seconds, estimate.low, estimate.high, confident=estimate.confident, max_spread=announce.max_spread)
            if wait is not None:
                prompts.extend(wait)
                said = finite(estimate.seconds)
        if prompts:
            self._event(call, "announced", now, out, position=self.router.position(call.call_id), ewt_s=said)
            out.append(cmd.AnnounceToCaller(call_id=call.call_id, prompts=tuple(prompts), language=call.language, reason="position and wait"))
        self._check_forecast(call, settings, estimate, now, out)

    def _periodic(self, call: Call, now: float, out: list[cmd.Command]) -> None:
        announce = self.settings.queues[call.queue or ""].announcements
        assert announce is not None and announce.periodic_every_s
        call.periodic_at = now + announce.periodic_every_s
        self._start_timer(call.periodic_at, "periodic", call.call_id)
        if call.state is not CallState.WAITING:
            return
        sound = announce.periodic[call.periodic_next % len(announce.periodic)]
        call.periodic_next += 1
        out.append(
            cmd.AnnounceToCaller(call_id=call.call_id, prompts=(cmd.Prompt(kind="sound", value=sound),), language=call.language, reason="periodic")
        )

    def _last_agent_left(self, agent_id: str, now: float, out: list[cmd.Command]) -> None:
        """Queues that send callers away when nobody who could answer is left (waiting, rule 1)."""
        for queue in self.settings.agents[agent_id].queues:
            settings = self.settings.queues.get(queue)
            if settings is None or not settings.admission.leave_without_agents or self._staffed(queue) > 0:
                continue
            for call in [c for c in self.calls.values() if c.queue == queue and c.state is CallState.WAITING and c.in_line]:
                self._overflow(call, Overflow.NO_AGENTS, now, out)

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
