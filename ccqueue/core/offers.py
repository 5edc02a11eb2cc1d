"""Offers: agents' phones ringing for a caller or a callback.

Rules kept here:

1. An offer is live from the moment the agent's leg is originated until Asterisk reports
   on it, or until its backstop (ring timeout plus ``OFFER_GRACE_S``) passes.
2. A withdrawn offer hangs up its leg and frees its agent at once, with its idle time
   kept: the agent did nothing wrong (roster rule 2).
3. Which queue each ringing offer is for is kept, so that admission can count the
   callers of a queue whose agent is ringing without scanning every offer.
"""

from __future__ import annotations

from collections.abc import Iterator

from ccqueue.core import commands as cmd
from ccqueue.core.calls import OFFER_GRACE_S, AcdSettings, Call, Offer
from ccqueue.core.ledger import CallLedger
from ccqueue.core.roster import Roster
from ccqueue.core.timers import TimerKind, Timers


class Offers:
    """The live offers, by offer id (the agent leg's uniqueid)."""

    def __init__(self, settings: AcdSettings, *, roster: Roster, ledger: CallLedger, timers: Timers) -> None:
        self._settings = settings
        self._roster = roster
        self._ledger = ledger
        self._timers = timers
        self._offers: dict[str, Offer] = {}
        self._ringing: dict[str, tuple[str, str]] = {}  # offer id -> (queue, the call or callback in line)

    def reconfigure(self, new: AcdSettings) -> None:
        self._settings = new

    def get(self, offer_id: str) -> Offer | None:
        return self._offers.get(offer_id)

    def pop(self, offer_id: str) -> Offer | None:
        return self._offers.pop(offer_id, None)

    def __iter__(self) -> Iterator[Offer]:
        """The live offers, as a list taken now (the caller may settle them meanwhile)."""
        return iter(list(self._offers.values()))

    def ring(
        self, offer: Offer, *, queue: str, ring_timeout_s: float, caller_id: str, now: float, out: list[cmd.Command]
    ) -> None:
        """Ring the offer's agent: the offer is live until Asterisk reports on it, or its backstop."""
        offer.expires_at = now + ring_timeout_s + OFFER_GRACE_S
        self._offers[offer.offer_id] = offer
        self._ringing[offer.offer_id] = (queue, offer.call_id)
        self._timers.start(offer.expires_at, TimerKind.OFFER, offer.offer_id)
        self._roster.ring(offer.agent_id, now, out, call_id=offer.call_id if offer.callback_id is None else None)
        out.append(
            cmd.OriginateAgent(
                offer_id=offer.offer_id,
                call_id=offer.call_id,
                agent_id=offer.agent_id,
                endpoint=self._settings.agents[offer.agent_id].endpoint,
                ring_timeout_s=ring_timeout_s,
                caller_id=caller_id,
            )
        )

    def adopt(self, offer: Offer) -> None:
        """A claimed offer found live after a restart (its agent leg is in conversation):
        followed from now on like any claimed offer, with nothing rung."""
        self._offers[offer.offer_id] = offer

    def withdraw(self, call: Call, now: float, out: list[cmd.Command], *, kind: str, reason: str) -> None:
        """Stop every ring for ``call`` (rule 2); ``kind`` names the timeline event."""
        for offer_id in sorted(call.offer_ids):
            offer = self._offers.pop(offer_id)
            out.append(cmd.HangupChannel(uniqueid=offer_id, reason=reason))
            self._ledger.event(call, kind, now, out, agent=offer.agent_id, offer_id=offer_id)
            self._roster.release(offer.agent_id, now, out, missed=False)
        call.offer_ids.clear()

    def withdraw_one(self, offer: Offer, out: list[cmd.Command], *, reason: str) -> None:
        """Hang up one unclaimed offer's leg; its agent is freed by the caller of this."""
        del self._offers[offer.offer_id]
        out.append(cmd.HangupChannel(uniqueid=offer.offer_id, reason=reason))

    def ringing_in(self, queue: str) -> int:
        """Calls and callbacks of ``queue`` with an agent ringing for them now (rule 3)."""
        ringing = set()
        for offer_id, (ringing_queue, key) in list(self._ringing.items()):
            offer = self._offers.get(offer_id)
            if offer is None or offer.claimed:  # settled since: forget it
                del self._ringing[offer_id]
            elif ringing_queue == queue:
                ringing.add(key)
        return len(ringing)

    def expiry_live(self, offer_id: str, at: float) -> bool:
        """Is the backstop of ``offer_id`` at ``at`` still about a ringing offer?"""
        offer = self._offers.get(offer_id)
        return offer is not None and not offer.claimed and offer.expires_at == at
