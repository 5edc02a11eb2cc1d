"""Admission: a caller joins a queue, or is sent where the queue's rules say; while it
waits it hears its position and wait, and may be offered a callback (the pure rules are
in ``ccqueue.core.waiting``; this part applies them to live calls).

Rules kept here:

1. A caller keeps its place: a call put back in line (an offer came to nothing) keeps
   its original arrival time, and the router orders by it.
2. Nothing stands in the way of an agent's ring: announcements and the max-wait
   overflow wait while an agent's phone rings for the caller.
3. The forecast diversion is offered once per call, looked at on each announcement, or
   every ``FORECAST_EVERY_S`` when the queue has none.
4. The wait estimate is told who serves the queue and its rivals from the staffing
   counts, at the cost of one step per rival queue, never one per agent.
5. The limits are kept at the door: a caller (or a new booking) is let in only while
   fewer than ``max_waiting`` callers and callbacks are in line or ringing an agent. A
   callback coming back to its place after an attempt (the agent missed it, the
   customer was busy) was let in already, and is not turned away now.
"""

from __future__ import annotations

from typing import Any

from ccqueue.core import commands as cmd
from ccqueue.core.call_book import CallBook
from ccqueue.core.calls import AcdSettings, Call, CallState, CallTrigger, QueueSettings, finite
from ccqueue.core.dialogue import Play
from ccqueue.core.ewt import Estimate, Rival, WaitEstimator
from ccqueue.core.ledger import CallLedger
from ccqueue.core.offers import Offers
from ccqueue.core.recording import RECORDING_NOTICE
from ccqueue.core.records import CallOutcome
from ccqueue.core.roster import Roster
from ccqueue.core.routing import Router
from ccqueue.core.staffing import Staffing
from ccqueue.core.timers import Live, TimerKind, Timers
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

_IN_QUEUE = (CallState.WAITING, CallState.OFFERING)


class Admission:
    """Joining a queue, leaving it for an overflow destination, and what the caller hears."""

    def __init__(
        self,
        settings: AcdSettings,
        *,
        router: Router,
        ewt: WaitEstimator,
        staffing: Staffing,
        book: CallBook,
        offers: Offers,
        roster: Roster,
        ledger: CallLedger,
        timers: Timers,
    ) -> None:
        self._settings = settings
        self._router = router
        self._ewt = ewt
        self._staffing = staffing
        self._book = book
        self._offers = offers
        self._roster = roster
        self._ledger = ledger
        self._timers = timers
        # Each kind of a waiting caller's timer: the call's field it must still match.
        for kind, fire in (
            (TimerKind.ANNOUNCE, self._announce),
            (TimerKind.PERIODIC, self._periodic),
            (TimerKind.MAX_WAIT, self._max_wait),
            (TimerKind.FORECAST, self._forecast_again),
            (TimerKind.CALLBACK_OFFER, self._callback_offer),
        ):
            timers.register(kind, live=self._waiting_timer_live(kind), fire=fire)

    def reconfigure(self, new: AcdSettings) -> None:
        self._settings = new

    # ------------------------------------------------------------------ joining

    def join(
        self, call: Call, queue: str, now: float, out: list[cmd.Command], *, attributes: dict[str, str] | None = None
    ) -> None:
        """Admit the caller to ``queue`` or send it where the queue's rules say (waiting, rule 1)."""
        settings = self._settings.queues[queue]
        call.queue = queue
        reason = refusal(settings.admission, waiting=self._in_line(queue), staffed=self._staffing.staffed(queue))
        if reason is not None:
            self._ledger.summary(call, out)
            self.overflow(call, reason, now, out)
            return
        call.move(CallTrigger.JOIN)
        notice = settings.recording.notice and settings.recording.may_record and not call.recording_told
        if call.queued_at is None:  # the first queue: its wait starts now (an overflow keeps it)
            call.queued_at = now
        if notice:
            call.recording_told = True
            # Told before any agent can take the call, and ahead of the hotline's greeting
            # if that is still to play: an agent's Bridge() may cut a greeting short, but the
            # claim waits for the notice to end (ccqueue.asterisk.agi), and should not wait
            # for the greeting too.
            greeting = next(
                (i for i, c in enumerate(out) if isinstance(c, cmd.PlayToCaller) and c.call_id == call.call_id), len(out)
            )
            out.insert(greeting, cmd.PlayToCaller(call_id=call.call_id, sound=RECORDING_NOTICE))
        self._ledger.summary(call, out)
        out.append(note_on_channel(call, settings))
        estimate = self._place_in_line(call, now)
        call.ewt_at_entry = estimate
        self._ledger.event(
            call,
            "call_queued",
            now,
            out,
            queue=queue,
            position=self._router.position(call.call_id),
            ewt_s=finite(estimate.seconds),
            ewt_low_s=finite(estimate.low),
            ewt_high_s=finite(estimate.high),
            ewt_confident=estimate.confident,
            **({"attributes": attributes} if attributes else {}),
        )
        out.append(cmd.HoldCaller(call_id=call.call_id, moh_class=settings.moh_class))
        if call.preferred_agent is not None:
            self._ledger.event(call, "returning_customer", now, out, agent=call.preferred_agent, until=None)
        self._schedule_waiting(call, settings, now)
        self._check_forecast(call, settings, estimate, now, out)

    def _place_in_line(self, call: Call, now: float) -> Estimate:
        """Put the call in the router (keeping its arrival time) and estimate its wait."""
        settings = self._settings.queues[call.queue or ""]
        preferred, until = call.preferred_agent, None
        if preferred is None:
            preferred, until = self._returning(call, settings, now)
            if preferred is not None:
                call.preferred_agent = preferred
        elif settings.returning_wait_s:
            until = now + settings.returning_wait_s
        self._router.enqueue(
            call.call_id,
            queue=settings.name,
            arrived_at=call.arrived_at,
            priority=settings.priority if call.priority is None else call.priority,
            preferred_agent=preferred,
            preferred_until=until,
            steps=call.steps,
        )
        call.in_line = True
        return self.estimate(call, now)

    def rejoin(self, call: Call, now: float, out: list[cmd.Command]) -> None:
        """A call restored after a restart goes back in line at the place its arrival time
        gives it, with no admission check (it was admitted before) and its waiting timers
        running again from now."""
        settings = self._settings.queues[call.queue or ""]
        call.move(CallTrigger.JOIN)
        self._place_in_line(call, now)
        out.append(cmd.HoldCaller(call_id=call.call_id, moh_class=settings.moh_class))
        self._schedule_waiting(call, settings, now)

    def back_in_line(self, call: Call, now: float, out: list[cmd.Command]) -> None:
        """Every ring for the call came to nothing: back in line with the same arrival time
        (rule 1), or on to the max-wait destination if its time has come meanwhile."""
        call.move(CallTrigger.RING_ENDED)
        if call.max_wait_at is not None and call.max_wait_at <= now:
            call.in_line = False
            self.overflow(call, Overflow.MAX_WAIT, now, out)
            return
        settings = self._settings.queues[call.queue or ""]
        self._router.enqueue(
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
            self._timers.start(call.announce_at, TimerKind.ANNOUNCE, call.call_id)
        if announce is not None and announce.periodic and announce.periodic_every_s:
            call.periodic_at = now + announce.periodic_every_s
            self._timers.start(call.periodic_at, TimerKind.PERIODIC, call.call_id)
        if settings.admission.max_wait_s is not None:
            call.max_wait_at = call.arrived_at + settings.admission.max_wait_s
            self._timers.start(call.max_wait_at, TimerKind.MAX_WAIT, call.call_id)
        policy = self._settings.callbacks
        if policy is not None and policy.offer_after_s is not None and settings.callback_key:
            call.callback_offer_at = call.arrived_at + policy.offer_after_s
            self._timers.start(call.callback_offer_at, TimerKind.CALLBACK_OFFER, call.call_id)
        if settings.admission.divert_ewt_s is not None and call.announce_at is None:
            self._forecast_later(call, now)

    # ------------------------------------------------------------------ estimates

    def estimate(self, call: Call, now: float, *, min_history: int | None = None) -> Estimate:
        """The wait ahead of a caller in line, from the present state."""
        queue = call.queue
        assert queue is not None
        rivals = self._tell_staffing(queue, now)
        return self._ewt.estimate(
            queue,
            self._router.position(call.call_id),
            now,
            rivals=rivals,
            min_history=min_history,
            waited_s=now - call.arrived_at,
        )

    def _tell_staffing(self, queue: str, now: float) -> list[Rival]:
        """Tell the estimator who serves ``queue`` and its rivals; return the rivals (rule 4).

        At equal priority every rival caller already waiting goes first: it has waited
        longer than one who just arrived (routing rule 2).
        """
        counts, shared = self._staffing.live_counts()
        ewt, waiting, queues = self._ewt, self._router.waiting, self._settings.queues
        _, present, busy = counts[queue]
        ewt.staffing(queue, agents=present, busy=busy, now=now)
        rivals = []
        priority = queues[queue].priority
        for other in self._staffing.rivals(queue):
            _, present, busy = counts[other]
            ewt.staffing(other, agents=present, busy=busy, now=now)
            rivals.append(
                Rival(
                    queue=other,
                    waiting=waiting(other),
                    shared=shared.get((queue, other), 0),
                    overtakes=queues[other].priority > priority,
                )
            )
        return rivals

    def _in_line(self, queue: str) -> int:
        """Callers and callbacks of ``queue`` not yet answered: waiting, or with an agent
        ringing for them (a ring that comes to nothing puts them back in line)."""
        return self._router.waiting(queue) + self._offers.ringing_in(queue)

    def _forecast_later(self, call: Call, now: float) -> None:
        """Without announcements, the forecast is looked at again every FORECAST_EVERY_S."""
        call.forecast_at = now + FORECAST_EVERY_S
        self._timers.start(call.forecast_at, TimerKind.FORECAST, call.call_id)

    def _forecast_again(self, call_id: str, now: float, out: list[cmd.Command]) -> None:
        call = self._book.calls[call_id]
        if call.diverted:
            return
        if call.state is CallState.WAITING:
            settings = self._settings.queues[call.queue or ""]
            self._check_forecast(call, settings, self.estimate(call, now), now, out)
        if not call.diverted:
            self._forecast_later(call, now)

    def _check_forecast(
        self, call: Call, settings: QueueSettings, estimate: Estimate, now: float, out: list[cmd.Command]
    ) -> None:
        limit = settings.admission.divert_ewt_s
        if limit is None or call.diverted or call.state is not CallState.WAITING:
            return
        if estimate.confident and estimate.seconds > limit:
            call.diverted = True
            self.overflow(call, Overflow.FORECAST, now, out, ewt_s=finite(estimate.seconds))

    # ------------------------------------------------------------------ leaving

    def overflow(self, call: Call, reason: Overflow, now: float, out: list[cmd.Command], **data: Any) -> None:
        """Send the caller where its queue's rules say for ``reason`` (waiting, rule 2)."""
        settings = self._settings.queues[call.queue or ""]
        dest = settings.admission.destinations.get(reason) or Destination(kind=DestinationKind.MESSAGE)
        admitted = call.in_line or call.state is CallState.OFFERING
        if dest.kind is DestinationKind.QUEUE and (
            call.hops >= MAX_HOPS or dest.target not in self._settings.queues or dest.target == call.queue
        ):
            dest = Destination(kind=DestinationKind.MESSAGE)
        if dest.kind is DestinationKind.CALLBACK and (self._settings.callbacks is None or call.state is CallState.OFFERING):
            dest = Destination(kind=DestinationKind.MESSAGE)
        self._ledger.event(
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
            self.ask_about_callback(call, out, release_if_declined=release)
            return
        self.leave_line(call, now, out)
        match dest.kind:
            case DestinationKind.QUEUE:
                assert dest.target is not None
                call.hops += 1
                call.move(CallTrigger.JOIN)
                self.join(call, dest.target, now, out)
            case DestinationKind.IVR:
                assert dest.target is not None
                call.move(CallTrigger.ENTER_IVR)
                call.queue = None
                self._ledger.summary(call, out)
                out.append(cmd.RunIvr(call_id=call.call_id, entry=dest.target, language=call.language))
            case DestinationKind.VOICEMAIL:
                path = f"{self._settings.messages_dir}/{call.call_id}"
                self._ledger.event(call, "message_recording", now, out, path=path)
                out.append(
                    cmd.RecordMessage(call_id=call.call_id, path=path, max_s=self._settings.max_message_s, language=call.language)
                )
                self._book.end(call, CallOutcome.VOICEMAIL, now, out, reason=f"{reason.value}: left a message")
            case _:
                sound = dest.target or self._settings.refusal_sound
                out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=sound, reason=reason.value))
                outcome = CallOutcome.OVERFLOWED if admitted else CallOutcome.REFUSED
                self._book.end(call, outcome, now, out, reason=reason.value)

    def leave_line(self, call: Call, now: float, out: list[cmd.Command]) -> None:
        """Out of line: its rings withdrawn, its timers made stale."""
        if call.state is CallState.OFFERING:
            self._offers.withdraw(call, now, out, kind="offer_cancelled", reason="the caller left the queue")
        if call.in_line:
            self._router.dequeue(call.call_id)
            call.in_line = False
        call.announce_at = call.periodic_at = call.max_wait_at = call.callback_offer_at = call.forecast_at = None

    def last_agent_left(self, agent_id: str, now: float, out: list[cmd.Command]) -> None:
        """Queues that send callers away when nobody who could answer is left (waiting, rule 1)."""
        for queue in self._roster.queues_of(agent_id):
            settings = self._settings.queues.get(queue)
            if settings is None or not settings.admission.leave_without_agents or self._staffing.staffed(queue) > 0:
                continue
            for call in [c for c in self._book.calls.values() if c.queue == queue and c.state is CallState.WAITING and c.in_line]:
                self.overflow(call, Overflow.NO_AGENTS, now, out)

    def ask_about_callback(self, call: Call, out: list[cmd.Command], *, release_if_declined: bool) -> None:
        """Start the callback dialog with the caller, unless it is in one already."""
        if call.callback_offered:
            return
        call.callback_offered = True
        out.append(
            cmd.OfferCallback(
                call_id=call.call_id, number=call.caller, language=call.language, release_if_declined=release_if_declined
            )
        )

    # ------------------------------------------------------------------ timers

    def _waiting_timer_live(self, kind: TimerKind) -> Live:
        field = {
            TimerKind.ANNOUNCE: "announce_at",
            TimerKind.PERIODIC: "periodic_at",
            TimerKind.MAX_WAIT: "max_wait_at",
            TimerKind.FORECAST: "forecast_at",
            TimerKind.CALLBACK_OFFER: "callback_offer_at",
        }[kind]
        calls = self._book.calls

        def live(call_id: str, at: float) -> bool:
            call = calls.get(call_id)
            return call is not None and call.state in _IN_QUEUE and getattr(call, field) == at

        return live

    def _announce(self, call_id: str, now: float, out: list[cmd.Command]) -> None:
        call = self._book.calls[call_id]
        settings = self._settings.queues[call.queue or ""]
        announce = settings.announcements
        assert announce is not None
        call.announce_at = now + announce.every_s if announce.every_s else None
        if call.announce_at is not None:
            self._timers.start(call.announce_at, TimerKind.ANNOUNCE, call.call_id)
        if call.state is not CallState.WAITING:
            return  # an agent's phone is ringing: nothing must stand in the way (rule 2)
        estimate = self.estimate(call, now, min_history=announce.min_history)
        prompts: list[cmd.Prompt] = []
        if announce.position:
            prompts.extend(position_prompts(self._router.position(call.call_id)))
        said = None
        if announce.wait:
            wait = wait_prompts(
                estimate.seconds, estimate.low, estimate.high, confident=estimate.confident, max_spread=announce.max_spread
            )
            if wait is not None:
                prompts.extend(wait)
                said = finite(estimate.seconds)
        if prompts:
            self._ledger.event(call, "announced", now, out, position=self._router.position(call.call_id), ewt_s=said)
            out.append(
                cmd.AnnounceToCaller(
                    call_id=call.call_id, prompts=tuple(prompts), language=call.language, reason="position and wait"
                )
            )
        self._check_forecast(call, settings, estimate, now, out)

    def _periodic(self, call_id: str, now: float, out: list[cmd.Command]) -> None:
        call = self._book.calls[call_id]
        announce = self._settings.queues[call.queue or ""].announcements
        assert announce is not None and announce.periodic_every_s
        call.periodic_at = now + announce.periodic_every_s
        self._timers.start(call.periodic_at, TimerKind.PERIODIC, call.call_id)
        if call.state is not CallState.WAITING:
            return
        sound = announce.periodic[call.periodic_next % len(announce.periodic)]
        call.periodic_next += 1
        out.append(
            cmd.AnnounceToCaller(
                call_id=call.call_id, prompts=(Play(prompts=(sound,)),), language=call.language, reason="periodic"
            )
        )

    def _max_wait(self, call_id: str, now: float, out: list[cmd.Command]) -> None:
        call = self._book.calls[call_id]
        if call.state is CallState.WAITING:  # one ringing now gets its chance first (rule 2)
            self.overflow(call, Overflow.MAX_WAIT, now, out, waited_s=now - call.arrived_at)

    def _callback_offer(self, call_id: str, now: float, out: list[cmd.Command]) -> None:
        call = self._book.calls[call_id]
        if call.state is CallState.WAITING:
            self._ledger.event(call, "callback_offered", now, out, after_s=now - call.arrived_at)
            self.ask_about_callback(call, out, release_if_declined=False)

    def _returning(self, call: Call, settings: QueueSettings, now: float) -> tuple[str | None, float | None]:
        """The agent this caller spoke to recently, if the queue prefers them, and until when."""
        window = settings.returning_window_s
        last = self._book.last_agent(settings.name, call.caller, now)
        if window is None or last is None or last[1] < now - window or last[0] not in self._roster.agents:
            return None, None
        return last[0], now + settings.returning_wait_s


def note_on_channel(call: Call, settings: QueueSettings) -> cmd.NoteOnCaller:
    """What a restarted ccqueue needs from the caller's channel to give it back its place."""
    return cmd.NoteOnCaller(
        call_id=call.call_id,
        variables=(
            ("CCQ_QUEUE", settings.name),
            ("CCQ_QUEUED", f"{call.queued_at or 0.0:.3f}"),
            ("CCQ_PRIORITY", "" if call.priority is None else str(call.priority)),
            ("CCQ_LANG", call.language),
        ),
    )
