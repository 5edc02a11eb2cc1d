"""The recorder: starts, pauses, resumes and closes calls' recordings.

Rules kept here:

1. A recording starts when an agent's claim is granted (the agent context runs
   ``MixMonitor`` with the ``b`` option before ``Bridge``, so only the bridged
   conversation is in the file), if the queue's policy records the call
   (``ccqueue.core.recording``). With ``on_demand`` MixMonitor is started the same way
   but held muted (the claim mutes it before the Bridge), and the agent's start unmutes
   it: the file holds silence until then, and its row is written from the start on.
   Starting MixMonitor later through AMI would need Asterisk's ``system`` privilege
   (the action can run a shell command), which ccqueue's AMI user never has.
2. Pause and resume are the agent's (a card number read out): AMI ``MixMonitorMute`` on
   the agent's leg, both directions. Each is a call event (``recording_paused``,
   ``recording_resumed``), so the timeline says which stretch of the file is silence.
   A request that does not fit the state (pause while paused, no call, no recording)
   raises ``RecordingRefused`` and changes nothing.
3. A recording's row is written when it starts and again when its call ends, with the
   end time (``RecordingRecord``, versioned).
"""

from __future__ import annotations

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.call_book import CallBook
from ccqueue.core.calls import AcdSettings, Call, CallState, Recording
from ccqueue.core.errors import RecordingRefused
from ccqueue.core.ledger import CallLedger
from ccqueue.core.recording import RecordingMode, recording_file, records_call

__all__ = ["Recorder"]


class Recorder:
    def __init__(self, settings: AcdSettings, *, book: CallBook, ledger: CallLedger) -> None:
        self._settings = settings
        self._book = book
        self._ledger = ledger

    def reconfigure(self, new: AcdSettings) -> None:
        self._settings = new

    def granted(self, call: Call, offer_id: str, agent_id: str, now: float, out: list[cmd.Command]) -> Recording | None:
        """An agent's claim was granted: the recording the agent context starts, or None (rule 1)."""
        settings = self._settings.queues.get(call.queue or "")
        if settings is None:
            return None
        if settings.recording.mode is RecordingMode.ON_DEMAND:
            call.recording = Recording(
                recording_id=offer_id,
                uniqueid=offer_id,
                agent_id=agent_id,
                file=recording_file(offer_id, now),
                started_at=now,
                held=True,
            )
            return call.recording
        if not records_call(settings.recording, call.call_id):
            return None
        return self._start(call, offer_id, agent_id, now, out, by="policy")

    def requested(self, e: ev.RecordingRequested, now: float, out: list[cmd.Command]) -> None:
        """The agent starts, pauses or resumes its call's recording (rules 1 and 2)."""
        call = self._agents_call(e.agent_id)
        rec = call.recording
        match e.action:
            case ev.RecordingAction.START:
                settings = self._settings.queues.get(call.queue or "")
                if settings is None or settings.recording.mode is not RecordingMode.ON_DEMAND:
                    raise RecordingRefused(f"queue {call.queue!r} does not record on demand")
                if rec is None or not rec.held:
                    raise RecordingRefused("the call is being recorded already" if rec else "the call has no recording held")
                rec.held = False
                rec.started_at = now
                self._ledger.recording(call, rec, out, ended_at=None)
                self._ledger.event(call, "recording_started", now, out, recording_id=rec.recording_id, by="agent")
                out.append(
                    cmd.ControlRecording(uniqueid=rec.uniqueid, recording_id=rec.recording_id, file=rec.file, action="start")
                )
            case ev.RecordingAction.PAUSE | ev.RecordingAction.RESUME:
                pause = e.action is ev.RecordingAction.PAUSE
                if rec is None or rec.held:
                    raise RecordingRefused("the call is not being recorded")
                if rec.paused == pause:
                    raise RecordingRefused(f"the recording is {'paused' if pause else 'running'} already")
                rec.paused = pause
                out.append(
                    cmd.ControlRecording(
                        uniqueid=rec.uniqueid, recording_id=rec.recording_id, file=rec.file, action=e.action.value
                    )
                )
                kind = "recording_paused" if pause else "recording_resumed"
                self._ledger.event(call, kind, now, out, recording_id=rec.recording_id, agent=e.agent_id)

    def _start(self, call: Call, uniqueid: str, agent_id: str, now: float, out: list[cmd.Command], *, by: str) -> Recording:
        rec = Recording(
            recording_id=uniqueid, uniqueid=uniqueid, agent_id=agent_id, file=recording_file(uniqueid, now), started_at=now
        )
        call.recording = rec
        self._ledger.recording(call, rec, out, ended_at=None)
        self._ledger.event(call, "recording_started", now, out, recording_id=rec.recording_id, by=by)
        return rec

    def _agents_call(self, agent_id: str) -> Call:
        for call in self._book.calls.values():
            if call.agent_id == agent_id and call.state is CallState.CONNECTED:
                return call
        raise RecordingRefused(f"agent {agent_id!r} is not on a call ccqueue connected")
