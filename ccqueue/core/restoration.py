"""Restoration: what an earlier ccqueue process left is taken back after a restart.

The adapters rebuild it from Asterisk's live channels (the facts ccqueue keeps on them
as channel variables) and the database (rows, agents' presence), and hand it over as
one ``StateRestored``; callers held by the dialplan while ccqueue was away come back
one by one as ``CallerReturned``.

Rules kept here:

1. A waiting caller keeps its place: it goes back in line with its original arrival
   time (routing rule 2), which no caller who arrived later can pass. It needs no
   FastAGI session to be answered: an agent's ``Bridge()`` takes it from the
   dialplan's hold loop as it would from a session.
2. A conversation in progress is followed to its end: the call is connected to its
   agent and its agent leg is the call's claimed offer, so whichever side hangs up
   closes it with the right outcome and times, and the agent goes on to wrap-up.
3. Agents get their login and pause back before any call is restored, and an agent
   found in a conversation is on that call.
4. A call's records go on where the stored ones stopped: its summary's version and its
   timeline's sequence continue, so nothing written before is overwritten or doubled;
   its new offers take ids no earlier offer had.
5. Restoring twice changes nothing: a call or an agent already known is left as it is.
6. A caller who comes back with a call id nobody restored (its row was not written
   before the process died) is taken back from what its channel says, as in rule 1;
   one whose call was still in the IVR starts the IVR again.
7. A call with nothing of its timeline stored gets its ``call_arrived`` first, at the
   time its channel says the caller came: every timeline runs from arrival to end.
"""

from __future__ import annotations

from collections.abc import Callable

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.admission import Admission
from ccqueue.core.call_book import CallBook
from ccqueue.core.calls import AcdSettings, Call, CallState, CallTrigger, Offer
from ccqueue.core.ledger import CallLedger
from ccqueue.core.offers import Offers
from ccqueue.core.records import CallOutcome
from ccqueue.core.roster import Roster


class Restoration:
    """Calls and agents taken back after a restart."""

    def __init__(
        self,
        settings: AcdSettings,
        *,
        book: CallBook,
        offers: Offers,
        roster: Roster,
        admission: Admission,
        ledger: CallLedger,
    ) -> None:
        self._settings = settings
        self._book = book
        self._offers = offers
        self._roster = roster
        self._admission = admission
        self._ledger = ledger

    def reconfigure(self, new: AcdSettings) -> None:
        self._settings = new

    def restored(
        self, e: ev.StateRestored, now: float, out: list[cmd.Command], *, agents_back: Callable[[], None] | None = None
    ) -> None:
        for agent in e.agents:  # rule 3: agents first
            self._roster.restore(agent, now)
        if agents_back is not None:  # what keeps an agent busy, before any caller is offered
            agents_back()
        # Oldest first, so that the timelines read in the order callers came.
        for call in sorted(e.calls, key=lambda c: (c.arrived_at, c.call_id)):
            self._take_back(call, now, out, how="restored")

    def returned(self, e: ev.CallerReturned, now: float, out: list[cmd.Command]) -> None:
        """A held caller's new FastAGI session: carry on with it (rule 6)."""
        known = self._book.get(e.call.call_id)
        if known is None or known.uniqueid != e.call.uniqueid:
            self._take_back(e.call, now, out, how="returned")
            return
        self._ledger.event(known, "caller_returned", now, out)
        if known.state in (CallState.WAITING, CallState.OFFERING) and known.queue in self._settings.queues:
            out.append(cmd.HoldCaller(call_id=known.call_id, moh_class=self._settings.queues[known.queue or ""].moh_class))
        elif known.state is CallState.IVR:
            self._run_ivr(known, out)

    def _take_back(self, stored: ev.RestoredCall, now: float, out: list[cmd.Command], *, how: str) -> None:
        if self._book.get(stored.call_id) is not None:
            return  # rule 5
        call = Call(
            call_id=stored.call_id,
            hotline=stored.hotline,
            caller=stored.caller,
            channel=stored.channel,
            uniqueid=stored.uniqueid,
            queue=stored.queue if stored.queue in self._settings.queues else None,
            arrived_at=min(stored.arrived_at, now),
            queued_at=stored.queued_at,
            priority=stored.priority,
            version=stored.version,  # rule 4
            seq=stored.next_seq,
            # Every offer made wrote an event, so offer ids from here on ({call_id}.{n})
            # are new to Asterisk too.
            offers_made=stored.next_seq,
        )
        hotline = self._settings.hotlines.get(stored.hotline)
        call.language = stored.language or (hotline.language if hotline else "en")
        if stored.next_seq == 0:
            # Rule 7: nothing of its timeline was stored (a kill -9 took its first records
            # from the writer's buffer): it begins where the caller did, from its channel.
            self._ledger.event(
                call, "call_arrived", call.arrived_at, out, caller=call.caller, hotline=call.hotline, channel=call.channel
            )
        agent_id = stored.agent_id
        if agent_id is not None and stored.offer_id is not None and agent_id in self._roster.agents:
            self._connected(call, agent_id, stored.offer_id, stored.answered_at, now, out, how=how)
            return
        if call.queue is None and hotline is not None and hotline.ivr is None and hotline.queue in self._settings.queues:
            call.queue = hotline.queue  # it had not joined its hotline's queue yet
        self._book.add(call)
        if call.queue is not None:  # rule 1
            self._ledger.event(call, f"call_{how}", now, out, state="waiting", queue=call.queue)
            self._admission.rejoin(call, now, out)
            self._ledger.summary(call, out)
            return
        if hotline is not None and hotline.ivr is not None:  # rule 6: the IVR again
            self._ledger.event(call, f"call_{how}", now, out, state="ivr")
            call.move(CallTrigger.ENTER_IVR)
            self._ledger.summary(call, out)
            self._run_ivr(call, out)
            return
        # Neither a queue nor an IVR to go back to: ended as ccqueue's failure, with the apology.
        self._ledger.event(call, f"call_{how}", now, out, state="lost")
        self._book.end(call, CallOutcome.FAILED, now, out, reason="no queue to restore the call to")
        out.append(cmd.ReleaseCaller(call_id=call.call_id, sound=self._settings.refusal_sound, reason="not restorable"))

    def _connected(
        self,
        call: Call,
        agent_id: str,
        offer_id: str,
        answered_at: float | None,
        now: float,
        out: list[cmd.Command],
        *,
        how: str,
    ) -> None:
        """Rule 2: the call is in conversation with ``agent_id`` over the leg ``offer_id``."""
        call.move(CallTrigger.FOUND_CONNECTED)
        call.agent_id = agent_id
        call.answered_at = now if answered_at is None else min(answered_at, now)
        call.offered_at = call.answered_at
        call.outcome = CallOutcome.ANSWERED
        call.offer_ids = {offer_id}
        self._book.add(call)
        self._offers.adopt(
            Offer(offer_id=offer_id, call_id=call.call_id, agent_id=agent_id, expires_at=0.0, claimed=True, offered_at=now)
        )
        self._roster.restore_on_call(agent_id, call.call_id, call.answered_at, now)
        self._ledger.event(call, f"call_{how}", now, out, state="connected", agent=agent_id, offer_id=offer_id)
        self._ledger.summary(call, out)

    def _run_ivr(self, call: Call, out: list[cmd.Command]) -> None:
        hotline = self._settings.hotlines.get(call.hotline)
        if hotline is not None and hotline.ivr is not None:
            out.append(cmd.RunIvr(call_id=call.call_id, entry=hotline.ivr, language=call.language))
