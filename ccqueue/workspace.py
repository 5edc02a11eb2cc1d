"""The agents' screen-pop: what the page is told the moment an agent's phone rings.

Rules kept here:

1. Everything is learnt from what the daemon already produces: the core's records (a
   call's arrival and caller name, its IVR path, the queue it joined with the CRM
   fields and the wait estimate, the offer to an agent, its end) and Asterisk's ring
   (``ccqueue.asterisk.translate.ringing_uniqueid``: an agent leg's uniqueid is its
   offer id). It decides nothing and changes nothing in the core.
2. The customer's history is fetched from PostgreSQL when the call is offered to an agent
   whose page is open, before the phone rings, by the one task ``run`` (bounded queue,
   nothing fire-and-forget); a page opened later fetches it for the pop it is shown. No
   page, no read: an agent working from the phone alone costs the database nothing.
   The pop goes out at the ring with whatever history is there; history that arrives
   later follows as an update. A database that is away costs the page its history, never
   the pop.
3. Each agent's page holds a subscription (a bounded queue); a page too slow to read
   loses the oldest messages, never blocks the daemon. The latest pop of an agent is kept
   until its next one, so a page opened (or reloaded) mid-call shows it too.
4. Everything here is data; the page shows every value from outside as text.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from ccqueue.core.records import CallEventRecord, CallRecord, Record

__all__ = ["HISTORY_LIMIT", "History", "Workspace"]

log = structlog.get_logger("ccqueue.workspace")

History = Callable[[str], Awaitable[list[dict[str, Any]]]]

HISTORY_LIMIT = 50  # items in a pop's history: the page shows the latest; the API pages further
# Calls whose history is waiting to be fetched; past it a call pops without history.
FETCH_BACKLOG = 256
# Messages queued for one page; a page that falls this far behind loses the oldest.
PAGE_BACKLOG = 64
# Calls remembered after their end (their agent may still be wrapping up).
ENDED_KEPT = 512


@dataclass(slots=True)
class _Card:
    call_id: str
    caller: str
    caller_name: str
    hotline: str
    arrived_at: float
    queue: str | None = None
    queued_at: float | None = None
    fields: dict[str, str] = field(default_factory=dict)
    ivr_path: list[str] = field(default_factory=list)
    estimate_s: float | None = None  # the wait told (announced), else estimated at entry
    agent: str | None = None
    history: list[dict[str, Any]] | None = None  # None: not fetched (yet)
    ended_at: float | None = None


class Workspace:
    def __init__(self, *, history: History | None = None, clock: Callable[[], float] = time.time) -> None:
        self._history = history
        self._clock = clock
        self._cards: dict[str, _Card] = {}
        self._offers: dict[str, tuple[str, str]] = {}  # offer id -> (call id, agent id)
        self._rang: set[str] = set()  # offers whose ring has been seen
        self._pages: dict[str, set[asyncio.Queue[dict[str, Any]]]] = {}
        self._latest: dict[str, dict[str, Any]] = {}  # agent -> its latest pop (rule 3)
        self._fetches: asyncio.Queue[str] = asyncio.Queue(maxsize=FETCH_BACKLOG)
        self._ended: list[str] = []
        self.pops = 0

    # -- what the daemon tells it (rule 1) ---------------------------------------------------

    def on_record(self, record: Record) -> None:
        if isinstance(record, CallEventRecord):
            self._event(record)
        elif isinstance(record, CallRecord) and record.ended_at is not None:
            self._ended_call(record.call_id, record.ended_at)

    def _event(self, e: CallEventRecord) -> None:
        data = e.data
        if e.kind == "call_arrived":
            self._cards.setdefault(
                e.call_id,
                _Card(
                    call_id=e.call_id,
                    caller=str(data.get("caller") or ""),
                    caller_name=str(data.get("caller_name") or ""),
                    hotline=str(data.get("hotline") or ""),
                    arrived_at=e.at,
                ),
            )
            return
        card = self._cards.get(e.call_id)
        if card is None:
            return
        if e.kind == "ivr_node":
            card.ivr_path.append(str(data.get("node") or ""))
        elif e.kind == "call_queued":
            card.queue = str(data.get("queue") or "") or None
            card.queued_at = card.queued_at or e.at
            card.fields |= {str(k): str(v) for k, v in dict(data.get("attributes") or {}).items()}
            card.estimate_s = data.get("ewt_s") if card.estimate_s is None else card.estimate_s
        elif e.kind == "announced" and data.get("ewt_s") is not None:
            card.estimate_s = data["ewt_s"]
        elif e.kind == "agent_offered":
            offer_id, agent = str(data.get("offer_id") or ""), str(data.get("agent") or "")
            if offer_id and agent:
                self._offers[offer_id] = (e.call_id, agent)
                if agent in self._pages:
                    self._want_history(card)
        elif e.kind in ("call_answered", "call_bridged"):
            # A ring never seen (the AMI link dropped meanwhile): the page learns at the answer.
            for offer_id, (call_id, _agent) in list(self._offers.items()):
                if call_id == e.call_id and offer_id not in self._rang:
                    self.on_ringing(offer_id)
                    break

    def _ended_call(self, call_id: str, at: float) -> None:
        card = self._cards.get(call_id)
        if card is None or card.ended_at is not None:
            return
        card.ended_at = at
        for offer_id in [o for o, (c, _) in self._offers.items() if c == call_id]:
            del self._offers[offer_id]
            self._rang.discard(offer_id)
        if card.agent is not None:
            self._send(card.agent, {"type": "ended", "call_id": call_id, "ended_at": at})
        self._ended.append(call_id)
        while len(self._ended) > ENDED_KEPT:
            self._cards.pop(self._ended.pop(0), None)

    def on_ringing(self, uniqueid: str) -> None:
        """An Asterisk channel started ringing: if it is an agent leg, pop (rule 1)."""
        offer = self._offers.get(uniqueid)
        if offer is None or uniqueid in self._rang:
            return
        self._rang.add(uniqueid)
        call_id, agent = offer
        card = self._cards.get(call_id)
        if card is None:
            return
        card.agent = agent
        pop = self._pop(card, uniqueid)
        self._latest[agent] = pop
        self.pops += 1
        self._send(agent, pop)
        pages = len(self._pages.get(agent, ()))
        # Kept for a page opened later either way; logged at info only when a page got it.
        (log.info if pages else log.debug)("screen_pop_sent", call_id=call_id, agent=agent, pages=pages)

    def _pop(self, card: _Card, offer_id: str) -> dict[str, Any]:
        now = self._clock()
        since = card.queued_at if card.queued_at is not None else card.arrived_at
        return {
            "type": "pop",
            "call_id": card.call_id,
            "offer_id": offer_id,
            "rang_at": now,
            "caller": card.caller,
            "caller_name": card.caller_name or card.fields.get("name", ""),
            "hotline": card.hotline,
            "queue": card.queue,
            "fields": dict(card.fields),
            "ivr_path": list(card.ivr_path),
            "waited_s": round(max(0.0, now - since), 1),
            "estimate_s": None if card.estimate_s is None else round(float(card.estimate_s)),
            "history": self._history_of(card),
        }

    @staticmethod
    def _history_of(card: _Card) -> list[dict[str, Any]] | None:
        if card.history is None:
            return None
        return [item for item in card.history if item.get("call_id") != card.call_id]

    # -- history (rule 2) --------------------------------------------------------------------

    def _want_history(self, card: _Card) -> None:
        if self._history is None or card.history is not None or not card.caller:
            return
        with contextlib.suppress(asyncio.QueueFull):  # rule 2: pops without history
            self._fetches.put_nowait(card.call_id)

    async def run(self) -> None:
        """Fetch the history of offered calls, one after another, for as long as the daemon runs."""
        while True:
            call_id = await self._fetches.get()
            card = self._cards.get(call_id)
            if card is None or card.history is not None or self._history is None:
                continue
            try:
                card.history = await self._history(card.caller)
            except Exception as exc:  # PostgreSQL away: the page shows no history
                log.warning("history_not_fetched", call_id=call_id, error=str(exc))
                card.history = []
            if card.agent is not None:  # it rang before the history came: an update
                update = {"type": "history", "call_id": call_id, "history": self._history_of(card)}
                latest = self._latest.get(card.agent)
                if latest is not None and latest["call_id"] == call_id:
                    latest["history"] = update["history"]
                self._send(card.agent, update)

    # -- pages (rule 3) ----------------------------------------------------------------------

    def subscribe(self, agent: str) -> asyncio.Queue[dict[str, Any]]:
        page: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=PAGE_BACKLOG)
        self._pages.setdefault(agent, set()).add(page)
        # Rule 2: the calls offered to this agent, and the one its page shows first.
        wanted = {call_id for call_id, offered_to in self._offers.values() if offered_to == agent}
        latest = self._latest.get(agent)
        if latest is not None:
            wanted.add(latest["call_id"])
        for call_id in wanted:
            if (card := self._cards.get(call_id)) is not None:
                self._want_history(card)
        return page

    def unsubscribe(self, agent: str, page: asyncio.Queue[dict[str, Any]]) -> None:
        pages = self._pages.get(agent)
        if pages is not None:
            pages.discard(page)
            if not pages:
                del self._pages[agent]

    def latest(self, agent: str) -> dict[str, Any] | None:
        """The agent's latest pop, with its call's end if it ended."""
        pop = self._latest.get(agent)
        if pop is None:
            return None
        card = self._cards.get(pop["call_id"])
        return {**pop, "ended_at": card.ended_at if card is not None else None}

    def call_of(self, call_id: str) -> tuple[str | None, str | None] | None:
        """(agent, queue) of a call still remembered here; None when it is not."""
        card = self._cards.get(call_id)
        return None if card is None else (card.agent, card.queue)

    def _send(self, agent: str, message: dict[str, Any]) -> None:
        for page in self._pages.get(agent, ()):
            if page.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    page.get_nowait()
            page.put_nowait(message)
