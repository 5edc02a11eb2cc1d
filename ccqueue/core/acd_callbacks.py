"""The distributor's side of callbacks: booking one in a caller's place, reserving an
agent, handing out the dial string, retries, expiry, cancelling and restoring (the rules
are in ``ccqueue.core.callbacks``).

A mixin of ``Acd``: its methods take the distributor as ``self`` and share its state.
"""

from __future__ import annotations

from ccqueue.core import callbacks as cb
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.acd_base import AcdBase
from ccqueue.core.agent_state import AgentTrigger
from ccqueue.core.calls import Call, CallState, Offer
from ccqueue.core.errors import CallbackRefused, UnknownCallback
from ccqueue.core.records import CallbackRecord, CallbackStatus, CallOutcome


class CallbacksMixin(AcdBase):
    """Callbacks from the key, the IVR or the API, to the customer's answer."""

    def _caller_pressed(self, e: ev.CallerPressed, now: float, out: list[cmd.Command]) -> None:
        call = self.calls.get(e.call_id)
        if call is None or call.state not in (CallState.WAITING, CallState.OFFERING):
            return
        self._event(call, "key_pressed", now, out, digit=e.digit)
        policy = self.settings.callbacks
        settings = self.settings.queues.get(call.queue or "")
        if policy is None or settings is None or not settings.callback_key or e.digit != policy.key:
            return
        if call.state is CallState.WAITING:  # an agent ringing already: the call will be answered
            self._ask_about_callback(call, out, release_if_declined=False)

    def _ask_about_callback(self, call: Call, out: list[cmd.Command], *, release_if_declined: bool) -> None:
        """Start the callback dialog with the caller, unless it is in one already."""
        if call.callback_offered:
            return
        call.callback_offered = True
        out.append(
            cmd.OfferCallback(
                call_id=call.call_id, number=call.caller, language=call.language, release_if_declined=release_if_declined
            )
        )

    def _callback_declined(self, e: ev.CallbackDeclined, now: float, out: list[cmd.Command]) -> None:
        call = self.calls.get(e.call_id)
        if call is None or call.state not in (CallState.WAITING, CallState.OFFERING):
            return
        call.callback_offered = False
        self._event(call, "callback_declined", now, out)
        if call.state is CallState.WAITING and (not call.in_line or (call.max_wait_at is not None and call.max_wait_at <= now)):
            self._leave_line(call, now, out)
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=self.settings.refusal_sound, reason="callback declined"))
            self._end_call(call, CallOutcome.OVERFLOWED if call.hops or call.max_wait_at else CallOutcome.REFUSED, now, out, reason="callback declined")

    def _callback_requested(self, e: ev.CallbackRequested, now: float, out: list[cmd.Command]) -> None:
        policy = self.settings.callbacks
        call = self.calls.get(e.call_id) if e.call_id else None
        if e.call_id is not None and (call is None or call.state not in (CallState.WAITING, CallState.OFFERING, CallState.IVR)):
            raise CallbackRefused("the call is no longer waiting", call_id=e.call_id)
        queue = e.queue or (call.queue if call else None)
        if policy is None:
            raise CallbackRefused("callbacks are not set up")
        if queue is None or queue not in self.settings.queues:
            raise CallbackRefused(f"no queue {queue!r}", queue=queue)
        if not policy.allows(e.number):
            raise CallbackRefused(f"{e.number} is not a number callbacks may dial", number=e.number)
        place_at = call.arrived_at if call else max(now, e.not_before or now)
        existing = self.callbacks.get(self._callback_of.get((queue, e.number), ""))
        if existing is not None:
            record = existing
            if place_at < existing.place_at and existing.status is CallbackStatus.PENDING:
                record = cb.revise(existing, place_at=place_at)
                self._callback_write(record, out)
                if self.router.has(cb.router_id(record.callback_id)):
                    self.router.dequeue(cb.router_id(record.callback_id))
                    self._callback_in_line(record)
        else:
            record = cb.new_callback(
                callback_id=e.callback_id,
                queue=queue,
                number=e.number,
                now=now,
                place_at=place_at,
                not_before=e.not_before,
                expires_at=e.not_after if e.not_after is not None else now + policy.expire_s,
                call_id=e.call_id,
            )
            self._callback_write(record, out)
            self._callback_open(record, now)
        out.append(cmd.CallbackQueued(callback=record, duplicate=existing is not None))
        if call is not None:
            self._event(call, "callback_booked", now, out, callback_id=record.callback_id, duplicate=existing is not None)
            self._leave_line(call, now, out)
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound="ccqueue/callback-booked", reason="callback booked"))
            self._end_call(call, CallOutcome.CALLBACK, now, out, reason="callback booked")

    def _callback_ready(self, record: CallbackRecord, now: float) -> None:
        """In line now, or a timer for when it may be (its window, its next attempt)."""
        at = cb.ready_at(record)
        if at is not None and at > now:
            self._start_timer(at, "cb_ready", record.callback_id)
            return
        if not self.router.has(cb.router_id(record.callback_id)):
            self._callback_in_line(record)

    def _callback_in_line(self, record: CallbackRecord) -> None:
        self.router.enqueue(
            cb.router_id(record.callback_id),
            queue=record.queue,
            arrived_at=record.place_at,
            priority=self.settings.queues[record.queue].priority,
        )

    def _callback_cancelled(self, e: ev.CallbackCancelled, now: float, out: list[cmd.Command]) -> None:
        record = self.callbacks.get(e.callback_id)
        if record is None:
            raise UnknownCallback(e.callback_id)
        if any(o.callback_id == record.callback_id and o.claimed for o in self.offers.values()):
            raise CallbackRefused("an agent is calling this number now", callback_id=record.callback_id)
        for offer in [o for o in self.offers.values() if o.callback_id == record.callback_id]:
            del self.offers[offer.offer_id]
            out.append(cmd.HangupChannel(uniqueid=offer.offer_id, reason="callback cancelled"))
            self._release_agent(offer.agent_id, now, out, missed=False)
        self._callback_closed(record, CallbackStatus.CANCELLED, now, out)

    def _callback_restored(self, record: CallbackRecord, now: float, out: list[cmd.Command]) -> None:
        if not record.status.open or record.callback_id in self.callbacks or record.queue not in self.settings.queues:
            return
        if record.status is CallbackStatus.DIALING:  # we stopped mid-attempt: try again, same place
            record = cb.revise(record, status=CallbackStatus.PENDING, agent=None)
            self._callback_write(record, out)
        else:
            self.callbacks[record.callback_id] = record
        if record.expires_at <= now:
            self._callback_closed(record, CallbackStatus.EXPIRED, now, out)
            return
        self._callback_open(record, now)

    def _callback_open(self, record: CallbackRecord, now: float) -> None:
        """An open callback: the one of its number and queue, with its expiry, in line
        (or waiting for its window)."""
        self._callback_of[(record.queue, record.number)] = record.callback_id
        self._start_timer(record.expires_at, "cb_expire", record.callback_id)
        self._callback_ready(record, now)

    def _offer_callback(self, callback_id: str, agent_ids: tuple[str, ...], now: float, out: list[cmd.Command]) -> None:
        record = self.callbacks[callback_id]
        policy = self.settings.callbacks
        agent_id, *others = agent_ids
        for other in others:  # ringing all is for callers on the line; one agent makes a call
            self._sync_router(self.agents[other], now)
        if policy is None or not policy.allows(record.number):
            self._callback_closed(record, CallbackStatus.FAILED, now, out)
            self._sync_router(self.agents[agent_id], now)
            return
        self._callback_write(cb.revise(record, status=CallbackStatus.DIALING, agent=agent_id), out)
        offer = Offer(
            offer_id=f"cb-{callback_id}.{record.version}",
            call_id=cb.router_id(callback_id),
            agent_id=agent_id,
            expires_at=0.0,
            offered_at=now,
            callback_id=callback_id,
        )
        self._ring_agent(
            offer,
            queue=record.queue,
            ring_timeout_s=self.settings.queues[record.queue].ring_timeout_s,
            caller_id=f"Callback {record.number} ({record.attempts + 1})",
            now=now,
            out=out,
        )

    def _callback_claimed(self, offer: Offer, now: float, out: list[cmd.Command]) -> None:
        record = self.callbacks.get(offer.callback_id or "")
        policy = self.settings.callbacks
        if record is None or record.status is not CallbackStatus.DIALING or offer.claimed or policy is None:
            out.append(cmd.AnswerClaim(offer_id=offer.offer_id, caller_channel=None, reason="callback no longer live"))
            return
        offer.claimed = True
        agent = self.agents[offer.agent_id]
        agent.misses.clear()
        self._move(agent, AgentTrigger.ANSWER, now, out)
        self.router.note_call_answered(offer.agent_id, now=now)
        out.append(
            cmd.AnswerClaim(
                offer_id=offer.offer_id,
                caller_channel=None,
                reason="callback: the agent calls the customer",
                dial=policy.dial_string(record.number),
                callback_number=record.number,
            )
        )

    def _callback_dialed(self, offer: Offer, status: str, now: float, out: list[cmd.Command]) -> None:
        record = self.callbacks.get(offer.callback_id or "")
        policy = self.settings.callbacks
        if offer.dial_status is not None or record is None or policy is None:
            return
        offer.dial_status = status
        record = cb.after_attempt(record, policy, status=status, now=now)
        self._callback_write(record, out)
        if record.status is CallbackStatus.PENDING:
            self._callback_ready(record, now)

    def _callback_leg_gone(self, offer: Offer, now: float, out: list[cmd.Command]) -> None:
        """The agent's leg of a callback hung up: the agent's call is over."""
        self.offers.pop(offer.offer_id, None)
        record = self.callbacks.get(offer.callback_id or "")
        queue = record.queue if record else None
        self._agent_call_over(offer.agent_id, queue, now, out)
        if record is not None and record.status is CallbackStatus.DIALING and offer.dial_status is None:
            # The agent hung up before the customer's phone was dialled: not an attempt.
            self._callback_back_in_line(record, now, out, agent_failure="agent hung up")

    def _callback_back_in_line(self, record: CallbackRecord, now: float, out: list[cmd.Command], *, agent_failure: str) -> None:
        record = cb.revise(record, status=CallbackStatus.PENDING, agent=None, result=f"agent: {agent_failure}")
        self._callback_write(record, out)
        self._callback_ready(record, now)

    def _callback_closed(self, record: CallbackRecord, status: CallbackStatus, now: float, out: list[cmd.Command]) -> None:
        self.router.dequeue(cb.router_id(record.callback_id))
        self._callback_write(cb.revise(record, status=status, next_attempt_at=None), out)

    def _callback_write(self, record: CallbackRecord, out: list[cmd.Command]) -> None:
        if record.status.open:
            self.callbacks[record.callback_id] = record
        else:
            self.callbacks.pop(record.callback_id, None)
            if self._callback_of.get((record.queue, record.number)) == record.callback_id:
                del self._callback_of[(record.queue, record.number)]
        out.append(cmd.Write(record=record))
