"""The callback desk: booking a callback in a caller's place, reserving an agent,
handing out the dial string, retries, expiry, cancelling and restoring (the rules are in
``ccqueue.core.callbacks``).

Rules kept here:

1. One open callback per (queue, number): a second request finds the first, and moves
   it earlier if the new place is earlier (``callbacks`` rule 1).
2. A callback stands in line like a caller, at its place; ringing all is for callers on
   the line: one agent makes a callback.
3. An attempt is counted only once the customer's phone was dialled: an agent who did
   not answer, or hung up first, puts the callback back in line at the same place.
4. Every change of a callback is written as its whole latest record.
"""

from __future__ import annotations

from collections.abc import Iterable

from ccqueue.core import callbacks as cb
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.admission import Admission
from ccqueue.core.call_book import CallBook
from ccqueue.core.calls import AcdSettings, CallState, Offer
from ccqueue.core.errors import CallbackRefused, UnknownCallback
from ccqueue.core.ledger import CallLedger
from ccqueue.core.offers import Offers
from ccqueue.core.records import CallbackRecord, CallbackStatus, CallOutcome
from ccqueue.core.replies import CallbackBooked, CallbackClosed, ClaimAnswer
from ccqueue.core.roster import Roster
from ccqueue.core.routing import Router
from ccqueue.core.timers import TimerKind, Timers

_IN_QUEUE = (CallState.WAITING, CallState.OFFERING)


class CallbackDesk:
    """Callbacks from the key, the IVR or the API, to the customer's answer."""

    def __init__(
        self,
        settings: AcdSettings,
        *,
        router: Router,
        book: CallBook,
        offers: Offers,
        roster: Roster,
        admission: Admission,
        ledger: CallLedger,
        timers: Timers,
    ) -> None:
        self._settings = settings
        self._router = router
        self._book = book
        self._offers = offers
        self._roster = roster
        self._admission = admission
        self._ledger = ledger
        self._timers = timers
        self.callbacks: dict[str, CallbackRecord] = {}  # open callbacks: their latest record
        self._callback_of: dict[tuple[str, str], str] = {}  # (queue, number) -> its open callback (rule 1)
        self._live_legs: frozenset[str] = frozenset()  # agent legs found live after a restart
        timers.register(TimerKind.CALLBACK_READY, live=self._ready_live, fire=self._ready_due)
        timers.register(TimerKind.CALLBACK_EXPIRE, live=self._expiry_live, fire=self._expired)

    def reconfigure(self, new: AcdSettings) -> None:
        self._settings = new

    # ------------------------------------------------------------------ the caller's side

    def caller_pressed(self, e: ev.CallerPressed, now: float, out: list[cmd.Command]) -> None:
        call = self._book.get(e.call_id)
        if call is None or call.state not in _IN_QUEUE:
            return
        self._ledger.event(call, "key_pressed", now, out, digit=e.digit)
        policy = self._settings.callbacks
        settings = self._settings.queues.get(call.queue or "")
        if policy is None or settings is None or not settings.callback_key or e.digit != policy.key:
            return
        if call.state is CallState.WAITING:  # an agent ringing already: the call will be answered
            self._admission.ask_about_callback(call, out, release_if_declined=False)

    def declined(self, e: ev.CallbackDeclined, now: float, out: list[cmd.Command]) -> None:
        call = self._book.get(e.call_id)
        if call is None or call.state not in _IN_QUEUE:
            return
        call.callback_offered = False
        self._ledger.event(call, "callback_declined", now, out)
        if call.state is CallState.WAITING and (not call.in_line or (call.max_wait_at is not None and call.max_wait_at <= now)):
            self._admission.leave_line(call, now, out)
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=self._settings.refusal_sound, reason="callback declined"))
            outcome = CallOutcome.OVERFLOWED if call.hops or call.max_wait_at else CallOutcome.REFUSED
            self._book.end(call, outcome, now, out, reason="callback declined")

    def requested(self, e: ev.CallbackRequested, now: float, out: list[cmd.Command]) -> CallbackBooked:
        policy = self._settings.callbacks
        call = self._book.get(e.call_id) if e.call_id else None
        if e.call_id is not None and (call is None or call.state not in (*_IN_QUEUE, CallState.IVR)):
            raise CallbackRefused("the call is no longer waiting", call_id=e.call_id)
        queue = e.queue or (call.queue if call else None)
        if policy is None:
            raise CallbackRefused("callbacks are not set up")
        if queue is None or queue not in self._settings.queues:
            raise CallbackRefused(f"no queue {queue!r}", queue=queue)
        if not policy.allows(e.number):
            raise CallbackRefused(f"{e.number} is not a number callbacks may dial", number=e.number)
        place_at = call.arrived_at if call else max(now, e.not_before or now)
        existing = self.callbacks.get(self._callback_of.get((queue, e.number), ""))
        if existing is not None:
            record = existing
            if place_at < existing.place_at and existing.status is CallbackStatus.PENDING:
                record = cb.revise(existing, place_at=place_at)
                self._write(record, out)
                if self._router.has(cb.router_id(record.callback_id)):
                    self._router.dequeue(cb.router_id(record.callback_id))
                    self._in_line(record)
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
            self._write(record, out)
            self._open(record, now)
        if call is not None:
            self._ledger.event(call, "callback_booked", now, out, callback_id=record.callback_id, duplicate=existing is not None)
            self._admission.leave_line(call, now, out)
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound="ccqueue/callback-booked", reason="callback booked"))
            self._book.end(call, CallOutcome.CALLBACK, now, out, reason="callback booked")
        return CallbackBooked(callback=record, duplicate=existing is not None)

    # ------------------------------------------------------------------ the line

    def _ready(self, record: CallbackRecord, now: float) -> None:
        """In line now, or a timer for when it may be (its window, its next attempt)."""
        at = cb.ready_at(record)
        if at is not None and at > now:
            self._timers.start(at, TimerKind.CALLBACK_READY, record.callback_id)
            return
        if not self._router.has(cb.router_id(record.callback_id)):
            self._in_line(record)

    def _in_line(self, record: CallbackRecord) -> None:
        self._router.enqueue(
            cb.router_id(record.callback_id),
            queue=record.queue,
            arrived_at=record.place_at,
            priority=self._settings.queues[record.queue].priority,
        )

    def waiting_in(self, queues: Iterable[str]) -> list[str]:
        """The router ids of the callbacks in line in ``queues`` (blending's contest)."""
        wanted = set(queues)
        # The open callbacks, not the queues' lines: as cheap with a thousand callers waiting.
        return [
            rid
            for record in self.callbacks.values()
            if record.queue in wanted and self._router.has(rid := cb.router_id(record.callback_id))
        ]

    def stand_aside(self, router_ids: list[str]) -> None:
        """Out of line for one pass (blending rule 5); ``back_in_line`` returns them."""
        for rid in router_ids:
            self._router.dequeue(rid)

    def back_in_line(self, router_ids: list[str]) -> None:
        """Back at their very place: the same arrival and priority make the same key."""
        for rid in router_ids:
            record = self.callbacks.get(rid.removeprefix(cb.ROUTER_PREFIX))
            if record is not None and not self._router.has(rid) and record.queue in self._settings.queues:
                self._in_line(record)

    def cancelled(self, e: ev.CallbackCancelled, now: float, out: list[cmd.Command]) -> CallbackClosed:
        record = self.callbacks.get(e.callback_id)
        if record is None:
            raise UnknownCallback(e.callback_id)
        mine = [o for o in self._offers if o.callback_id == record.callback_id]
        if any(o.claimed for o in mine):
            raise CallbackRefused("an agent is calling this number now", callback_id=record.callback_id)
        for offer in mine:
            self._offers.withdraw_one(offer, out, reason="callback cancelled")
            self._roster.release(offer.agent_id, now, out, missed=False)
        return CallbackClosed(callback=self._close(record, CallbackStatus.CANCELLED, out))

    def restored(self, e: ev.CallbacksRestored, now: float, out: list[cmd.Command]) -> None:
        for record in e.callbacks:
            self._restore(record, now, out)

    def note_live_legs(self, legs: frozenset[str]) -> None:
        """After a restart: the agent legs still live in Asterisk. A callback whose leg is
        among them is being made now; it is followed, not dialled again."""
        self._live_legs = legs

    def follow_live_attempts(self, records: tuple[CallbackRecord, ...], now: float) -> None:
        """After a restart, with the agents back and before any caller is offered: the
        callbacks being dialled whose agent leg lives are followed, so their agents are
        busy on them (restoring them again with ``CallbacksRestored`` changes nothing)."""
        for record in records:
            if (
                record.status is CallbackStatus.DIALING
                and record.callback_id not in self.callbacks
                and record.queue in self._settings.queues
            ):
                self._follow_live_attempt(record, now)

    def _follow_live_attempt(self, record: CallbackRecord, now: float) -> bool:
        """A callback that was dialling when ccqueue stopped and whose agent leg still
        lives: followed until that leg ends (True), never dialled a second time."""
        leg = next((leg for leg in self._live_legs if leg.startswith(f"cb-{record.callback_id}.")), None)
        if leg is None or record.agent is None or record.agent not in self._roster.agents:
            return False
        self.callbacks[record.callback_id] = record
        self._callback_of[(record.queue, record.number)] = record.callback_id
        self._offers.adopt(
            Offer(
                offer_id=leg,
                call_id=cb.router_id(record.callback_id),
                agent_id=record.agent,
                expires_at=0.0,
                claimed=True,
                offered_at=now,
                callback_id=record.callback_id,
                restored=True,
            )
        )
        self._roster.restore_on_call(record.agent, None, now, now)
        return True

    def _restore(self, record: CallbackRecord, now: float, out: list[cmd.Command]) -> None:
        if not record.status.open or record.callback_id in self.callbacks or record.queue not in self._settings.queues:
            return
        if record.status is CallbackStatus.DIALING and self._follow_live_attempt(record, now):
            return
        if record.status is CallbackStatus.DIALING:  # we stopped mid-attempt: try again, same place
            record = cb.revise(record, status=CallbackStatus.PENDING, agent=None)
            self._write(record, out)
        else:
            self.callbacks[record.callback_id] = record
        if record.expires_at <= now:
            self._close(record, CallbackStatus.EXPIRED, out)
            return
        self._open(record, now)

    def _open(self, record: CallbackRecord, now: float) -> None:
        """An open callback: the one of its number and queue, with its expiry, in line
        (or waiting for its window)."""
        self._callback_of[(record.queue, record.number)] = record.callback_id
        self._timers.start(record.expires_at, TimerKind.CALLBACK_EXPIRE, record.callback_id)
        self._ready(record, now)

    # ------------------------------------------------------------------ the agent's side

    def offer(self, callback_id: str, agent_ids: tuple[str, ...], now: float, out: list[cmd.Command]) -> None:
        """The router chose agents for a callback: the first one rings (rule 2)."""
        record = self.callbacks[callback_id]
        policy = self._settings.callbacks
        agent_id, *others = agent_ids
        for other in others:  # ringing all is for callers on the line; one agent makes a call
            self._roster.sync_router(self._roster.agents[other], now)
        if policy is None or not policy.allows(record.number):
            self._close(record, CallbackStatus.FAILED, out)
            self._roster.sync_router(self._roster.agents[agent_id], now)
            return
        self._write(cb.revise(record, status=CallbackStatus.DIALING, agent=agent_id), out)
        offer = Offer(
            offer_id=f"cb-{callback_id}.{record.version}",
            call_id=cb.router_id(callback_id),
            agent_id=agent_id,
            expires_at=0.0,
            offered_at=now,
            callback_id=callback_id,
        )
        self._offers.ring(
            offer,
            queue=record.queue,
            ring_timeout_s=self._settings.queues[record.queue].ring_timeout_s,
            caller_id=f"Callback {record.number} ({record.attempts + 1})",
            now=now,
            out=out,
        )

    def claimed(self, offer: Offer, now: float, out: list[cmd.Command]) -> ClaimAnswer:
        record = self.callbacks.get(offer.callback_id or "")
        policy = self._settings.callbacks
        if record is None or record.status is not CallbackStatus.DIALING or offer.claimed or policy is None:
            return ClaimAnswer(offer_id=offer.offer_id, caller_uniqueid=None, reason="callback no longer live")
        offer.claimed = True
        self._roster.answered(offer.agent_id, now, out)
        return ClaimAnswer(
            offer_id=offer.offer_id,
            caller_uniqueid=None,
            reason="callback: the agent calls the customer",
            dial=policy.dial_string(record.number),
            callback_number=record.number,
        )

    def dialed(self, e: ev.DialEnded, now: float, out: list[cmd.Command]) -> None:
        offer = self._offers.get(e.uniqueid)
        if offer is None or offer.callback_id is None or not offer.claimed:
            return
        record = self.callbacks.get(offer.callback_id)
        policy = self._settings.callbacks
        if offer.dial_status is not None or record is None or policy is None:
            return
        offer.dial_status = e.status
        record = cb.after_attempt(record, policy, status=e.status, now=now)
        self._write(record, out)
        if record.status is CallbackStatus.PENDING:
            self._ready(record, now)

    def leg_gone(self, offer: Offer, now: float, out: list[cmd.Command]) -> None:
        """The agent's leg of a callback hung up: the agent's call is over (rule 3)."""
        self._offers.pop(offer.offer_id)
        record = self.callbacks.get(offer.callback_id or "")
        queue = record.queue if record else None
        self._roster.call_over(offer.agent_id, queue, now, out)
        if record is not None and record.status is CallbackStatus.DIALING and offer.dial_status is None and offer.restored:
            # Followed after a restart, with the customer's dial never reported: it may
            # have been made, so it counts as made rather than risk calling twice.
            self._close(cb.revise(record, result="unknown: ccqueue restarted during the attempt"), CallbackStatus.COMPLETED, out)
        elif record is not None and record.status is CallbackStatus.DIALING and offer.dial_status is None:
            # The agent hung up before the customer's phone was dialled: not an attempt.
            self._back_in_line(record, now, out, agent_failure="agent hung up")

    def ring_failed(self, offer: Offer, failure: ev.RingFailure, now: float, out: list[cmd.Command]) -> None:
        """The agent's phone did not take the callback: back in line at its place (rule 3)."""
        record = self.callbacks.get(offer.callback_id or "")
        missed = failure is not ev.RingFailure.CANCELLED
        self._roster.release(offer.agent_id, now, out, missed=missed, queue=record.queue if record else None)
        if record is not None and record.status is CallbackStatus.DIALING:
            self._back_in_line(record, now, out, agent_failure=failure.value)

    def stop_ringing(self, out: list[cmd.Command]) -> None:
        """Stopping: an agent ringing for a callback is hung up; it waits for the next start."""
        for offer in self._offers:
            record = self.callbacks.get(offer.callback_id or "")
            if record is not None and not offer.claimed:
                self._offers.withdraw_one(offer, out, reason="ccqueue stopping")
                self._write(cb.revise(record, status=CallbackStatus.PENDING, agent=None), out)

    def _back_in_line(self, record: CallbackRecord, now: float, out: list[cmd.Command], *, agent_failure: str) -> None:
        record = cb.revise(record, status=CallbackStatus.PENDING, agent=None, result=f"agent: {agent_failure}")
        self._write(record, out)
        self._ready(record, now)

    # ------------------------------------------------------------------ timers and records

    def _ready_live(self, callback_id: str, at: float) -> bool:
        record = self.callbacks.get(callback_id)
        return record is not None and record.status is CallbackStatus.PENDING and at == cb.ready_at(record)

    def _ready_due(self, callback_id: str, now: float, out: list[cmd.Command]) -> None:
        self._ready(self.callbacks[callback_id], now)

    def _expiry_live(self, callback_id: str, at: float) -> bool:
        record = self.callbacks.get(callback_id)
        return record is not None and record.status is CallbackStatus.PENDING and at == record.expires_at

    def _expired(self, callback_id: str, now: float, out: list[cmd.Command]) -> None:
        self._close(self.callbacks[callback_id], CallbackStatus.EXPIRED, out)

    def _close(self, record: CallbackRecord, status: CallbackStatus, out: list[cmd.Command]) -> CallbackRecord:
        self._router.dequeue(cb.router_id(record.callback_id))
        closed = cb.revise(record, status=status, next_attempt_at=None)
        self._write(closed, out)
        return closed

    def _write(self, record: CallbackRecord, out: list[cmd.Command]) -> None:
        if record.status.open:
            self.callbacks[record.callback_id] = record
        else:
            self.callbacks.pop(record.callback_id, None)
            if self._callback_of.get((record.queue, record.number)) == record.callback_id:
                del self._callback_of[(record.queue, record.number)]
        out.append(cmd.Write(record=record))
