"""The engine's inbox: what adapters hand events to, built before anything else.

Adapters ``post`` facts (a hang-up, a key pressed) and ``ask`` when they need the core's
answer back (an agent leg's claim, an API request). The engine's single task takes one
envelope at a time. Built first and handed to the engine and to each adapter, so that
nothing has to be wired late.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ccqueue.core import events as ev
from ccqueue.core.replies import Reply


@dataclass(slots=True)
class Envelope:
    event: ev.Event
    reply: asyncio.Future[Reply | None] | None = field(default=None)


class Inbox:
    def __init__(self) -> None:
        self._queue: asyncio.Queue[Envelope] = asyncio.Queue()

    def post(self, event: ev.Event) -> None:
        self._queue.put_nowait(Envelope(event))

    async def ask(self, event: ev.Event) -> Reply | None:
        """Post ``event`` and wait for the core's reply to it (or the error it raised)."""
        reply: asyncio.Future[Reply | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(Envelope(event, reply))
        return await reply

    async def get(self) -> Envelope:
        return await self._queue.get()

    def qsize(self) -> int:
        return self._queue.qsize()
