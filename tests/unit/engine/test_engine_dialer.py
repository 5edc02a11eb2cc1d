"""The engine and the dialer: contacts are fetched from the store when the core asks,
dials go to Asterisk, and an unanswered dial's end comes back to the core."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

from ccqueue.core import events as ev
from ccqueue.core.campaigns import Contact
from ccqueue.core.records import AttemptRecord, ContactProgress
from ccqueue.engine.engine import Engine
from ccqueue.engine.inbox import Inbox
from tests.support.fakes import RecordingCallers, RecordingTelephony, Records
from tests.unit.core.test_dialer import contact, make_acd


class Store:
    def __init__(self, contacts: list[Contact], *, fail: bool = False) -> None:
        self.contacts = contacts
        self.fail = fail
        self.asked: list[tuple[str, int]] = []

    async def due(self, campaign: str, now: float, limit: int) -> list[Contact]:
        self.asked.append((campaign, limit))
        if self.fail:
            raise OSError("database away")
        handed, self.contacts = self.contacts, []
        return handed


async def until(check: Any, timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)


async def test_contacts_fetched_dialled_and_a_busy_end_reported_back() -> None:
    # A calling window open whatever the hour the test runs: the contact's zone moves with it.
    offset = dt.timedelta(hours=15 - dt.datetime.now(dt.UTC).hour)
    telephony = RecordingTelephony()
    telephony.dial_failure = ev.DialFailure.BUSY
    records = Records()
    store = Store([contact(1, zone=dt.timezone(offset))])
    engine = Engine(make_acd(), inbox=Inbox(), telephony=telephony, callers=RecordingCallers(), records=records, contacts=store)
    task = asyncio.create_task(engine.run())
    try:
        await engine.ask(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN))
        await engine.ask(ev.CampaignRequested(campaign="renewals", action=ev.CampaignAction.START))
        await until(lambda: len(telephony.dialled) == 1)
        assert store.asked and store.asked[0][0] == "renewals"
        assert telephony.dialled[0].number == "+15550000001"
        await until(lambda: any(r.outcome is not None for r in records.of(AttemptRecord)))
        (progress,) = records.of(ContactProgress)
        assert progress.attempts == 1 and not progress.done
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_store_that_fails_is_asked_again_later_not_in_a_loop() -> None:
    store = Store([], fail=True)
    engine = Engine(
        make_acd(), inbox=Inbox(), telephony=RecordingTelephony(), callers=RecordingCallers(), records=Records(), contacts=store
    )
    task = asyncio.create_task(engine.run())
    try:
        await engine.ask(ev.CampaignRequested(campaign="renewals", action=ev.CampaignAction.START))
        await until(lambda: len(store.asked) == 1)
        await asyncio.sleep(0.3)
        assert len(store.asked) == 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
