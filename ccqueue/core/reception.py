"""Reception: a call arrives at a hotline, goes through its IVR, and is handed to a queue
(or the IVR finishes with it).

Rules kept here:

1. A repeated arrival changes nothing; an arrival at a number with no queue (and no
   IVR) is refused with the refusal sound and recorded; one whose session was refused
   at the door is only recorded (the dialplan apologises).
2. What the IVR learnt (language, priority, skills, a preferred agent) goes with the
   call into its queue; an IVR that names an unknown queue fails the call, it does not
   guess one.
"""

from __future__ import annotations

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.admission import Admission
from ccqueue.core.call_book import CallBook
from ccqueue.core.calls import AcdSettings, Call, CallState, CallTrigger
from ccqueue.core.ledger import CallLedger
from ccqueue.core.records import CallOutcome, SurveyRecord
from ccqueue.core.roster import Roster
from ccqueue.core.skills import RoutingStep, SkillRequirement

_FINISHES = {
    ev.Finish.SELF_SERVICE: CallOutcome.SELF_SERVICE,
    ev.Finish.VOICEMAIL: CallOutcome.VOICEMAIL,
    ev.Finish.TRANSFERRED: CallOutcome.TRANSFERRED,
}


class Reception:
    """The hotline's door and its IVR's hand-over."""

    def __init__(
        self, settings: AcdSettings, *, book: CallBook, admission: Admission, roster: Roster, ledger: CallLedger
    ) -> None:
        self._settings = settings
        self._book = book
        self._admission = admission
        self._roster = roster
        self._ledger = ledger

    def reconfigure(self, new: AcdSettings) -> None:
        self._settings = new

    def arrived(self, e: ev.CallArrived, now: float, out: list[cmd.Command]) -> None:
        if self._book.get(e.call_id) is not None:
            return  # a repeated arrival changes nothing
        hotline = self._settings.hotlines.get(e.hotline)
        call = Call(
            call_id=e.call_id,
            hotline=e.hotline,
            caller=e.caller,
            channel=e.channel,
            uniqueid=e.uniqueid,
            queue=None,
            arrived_at=now if e.arrived_at is None else min(e.arrived_at, now),
            language=hotline.language if hotline else "en",
        )
        self._book.add(call)
        named = {"caller_name": e.caller_name} if e.caller_name else {}
        self._ledger.event(call, "call_arrived", now, out, caller=e.caller, hotline=e.hotline, channel=e.channel, **named)
        if e.refused is not None:  # refused at the door (its session did not validate)
            self._ledger.event(call, "session_refused", now, out, reason=e.refused)
            self._book.end(call, CallOutcome.REFUSED, now, out, reason=e.refused)
            return
        if hotline is not None and hotline.ivr is not None:
            call.move(CallTrigger.ENTER_IVR)
            self._ledger.summary(call, out)
            out.append(cmd.RunIvr(call_id=call.call_id, entry=hotline.ivr, language=call.language))
            return
        if hotline is None or hotline.queue is None or hotline.queue not in self._settings.queues:
            self._book.end(call, CallOutcome.REFUSED, now, out, reason="no queue for this hotline")
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=self._settings.refusal_sound, reason="unknown hotline"))
            return
        if hotline.greeting:
            out.append(cmd.PlayToCaller(call_id=call.call_id, sound=hotline.greeting))
        self._admission.join(call, hotline.queue, now, out)

    def routed(self, e: ev.CallRouted, now: float, out: list[cmd.Command]) -> None:
        call = self._book.get(e.call_id)
        if call is None or call.state is not CallState.IVR:
            return
        if e.language:
            call.language = e.language
        call.priority = e.priority
        if e.preferred_agent in self._roster.agents:
            call.preferred_agent = e.preferred_agent
        if e.skills:
            required = tuple(SkillRequirement(skill=s, min_level=level) for s, level in sorted(e.skills.items()))
            call.steps = (RoutingStep(requirements=required),)
        if e.queue not in self._settings.queues:
            self._ledger.event(call, "route_refused", now, out, queue=e.queue)
            self._book.end(call, CallOutcome.FAILED, now, out, reason=f"the IVR named an unknown queue {e.queue!r}")
            out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=self._settings.refusal_sound, reason="unknown queue"))
            return
        self._admission.join(call, e.queue, now, out, attributes=dict(e.attributes))

    def finished(self, e: ev.CallFinished, now: float, out: list[cmd.Command]) -> None:
        call = self._book.get(e.call_id)
        if call is None or call.state is not CallState.IVR:
            return
        if e.data:
            self._ledger.event(call, f"ivr_{e.finish.value}", now, out, **dict(e.data))
        self._book.end(call, _FINISHES[e.finish], now, out, reason=e.reason or e.finish.value)
        # The IVR is done with the caller: its session hangs up and ends.
        out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=None, reason=e.reason or e.finish.value))

    def progressed(self, e: ev.CallProgressed, now: float, out: list[cmd.Command]) -> None:
        call = self._book.get(e.call_id)
        if call is not None:
            self._ledger.event(call, e.kind, now, out, **dict(e.data))

    def survey_answered(self, e: ev.SurveyAnswered, now: float, out: list[cmd.Command]) -> None:
        out.append(cmd.Write(record=SurveyRecord(call_id=e.call_id, rating=e.rating, recommend=e.recommend, at=now)))
