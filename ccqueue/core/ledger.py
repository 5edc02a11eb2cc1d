"""The call ledger: what the distributor writes down, as ``Write`` commands.

Rules kept here:

1. Every call has one summary row (``CallRecord``, its ``version`` growing with each
   rewrite) and a timeline of events with stable ids ``{call_id}:{seq}``.
2. Every closed agent state interval is written once, with a stable id
   ``{agent_id}:{seq}``.
3. The ledger only writes: it decides nothing and keeps no state of its own (the
   counters live on the call and the agent, so a rewrite is idempotent downstream).
"""

from __future__ import annotations

from typing import Any

from ccqueue.core import commands as cmd
from ccqueue.core.agent_state import AgentState, AgentStatus
from ccqueue.core.calls import Call, Recording
from ccqueue.core.records import AgentStateRecord, CallEventRecord, CallRecord, RecordingRecord


class CallLedger:
    """Turns calls' and agents' changes into records (rules 1 and 2)."""

    def event(self, call: Call, kind: str, now: float, out: list[cmd.Command], **data: Any) -> None:
        """One timeline event of ``call``."""
        seq = call.seq
        call.seq += 1
        out.append(
            cmd.Write(
                record=CallEventRecord(
                    event_id=f"{call.call_id}:{seq}", call_id=call.call_id, seq=seq, at=now, kind=kind, data=data
                )
            )
        )

    def summary(self, call: Call, out: list[cmd.Command]) -> None:
        """The call's summary row as it stands now."""
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
                    queued_at=call.queued_at,
                )
            )
        )

    def recording(self, call: Call, rec: Recording, out: list[cmd.Command], *, ended_at: float | None) -> None:
        """The row of the call's recording as it stands (its ``version`` counted on ``rec``)."""
        out.append(
            cmd.Write(
                record=RecordingRecord(
                    recording_id=rec.recording_id,
                    version=rec.version,
                    call_id=call.call_id,
                    queue=call.queue,
                    agent_id=rec.agent_id,
                    file=rec.file,
                    started_at=rec.started_at,
                    ended_at=ended_at,
                )
            )
        )

    def interval(
        self,
        agent: AgentStatus,
        state: AgentState,
        reason: str | None,
        started_at: float,
        now: float,
        out: list[cmd.Command],
        *,
        call_id: str | None = None,
    ) -> None:
        """Close one interval of ``agent`` in ``state`` (rule 2); ``call_id``: the call it served."""
        agent.interval_seq += 1
        out.append(
            cmd.Write(
                record=AgentStateRecord(
                    interval_id=f"{agent.agent_id}:{agent.interval_seq}",
                    agent_id=agent.agent_id,
                    state=state.value,
                    reason=reason,
                    started_at=started_at,
                    ended_at=now,
                    call_id=call_id,
                )
            )
        )
