"""At start-up: take back what an earlier ccqueue process left.

Read in this order, then handed to the engine as one ``StateRestored`` (the core
decides what becomes of each call and agent: ``ccqueue.core.restoration``):

1. Asterisk's live channels, with the facts ccqueue keeps on them (``Status``), and
   what the dialplan left for callers that hung up while ccqueue was away and for
   conversations that ended (``DBGetTree``);
2. once the record spool is replayed, PostgreSQL: those away callers are recorded
   (exactly once, ``record_away_calls``), then the rows of the calls still on the line
   and every agent's presence are read.

A caller on the line in the ``hotline`` context with a call id is waiting (in the
dialplan's hold loop, or already back in a session); one in a bridge with an agent
leg of its call is in conversation. A call is described by its row where there is
one, by its channel otherwise (its row was lost with the process). PostgreSQL being
down does not stop the restore: calls are then taken from their channels alone and
agents stay logged out until they log in again (logged).

Measured: ``state_restored`` logs how long after the process began serving the
engine had it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import asyncpg
import structlog

from ccqueue.asterisk.ami import AmiUnavailable
from ccqueue.asterisk.live import AwayEntry, LiveChannel, seconds
from ccqueue.asterisk.telephony import AsteriskTelephony
from ccqueue.core import events as ev
from ccqueue.core.records import CallbackRecord, CallOutcome, CallRecord
from ccqueue.store.restore import (
    AwayCall,
    StoredCall,
    load_agents,
    load_open_calls,
    record_away_calls,
    record_refused_at_door,
)
from ccqueue.store.tables import load_open_callbacks

log = structlog.get_logger("ccqueue.recovery")

# How long the restore waits for the AMI link and for the spool's replay. Past them it
# goes on with what it has: callers are not kept from service for a slow database.
AMI_WAIT_S = 10.0
REPLAY_WAIT_S = 3.0
DB_TIMEOUT_S = 3.0
CALLER_CONTEXT = "hotline"


@dataclass(frozen=True, slots=True)
class Recovered:
    calls: tuple[str, ...]  # the call ids taken back
    away_recorded: int
    database: bool  # whether PostgreSQL was read
    away_settled: tuple[str, ...] = ()  # the away callers' keys now in PostgreSQL (recorded now or before)


async def recover(
    *,
    telephony: AsteriskTelephony,
    dsn: str,
    agent_ids: Sequence[str],
    agent_for_endpoint: Callable[[str], str | None],
    post: Callable[[ev.Event], None],
    spool_replayed: Callable[[], Awaitable[None]],
    began: float,
) -> Recovered:
    """Read, rebuild and post ``StateRestored``; returns what was taken back."""
    async with asyncio.timeout(AMI_WAIT_S):
        await telephony.ami.ready.wait()
    with telephony.watch_hangups() as gone:
        return await _recover(
            telephony=telephony,
            gone=gone,
            dsn=dsn,
            agent_ids=agent_ids,
            agent_for_endpoint=agent_for_endpoint,
            post=post,
            spool_replayed=spool_replayed,
            began=began,
        )


async def _recover(
    *,
    telephony: AsteriskTelephony,
    gone: dict[str, ev.ChannelHungUp],
    dsn: str,
    agent_ids: Sequence[str],
    agent_for_endpoint: Callable[[str], str | None],
    post: Callable[[ev.Event], None],
    spool_replayed: Callable[[], Awaitable[None]],
    began: float,
) -> Recovered:
    channels = await telephony.live_channels()
    try:
        away = await telephony.away_entries()
    except AmiUnavailable as exc:  # an Asterisk without DBGetTree: nothing to record from it
        log.warning("away_calls_unreadable", error=str(exc))
        away = []
    live = {ch.uniqueid for ch in channels}
    # A conversation's end stands though its caller is still on the line (in the survey).
    away = [entry for entry in away if entry.uniqueid not in live or entry.outcome == "answered"]
    callers = [ch for ch in channels if "CCQ_CALL_ID" in ch.variables and ch.context == CALLER_CONTEXT]
    stored: dict[str, StoredCall] = {}
    agents: tuple[ev.RestoredAgent, ...] = ()
    callbacks: tuple[CallbackRecord, ...] = ()
    recorded: list[str] = []
    database = False
    try:
        async with asyncio.timeout(REPLAY_WAIT_S):
            await spool_replayed()
        conn = await asyncpg.connect(dsn, timeout=DB_TIMEOUT_S)
        try:
            recorded = await record_away_calls(conn, [_away_call(entry) for entry in away])
            stored = await load_open_calls(conn, [ch.variables["CCQ_CALL_ID"] for ch in callers])
            agents = await load_agents(conn, agent_ids)
            # Read with the calls so that a callback being dialled keeps its agent busy
            # before any waiting caller is offered (its own restore comes a moment later).
            callbacks = tuple(await load_open_callbacks(conn))
            database = True
        finally:
            await conn.close()
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        log.error("restore_without_database", error=repr(exc), hint="calls taken from their channels; agents log in again")
    now = time.time()
    calls = _calls(callers, channels, stored, agent_for_endpoint, now, database=database)
    legs = frozenset(ch.uniqueid for ch in channels if "CCQ_OFFER" in ch.variables)
    post(ev.StateRestored(calls=calls, agents=agents, live_legs=legs, callbacks=callbacks))
    # A channel read live that hung up while the rest was read (the database, the spool's
    # replay): its hang-up reached the core before the call did and meant nothing there.
    # Told again now, it ends the call restored; otherwise nobody would ever close it.
    taken_back = {c.uniqueid for c in calls} | legs
    for uniqueid, hangup in gone.items():
        if uniqueid in taken_back:
            log.info("restored_channel_gone", uniqueid=uniqueid)
            post(hangup)
    log.info(
        "state_restored",
        waiting=sum(1 for c in calls if c.agent_id is None),
        connected=sum(1 for c in calls if c.agent_id is not None),
        agents_logged_in=sum(1 for a in agents if a.presence is not ev.Presence.LOGGED_OUT),
        away_recorded=len(recorded),
        database=database,
        after_s=round(time.time() - began, 3),
    )
    return Recovered(
        calls=tuple(c.call_id for c in calls),
        away_recorded=len(recorded),
        database=database,
        away_settled=tuple(entry.uniqueid for entry in away) if database else (),
    )


async def record_away_after_reconnect(*, telephony: AsteriskTelephony, dsn: str) -> tuple[str, ...]:
    """After Asterisk came back (a restart of its own): record the callers that hung up
    before ccqueue's FastAGI ever heard of them, whose lines the dialplan left meanwhile;
    returns the keys of those now in PostgreSQL (their lines are to be deleted).

    Only those: a call ccqueue gave an id is one this process follows, and settles
    itself from the live channels once the AMI link is back (``AsteriskReconnected``);
    its line waits for the next start, which finds the row closed. Exactly once, like
    the start-up's (``record_away_calls``).
    """
    live = {ch.uniqueid for ch in await telephony.live_channels()}
    away = [e for e in await telephony.away_entries() if not e.call_id and e.uniqueid not in live]
    if not away:
        return ()
    conn = await asyncpg.connect(dsn, timeout=DB_TIMEOUT_S)
    try:
        recorded = await record_away_calls(conn, [_away_call(entry) for entry in away])
    finally:
        await conn.close()
    log.info("away_calls_recorded_after_reconnect", recorded=len(recorded), read=len(away))
    return tuple(entry.uniqueid for entry in away)


async def record_door_refusals(dsn: str, refused: Sequence[AwayEntry]) -> list[CallRecord]:
    """Record new callers the dialplan's door refused for load (``CCQ_DOOR``), as their
    lines say; exactly once, with the start-up's (``record_away_calls``) too. Returns
    the summaries of the calls recorded now."""
    calls = [_away_call(entry) for entry in refused]
    conn = await asyncpg.connect(dsn, timeout=DB_TIMEOUT_S)
    try:
        written = await record_refused_at_door(conn, calls)
    finally:
        await conn.close()
    # The rows written now, as the live counts (the wallboard, /metrics) take calls.
    return [
        CallRecord(
            call_id=c.row_id, version=1, caller=c.caller, hotline=c.hotline, queue=None, agent=None,
            arrived_at=c.entered_at, answered_at=None, ended_at=c.ended_at, outcome=CallOutcome.REFUSED,
            channel=c.channel,
        )
        for c in calls
        if c.row_id in written
    ]  # fmt: skip


def _calls(
    callers: list[LiveChannel],
    channels: list[LiveChannel],
    stored: dict[str, StoredCall],
    agent_for_endpoint: Callable[[str], str | None],
    now: float,
    *,
    database: bool,
) -> tuple[ev.RestoredCall, ...]:
    legs = {ch.bridge_id: ch for ch in channels if ch.bridge_id and "CCQ_OFFER" in ch.variables}
    calls = []
    for ch in callers:
        facts = ch.variables
        call_id = facts["CCQ_CALL_ID"]
        row = stored.get(call_id)
        if row is not None and row.ended:
            continue  # closed already (a call left over from before this feature)
        agent_id = offer_id = None
        if ch.bridge_id:
            leg = legs.get(ch.bridge_id)
            if leg is None or leg.variables.get("CCQ_CALL") != call_id:
                continue  # bridged to something that is not its agent: not ours to follow
            agent_id = agent_for_endpoint(leg.endpoint) or (row.agent if row else None)
            offer_id = leg.uniqueid
            if agent_id is None:
                continue
        priority = facts.get("CCQ_PRIORITY", "")
        calls.append(
            ev.RestoredCall(
                call_id=call_id,
                hotline=facts.get("CCQ_HOTLINE") or "unknown",
                caller=ch.caller if ch.caller not in ("<unknown>", "unknown") else "",
                channel=ch.channel,
                uniqueid=ch.uniqueid,
                arrived_at=row.arrived_at if row else (seconds(facts.get("CCQ_ENTERED", "")) or now),
                queue=(row.queue if row else None) or facts.get("CCQ_QUEUE"),
                queued_at=(row.queued_at if row else None) or seconds(facts.get("CCQ_QUEUED", "")),
                priority=int(priority) if priority.lstrip("-").isdigit() else None,
                language=facts.get("CCQ_LANG"),
                agent_id=agent_id,
                offer_id=offer_id,
                answered_at=row.answered_at if row else None,
                version=row.version if row else 0,
                next_seq=row.next_seq if row else 0,
            )
        )
    if not database and calls:
        log.warning("calls_restored_from_channels_only", count=len(calls))
    return tuple(calls)


def _away_call(entry: AwayEntry) -> AwayCall:
    return AwayCall(
        uniqueid=entry.uniqueid,
        call_id=entry.call_id,
        hotline=entry.hotline,
        caller=entry.caller,
        channel=entry.channel,
        entered_at=entry.entered_at,
        ended_at=entry.ended_at,
        outcome=_AWAY_OUTCOMES.get(entry.outcome, CallOutcome.ABANDONED),
        queue=entry.queue or None,
        queued_at=entry.queued_at,
        cause=entry.cause,
    )


_AWAY_OUTCOMES = {"failed": CallOutcome.FAILED, "answered": CallOutcome.ANSWERED, "refused": CallOutcome.REFUSED}
