"""A test's own view of Asterisk over AMI: place scripted callers, watch events.

It uses the project's own ``AmiClient`` with a second login, records every event, and
lets a test wait for one with a deadline — no sleeps to synchronise.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any

from ccqueue.asterisk.ami import AmiClient

Matcher = Callable[[Mapping[str, str]], bool]


def match(**fields: str) -> Matcher:
    """Case-insensitive header equality, e.g. ``match(Event="Hangup", Uniqueid=u)``."""

    def check(message: Mapping[str, str]) -> bool:
        return all((message.get(k) or "").lower() == str(v).lower() for k, v in fields.items())

    return check


class AmiProbe:
    def __init__(self, *, port: int, username: str, secret: str) -> None:
        self.events: list[dict[str, str]] = []
        self._changed = asyncio.Condition()
        self.client = AmiClient(
            host="127.0.0.1", port=port, username=username, secret=secret, on_event=self._on_event, events="on"
        )
        self._task: asyncio.Task[None] | None = None
        self._ids = itertools.count(1)

    def _on_event(self, message: Any) -> None:
        self.events.append({k: str(v) for k, v in message.items()})
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def __aenter__(self) -> AmiProbe:
        self._task = asyncio.create_task(self.client.run())
        await asyncio.wait_for(self.client.ready.wait(), 15)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            done, _ = await asyncio.wait({self._task}, timeout=5)
            assert done, "the probe's AMI client did not stop within 5 s"

    async def wait_for(self, matcher: Matcher, *, timeout: float, since: int = 0, what: str = "event") -> dict[str, str]:
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                for message in self.events[since:]:
                    if matcher(message):
                        return message
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no {what} within {timeout} s; last events: {self.events[-8:]}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), remaining)

    def seen(self, matcher: Matcher, *, since: int = 0) -> list[dict[str, str]]:
        return [m for m in self.events[since:] if matcher(m)]

    async def call_hotline(
        self, *, number: str = "100", script: str = "wait", caller: str = "+15550100", name: str = "Customer"
    ) -> str:
        """Place a caller (a Local channel) to the hotline; returns the caller side's uniqueid.

        The ``;1`` half runs ``script`` in ``ccqueue-test-caller`` (it is the caller's phone);
        the ``;2`` half runs the hotline and is the channel ccqueue sees.
        """
        uid = f"probe-{int(time.time() * 1000)}-{next(self._ids)}"
        response = await self.client.send(
            {
                "Action": "Originate",
                "Channel": f"Local/{number}@hotline",
                "Context": "ccqueue-test-caller",
                "Exten": script,
                "Priority": "1",
                "CallerID": f'"{name}" <{caller}>',
                "ChannelId": uid,
                "OtherChannelId": f"{uid}-hl",
                "Async": "true",
                "Timeout": "30000",
            },
            timeout=35,
        )
        messages = response if isinstance(response, list) else [response]
        assert any((m.get("Response") or "") == "Success" for m in messages), messages
        return uid

    async def hangup(self, channel_or_uniqueid: str) -> None:
        await self.client.send({"Action": "Hangup", "Channel": channel_or_uniqueid}, timeout=5)
