"""The switchboard: the router's choices become rings, one claim wins, and hang-ups end
what they end.

Rules kept here:

1. A caller is never bridged to two agents: a call has at most one live offer (or one
   per agent when ringing all), and only the claim of one of them, while the caller is
   still here, is granted. The first to answer takes the call, the others stop ringing.
2. An agent never gets a caller who already hung up: the caller's hang-up cancels the
   offer first, and a late claim is refused.
3. A failed offer puts the call back in line at its place (admission rule 1); a ring
   withdrawn because the caller left does not count as the agent's miss.
4. Whatever ended while the link to Asterisk was down is settled as if its hang-up had
   been heard when the link is back.
"""

from __future__ import annotations

from ccqueue.core import callbacks as cb
from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.admission import Admission
from ccqueue.core.call_book import CallBook
from ccqueue.core.callback_desk import CallbackDesk
from ccqueue.core.calls import AcdSettings, Call, CallState, CallTrigger, Offer
from ccqueue.core.ewt import WaitEstimator
from ccqueue.core.ledger import CallLedger
from ccqueue.core.offers import Offers
from ccqueue.core.records import CallOutcome
from ccqueue.core.replies import ClaimAnswer
from ccqueue.core.roster import Roster
from ccqueue.core.routing import Router
from ccqueue.core.timers import TimerKind, Timers


class Switchboard:
    """Offers made, claimed, failed and hung up, for callers and callbacks alike."""

    def __init__(
        self,
        settings: AcdSettings,
        *,
        router: Router,
        ewt: WaitEstimator,
        book: CallBook,
        offers: Offers,
        roster: Roster,
        admission: Admission,
        desk: CallbackDesk,
        ledger: CallLedger,
        timers: Timers,
    ) -> None:
        self._settings = settings
        self._router = router
        self._ewt = ewt
        self._book = book
        self._offers = offers
        self._roster = roster
        self._admission = admission
        self._desk = desk
        self._ledger = ledger
        timers.register(TimerKind.OFFER, live=offers.expiry_live, fire=self._ring_unreported)

    def reconfigure(self, new: AcdSettings) -> None:
        self._settings = new

    # ------------------------------------------------------------------ offers

    def dispatch(self, now: float, out: list[cmd.Command]) -> int:
        """Ring the agents the router chose for callers and callbacks in line; returns
        how many callbacks were handed an agent (blending counts them)."""
        callbacks = 0
        for assignment in self._router.assign(now):
            if assignment.call_id.startswith(cb.ROUTER_PREFIX):
                self._desk.offer(assignment.call_id.removeprefix(cb.ROUTER_PREFIX), assignment.agent_ids, now, out)
                callbacks += 1
                continue
            call = self._book.calls[assignment.call_id]
            call.in_line = False
            settings = self._settings.queues[call.queue or ""]
            call.move(CallTrigger.OFFER)
            for agent_id in assignment.agent_ids:
                call.offers_made += 1
                offer_id = f"{call.call_id}.{call.offers_made}"
                call.offer_ids.add(offer_id)
                self._ledger.event(call, "agent_offered", now, out, agent=agent_id, offer_id=offer_id)
                self._offers.ring(
                    Offer(offer_id=offer_id, call_id=call.call_id, agent_id=agent_id, expires_at=0.0, offered_at=now),
                    queue=settings.name,
                    ring_timeout_s=settings.ring_timeout_s,
                    caller_id=call.caller,
                    now=now,
                    out=out,
                )
        return callbacks

    def claimed(self, e: ev.OfferClaimed, now: float, out: list[cmd.Command]) -> ClaimAnswer:
        """An agent answered and its leg asks for the caller (rules 1 and 2)."""
        offer = self._offers.get(e.offer_id)
        if offer is not None and offer.callback_id is not None:
            return self._desk.claimed(offer, now, out)
        call = self._book.get(offer.call_id) if offer else None
        if offer is None or call is None or call.state is not CallState.OFFERING or offer.offer_id not in call.offer_ids:
            return ClaimAnswer(offer_id=e.offer_id, caller_uniqueid=None, reason="offer no longer live")
        if not self._roster.ringing(offer.agent_id):
            # Checked before anything moves: a claim granted halfway would leave the call
            # holding an offer its agent's leg no longer settles.
            return ClaimAnswer(offer_id=e.offer_id, caller_uniqueid=None, reason="agent no longer ringing")
        offer.claimed = True
        call.offer_ids.discard(offer.offer_id)
        self._offers.withdraw(call, now, out, kind="offer_withdrawn", reason="another agent answered first")
        call.offer_ids.add(offer.offer_id)
        self._roster.answered(offer.agent_id, now, out)
        call.move(CallTrigger.ANSWER)
        call.agent_id = offer.agent_id
        call.answered_at = now
        call.outcome = CallOutcome.ANSWERED  # from now on its summary never reads "waiting"
        call.offered_at = offer.offered_at
        call.announce_at = call.periodic_at = call.max_wait_at = call.callback_offer_at = call.forecast_at = None
        self._ewt.call_answered(call.queue or "", waited_s=now - call.arrived_at, rang_s=now - offer.offered_at, now=now)
        self._ledger.event(call, "call_answered", now, out, agent=offer.agent_id, offer_id=offer.offer_id)
        self._ledger.summary(call, out)
        return ClaimAnswer(offer_id=offer.offer_id, caller_uniqueid=call.uniqueid, reason="claim granted")

    def failed(self, e: ev.OfferFailed, now: float, out: list[cmd.Command]) -> None:
        self._offer_failed(e.offer_id, e.failure, now, out)

    def _offer_failed(self, offer_id: str, failure: ev.RingFailure, now: float, out: list[cmd.Command]) -> None:
        offer = self._offers.get(offer_id)
        if offer is None or offer.claimed:
            return  # already settled (a hang-up and an OriginateResponse both report it)
        self._offers.pop(offer_id)
        if offer.callback_id is not None:
            self._desk.ring_failed(offer, failure, now, out)
            return
        call = self._book.calls[offer.call_id]
        self._ledger.event(call, "offer_failed", now, out, agent=offer.agent_id, offer_id=offer_id, failure=failure.value)
        self._roster.release(offer.agent_id, now, out, missed=failure is not ev.RingFailure.CANCELLED, queue=call.queue)
        call.offer_ids.discard(offer_id)
        if call.state is CallState.OFFERING and not call.offer_ids:
            self._admission.back_in_line(call, now, out)

    def _ring_unreported(self, offer_id: str, now: float, out: list[cmd.Command]) -> None:
        """The backstop: Asterisk never reported on the agent's leg (offers rule 1)."""
        out.append(cmd.HangupChannel(uniqueid=offer_id, reason="ring timeout passed unreported"))
        self._offer_failed(offer_id, ev.RingFailure.NO_ANSWER, now, out)

    # ------------------------------------------------------------------ hang-ups

    def hung_up(self, e: ev.ChannelHungUp, now: float, out: list[cmd.Command]) -> None:
        offer = self._offers.get(e.uniqueid)
        if offer is not None:
            self._agent_leg_gone(offer, now, out)
            return
        call = self._book.by_uniqueid(e.uniqueid)
        if call is None or call.state is CallState.ENDED:
            return
        if call.state is CallState.IVR:
            self._book.end(call, CallOutcome.ABANDONED, now, out, reason="caller hung up in the IVR")
        elif call.state is CallState.WAITING:
            if call.in_line:
                self._ewt.call_abandoned(call.queue or "", waited_s=now - call.arrived_at, now=now)
            self._admission.leave_line(call, now, out)
            self._book.end(call, CallOutcome.ABANDONED, now, out, reason="caller hung up while waiting")
        elif call.state is CallState.OFFERING:
            self._ewt.call_abandoned(call.queue or "", waited_s=now - call.arrived_at, now=now)
            self._offers.withdraw(call, now, out, kind="offer_cancelled", reason="caller hung up while agent rang")
            self._book.end(call, CallOutcome.ABANDONED, now, out, reason="caller hung up while agent rang")
        else:  # CONNECTED
            self._hang_up_connected(call, now, out, by="caller")

    def session_ended(self, e: ev.CallerSessionEnded, now: float, out: list[cmd.Command]) -> None:
        """The caller's AGI session ended while it waited: it is gone."""
        call = self._book.get(e.call_id)
        if call is not None and call.state in (CallState.WAITING, CallState.OFFERING):
            self.hung_up(ev.ChannelHungUp(uniqueid=call.uniqueid, cause="AGI session ended"), now, out)

    def _agent_leg_gone(self, offer: Offer, now: float, out: list[cmd.Command]) -> None:
        if offer.callback_id is not None and offer.claimed:
            self._desk.leg_gone(offer, now, out)
            return
        if not offer.claimed:
            self._offer_failed(offer.offer_id, ev.RingFailure.NO_ANSWER, now, out)
            return
        self._offers.pop(offer.offer_id)
        call = self._book.get(offer.call_id)
        if call is not None and call.state is CallState.CONNECTED and call.agent_id == offer.agent_id:
            self._hang_up_connected(call, now, out, by="agent")

    def _hang_up_connected(self, call: Call, now: float, out: list[cmd.Command], *, by: str) -> None:
        assert call.agent_id is not None
        for offer_id in call.offer_ids:
            self._offers.pop(offer_id)
        call.offer_ids.clear()
        wrapup = self._roster.call_over(call.agent_id, call.queue, now, out)
        if call.queue is not None and call.offered_at is not None:
            self._ewt.call_ended(call.queue, handle_s=now - call.offered_at + wrapup, now=now)
        if call.queue is not None and call.caller:
            self._book.remember_agent(call.queue, call.caller, call.agent_id, now)
        self._book.end(call, CallOutcome.ANSWERED, now, out, reason=f"{by} hung up")

    def bridged(self, e: ev.ChannelBridged, now: float, out: list[cmd.Command]) -> None:
        call = self._book.by_uniqueid(e.uniqueid)
        if call is not None and call.state is CallState.CONNECTED:
            self._ledger.event(call, "call_bridged", now, out, bridge_id=e.bridge_id)

    def reconcile(self, e: ev.AsteriskReconnected, now: float, out: list[cmd.Command]) -> None:
        """Rule 4: whatever ended while the link was down is settled now."""
        for call in list(self._book.calls.values()):
            if call.state is not CallState.ENDED and call.uniqueid not in e.live_uniqueids:
                self.hung_up(ev.ChannelHungUp(uniqueid=call.uniqueid, cause="gone while AMI was down"), now, out)
        for offer in self._offers:
            if offer.offer_id not in e.live_uniqueids:
                self.hung_up(ev.ChannelHungUp(uniqueid=offer.offer_id, cause="gone while AMI was down"), now, out)

    def let_calls_go(self, now: float, out: list[cmd.Command]) -> None:
        """Stopping: the calls are left for the next process (``restoration``).

        Waiting callers stay on the line: their FastAGI sessions close with the process
        and the dialplan holds them with music until ccqueue is back; their rows stay
        open. An agent ringing for one is hung up (nobody would grant its claim) and the
        caller keeps its place. Connected calls go on in Asterisk; the next process
        follows them to their end.
        """
        for call in list(self._book.calls.values()):
            if call.state is CallState.OFFERING:
                self._offers.withdraw(call, now, out, kind="offer_cancelled", reason="ccqueue stopping")
                call.move(CallTrigger.RING_ENDED)
                self._ledger.event(call, "call_left_to_dialplan", now, out, reason="ccqueue stopping")
            elif call.state in (CallState.WAITING, CallState.IVR):
                self._ledger.event(call, "call_left_to_dialplan", now, out, reason="ccqueue stopping")
