"""What the parts of the call distributor share.

``Acd`` is written in three parts: ``acd`` (calls, offers, agents, records),
``acd_waiting`` (admission, overflow, estimates, announcements) and ``acd_callbacks``.
Each part is a class over this base: the state they all read and write, and the steps
one part defines and another calls. The steps here only declare the signature; the
part named beside each defines it, and ``Acd``'s method order puts it first.
"""

from __future__ import annotations

from typing import Any

from ccqueue.core import commands as cmd
from ccqueue.core.agent_state import AgentStatus, AgentTrigger
from ccqueue.core.calls import AcdSettings, Call, Offer
from ccqueue.core.ewt import WaitEstimator
from ccqueue.core.records import CallbackRecord, CallOutcome
from ccqueue.core.routing import Router


class AcdBase:
    settings: AcdSettings
    router: Router
    calls: dict[str, Call]
    agents: dict[str, AgentStatus]
    offers: dict[str, Offer]
    ewt: WaitEstimator
    callbacks: dict[str, CallbackRecord]  # open callbacks: their latest record
    _callback_of: dict[tuple[str, str], str]  # (queue, number) -> its open callback
    _members: dict[str, list[str]]  # queue -> agents who serve it
    _rivals: dict[str, list[str]]  # queue -> the queues whose callers go first for shared agents
    _recent: dict[tuple[str, str], tuple[str, float]]
    _recent_horizon: float
    # Kept up to date as agents change, so that an arrival does not scan every agent
    # (acd_waiting): per queue [staffed, serving, busy]; serving agents shared by two
    # queues; each agent's last (staffed, serving, busy); who meets each queue's widest
    # step; and the offers ringing now (offer id -> queue, the call or callback in line).
    _staff_counts: dict[str, list[int]]
    _shared_serving: dict[tuple[str, str], int]
    _staff_flags: dict[str, tuple[bool, bool, bool]]
    _eligible: dict[str, frozenset[str]]
    _ringing: dict[str, tuple[str, str]]

    # acd
    def _start_timer(self, at: float, kind: str, key: str) -> None:
        raise NotImplementedError

    def _event(self, call: Call, kind: str, now: float, out: list[cmd.Command], **data: Any) -> None:
        raise NotImplementedError

    def _summary(self, call: Call, out: list[cmd.Command]) -> None:
        raise NotImplementedError

    def _end_call(self, call: Call, outcome: CallOutcome, now: float, out: list[cmd.Command], *, reason: str) -> None:
        raise NotImplementedError

    def _withdraw_offers(self, call: Call, now: float, out: list[cmd.Command], *, kind: str, reason: str) -> None:
        raise NotImplementedError

    def _release_agent(
        self, agent_id: str, now: float, out: list[cmd.Command], *, missed: bool, queue: str | None = None
    ) -> None:
        raise NotImplementedError

    def _move(
        self, agent: AgentStatus, trigger: AgentTrigger, now: float, out: list[cmd.Command], *, reason: str | None = None
    ) -> None:
        raise NotImplementedError

    def _sync_router(self, agent: AgentStatus, now: float) -> None:
        raise NotImplementedError

    def _ring_agent(
        self, offer: Offer, *, queue: str, ring_timeout_s: float, caller_id: str, now: float, out: list[cmd.Command]
    ) -> None:
        raise NotImplementedError

    def _agent_call_over(self, agent_id: str, queue: str | None, now: float, out: list[cmd.Command]) -> float:
        raise NotImplementedError

    # acd_waiting
    def _restaff(self, agent: AgentStatus, now: float) -> None:
        raise NotImplementedError

    def _leave_line(self, call: Call, now: float, out: list[cmd.Command]) -> None:
        raise NotImplementedError

    def _forecast_again(self, call: Call, now: float, out: list[cmd.Command]) -> None:
        raise NotImplementedError

    # acd_callbacks
    def _ask_about_callback(self, call: Call, out: list[cmd.Command], *, release_if_declined: bool) -> None:
        raise NotImplementedError
