"""The roster: every configured agent's live state, and how it moves.

Rules kept here:

1. Agents' moves follow ``agent_state.TRANSITIONS``; an illegal request raises and
   changes nothing. Every move that closes a state writes its interval (ledger rule 2).
2. An agent that did not answer is not offered the next call at once: it sits out
   ``missed_cooldown_s``. An agent whose ring was cancelled because the caller left is
   free at once, and keeps its idle time.
3. The router hears of an agent only as ready or not ready; ready means available, past
   any missed-call cooldown, with a phone that is free. Staffing hears of every change.
4. A pause or log-out asked for during a call is applied when the agent would become
   available (``agent_state`` rule 2).
5. The ringing, on-call and wrap-up intervals of an inbound call carry its ``call_id``
   (set when the agent's phone rings for it), so a report finds a call's wrap-up by
   the call rather than by matching times.
6. Every change of an agent's presence (logged out, logged in, paused and why) is
   written as it happens (``AgentPresenceRecord``), so a restart gives agents back their
   login and pause; a restored agent goes on from where its records stopped.
"""

from __future__ import annotations

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.agent_state import AgentState, AgentStatus, AgentTrigger
from ccqueue.core.calls import DEVICE_FREE, AcdSettings, AgentSettings, QueueSettings
from ccqueue.core.errors import UnknownAgent
from ccqueue.core.ledger import CallLedger
from ccqueue.core.records import AgentPresenceRecord
from ccqueue.core.routing import Router
from ccqueue.core.staffing import Staffing
from ccqueue.core.timers import TimerKind, Timers

# The states in which an agent serves one call (rule 5).
_SERVING = (AgentState.RINGING, AgentState.ON_CALL, AgentState.WRAP_UP)


class Roster:
    """Agents: their states, their moves, their wrap-ups and cooldowns."""

    def __init__(self, settings: AcdSettings, *, router: Router, staffing: Staffing, ledger: CallLedger, timers: Timers) -> None:
        self._router = router
        self._staffing = staffing
        self._ledger = ledger
        self._timers = timers
        self.agents: dict[str, AgentStatus] = {}
        self._settings = settings
        self._by_endpoint = {a.endpoint: a.agent_id for a in settings.agents.values()}
        for agent in settings.agents.values():
            self._add(agent)
        timers.register(TimerKind.WRAP_UP, live=self._wrap_up_live, fire=self._wrap_up_over)
        timers.register(TimerKind.MISSED, live=self._missed_live, fire=self._cooldown_over)

    def reconfigure(self, new: AcdSettings, now: float) -> None:
        """Agents keep their states, with their new queues and skills; removed ones go
        (the distributor has checked that none of them is logged in)."""
        self._settings = new
        for agent_id in [a for a in self.agents if a not in new.agents]:
            del self.agents[agent_id]
            self._router.remove_agent(agent_id)
        for agent in new.agents.values():
            if agent.agent_id in self.agents:
                self._router.upsert_agent(agent.agent_id, queues=agent.queues, skills=dict(agent.skills), order=agent.order)
                self.sync_router(self.agents[agent.agent_id], now)
            else:
                self._add(agent)
        self._by_endpoint = {a.endpoint: a.agent_id for a in new.agents.values()}

    def _add(self, agent: AgentSettings) -> None:
        self.agents[agent.agent_id] = AgentStatus(agent_id=agent.agent_id)
        self._router.upsert_agent(agent.agent_id, queues=agent.queues, skills=dict(agent.skills), order=agent.order)

    # ------------------------------------------------------------------ queries

    def agent_for_endpoint(self, endpoint: str) -> str | None:
        return self._by_endpoint.get(endpoint)

    def endpoint_of(self, agent_id: str) -> str:
        return self._settings.agents[agent_id].endpoint

    def queues_of(self, agent_id: str) -> tuple[str, ...]:
        return self._settings.agents[agent_id].queues

    # ------------------------------------------------------------------ requests and devices

    def requested(self, e: ev.AgentRequested, now: float, out: list[cmd.Command]) -> bool:
        """An agent's or supervisor's request; True when the agent has now left (paused
        or logged out), so that queues left without agents can act."""
        agent = self.agents.get(e.agent_id)
        if agent is None:
            raise UnknownAgent(e.agent_id)
        self.move(agent, AgentTrigger(e.action.value), now, out, reason=e.reason)
        self.sync_router(agent, now)
        return agent.state in (AgentState.PAUSED, AgentState.LOGGED_OUT)

    def device_changed(self, e: ev.DeviceStateChanged, now: float) -> None:
        agent_id = self._by_endpoint.get(e.device)
        if agent_id is None:
            return
        agent = self.agents[agent_id]
        agent.device_ok = e.state in DEVICE_FREE
        self.sync_router(agent, now)

    # ------------------------------------------------------------------ a call's steps

    def ring(self, agent_id: str, now: float, out: list[cmd.Command], *, call_id: str | None = None) -> None:
        """The agent's phone rings for ``call_id`` (None: a callback; rule 5)."""
        agent = self.agents[agent_id]
        self.move(agent, AgentTrigger.OFFER, now, out)
        agent.call_id = call_id

    def ringing(self, agent_id: str) -> bool:
        """Whether the agent's phone is ringing for an offer (it may answer one)."""
        return self.agents[agent_id].state is AgentState.RINGING

    def answered(self, agent_id: str, now: float, out: list[cmd.Command]) -> None:
        """The agent's claim was granted: on the call, its missed calls forgiven."""
        agent = self.agents[agent_id]
        agent.misses.clear()
        self.move(agent, AgentTrigger.ANSWER, now, out)
        self._router.note_call_answered(agent_id, now=now)

    def release(self, agent_id: str, now: float, out: list[cmd.Command], *, missed: bool, queue: str | None = None) -> None:
        """A ring came to nothing (rule 2). An agent no longer ringing or reserved has
        moved on already (a restart can leave one in a callback's wrap-up while a leg
        rung before still reports): there is nothing to release."""
        agent = self.agents[agent_id]
        if agent.state not in (AgentState.RINGING, AgentState.RESERVED):
            return
        idle_since = agent.idle_since
        self.move(agent, AgentTrigger.RING_ENDED, now, out)
        agent.idle_since = idle_since  # a ring that came to nothing does not reset idle time
        if missed:
            settings = self._settings.queues.get(queue or "") or self._queue_of_agent(agent_id)
            agent.missed_until = now + settings.missed_cooldown_s
            self._timers.start(agent.missed_until, TimerKind.MISSED, agent.agent_id)
            self._count_miss(agent, settings, now, out)
        self._apply_deferred(agent, now, out)
        self.sync_router(agent, now)

    def call_over(self, agent_id: str, queue: str | None, now: float, out: list[cmd.Command]) -> float:
        """The agent's call (or callback) is over: wrap-up starts; returns its length."""
        agent = self.agents[agent_id]
        wrapup = self._wrapup_s(agent_id, queue)
        self.move(agent, AgentTrigger.HANGUP, now, out)
        agent.wrap_up_until = now + wrapup
        self._timers.start(agent.wrap_up_until, TimerKind.WRAP_UP, agent.agent_id)
        return wrapup

    def close_intervals(self, now: float, out: list[cmd.Command]) -> None:
        """Stopping: every logged-in agent's current state is written as closed now, and
        its presence as beginning now, so that the next process goes on from here."""
        for agent in self.agents.values():
            if agent.state is not AgentState.LOGGED_OUT:
                served = agent.call_id if agent.state in _SERVING else None
                self._ledger.interval(agent, agent.state, agent.reason, agent.since, now, out, call_id=served)
                self._write_presence(agent, now, out, since=now)

    # ------------------------------------------------------------------ a restart (rule 6)

    def restore(self, stored: ev.RestoredAgent, now: float) -> None:
        """Give an agent back the login and pause an earlier process left it with."""
        agent = self.agents.get(stored.agent_id)
        if agent is None or agent.state is not AgentState.LOGGED_OUT:
            return  # rule 6 of restoration: an agent already known is left as it is
        if stored.presence is ev.Presence.LOGGED_OUT:
            if stored.interval_seq > agent.interval_seq:  # logged out since its last interval ended
                agent.interval_seq = stored.interval_seq
                agent.since = min(stored.since, now)
            return
        paused = stored.presence is ev.Presence.PAUSED
        agent.state = AgentState.PAUSED if paused else AgentState.AVAILABLE
        agent.reason = stored.reason if paused else None
        agent.since = min(stored.since, now)
        agent.idle_since = agent.since
        agent.interval_seq = max(agent.interval_seq, stored.interval_seq)
        self.sync_router(agent, now)

    def restore_on_call(self, agent_id: str, call_id: str | None, since: float, now: float) -> None:
        """An agent found in a conversation that goes on: on that call since ``since``."""
        agent = self.agents[agent_id]
        agent.state = AgentState.ON_CALL
        agent.reason = None
        agent.since = min(since, now)
        agent.call_id = call_id
        self.sync_router(agent, now)

    # ------------------------------------------------------------------ moves

    def move(
        self, agent: AgentStatus, trigger: AgentTrigger, now: float, out: list[cmd.Command], *, reason: str | None = None
    ) -> None:
        was, was_since, was_reason = agent.state, agent.since, agent.reason
        served = agent.call_id if was in _SERVING else None
        agent.move(trigger, now=now, reason=reason)
        self._staffing.restaff(agent, now)  # a deferred pause changes who serves, not the state
        if (agent.state, agent.reason) == (was, was_reason) and agent.since == was_since:
            return
        if agent.state not in _SERVING:
            agent.call_id = None
        if agent.state is AgentState.AVAILABLE and was is not AgentState.AVAILABLE:
            agent.idle_since = now
        if was is not AgentState.LOGGED_OUT or agent.interval_seq > 0:
            self._ledger.interval(agent, was, was_reason, was_since, now, out, call_id=served)
        if (presence(agent.state), agent.reason) != (presence(was), was_reason):
            self._write_presence(agent, now, out, since=agent.since)

    def _write_presence(self, agent: AgentStatus, now: float, out: list[cmd.Command], *, since: float) -> None:
        """Rule 6: the agent's presence as it stands now."""
        state = presence(agent.state)
        out.append(
            cmd.Write(
                record=AgentPresenceRecord(
                    agent_id=agent.agent_id,
                    presence=state.value,
                    reason=agent.reason if state is ev.Presence.PAUSED else None,
                    since=since,
                    at=now,
                )
            )
        )

    def sync_router(self, agent: AgentStatus, now: float) -> None:
        """Tell staffing and the router where the agent stands now (rule 3)."""
        self._staffing.restaff(agent, now)
        if agent.state is AgentState.AVAILABLE and agent.missed_until <= now and agent.device_ok:
            self._router.agent_ready(agent.agent_id, idle_since=agent.idle_since)
        else:
            self._router.agent_not_ready(agent.agent_id)

    def restaff_all(self, now: float) -> None:
        for agent in self.agents.values():
            self._staffing.restaff(agent, now)

    def _apply_deferred(self, agent: AgentStatus, now: float, out: list[cmd.Command]) -> None:
        if agent.state is AgentState.AVAILABLE and agent.deferred is not None:
            trigger, reason = agent.deferred, agent.deferred_reason
            agent.deferred = agent.deferred_reason = None
            self.move(agent, trigger, now, out, reason=reason)

    def _count_miss(self, agent: AgentStatus, settings: QueueSettings, now: float, out: list[cmd.Command]) -> None:
        if settings.auto_pause_after is None:
            return
        agent.misses.append(now)
        while agent.misses and agent.misses[0] <= now - settings.auto_pause_window_s:
            agent.misses.pop(0)
        if len(agent.misses) >= settings.auto_pause_after and agent.state is AgentState.AVAILABLE:
            agent.misses.clear()
            self.move(agent, AgentTrigger.PAUSE, now, out, reason=settings.auto_pause_reason)
            out.append(cmd.NotifyAgentPaused(agent_id=agent.agent_id, reason=settings.auto_pause_reason))

    # ------------------------------------------------------------------ timers

    def _wrap_up_live(self, agent_id: str, at: float) -> bool:
        agent = self.agents.get(agent_id)
        return agent is not None and agent.state is AgentState.WRAP_UP and agent.wrap_up_until == at

    def _wrap_up_over(self, agent_id: str, now: float, out: list[cmd.Command]) -> None:
        agent = self.agents[agent_id]
        self.move(agent, AgentTrigger.WRAP_UP_DONE, now, out)
        agent.idle_since = now
        self._apply_deferred(agent, now, out)
        self.sync_router(agent, now)

    def _missed_live(self, agent_id: str, at: float) -> bool:
        agent = self.agents.get(agent_id)
        return agent is not None and agent.state is AgentState.AVAILABLE and agent.missed_until == at

    def _cooldown_over(self, agent_id: str, now: float, out: list[cmd.Command]) -> None:
        agent = self.agents[agent_id]
        agent.missed_until = 0.0
        self.sync_router(agent, now)

    # ------------------------------------------------------------------ helpers

    def _wrapup_s(self, agent_id: str, queue: str | None) -> float:
        override = self._settings.agents[agent_id].wrapup_s
        if override is not None:
            return override
        settings = self._settings.queues.get(queue or "")
        return settings.wrapup_s if settings is not None else 0.0

    def _queue_of_agent(self, agent_id: str) -> QueueSettings:
        queues = self._settings.agents[agent_id].queues
        return self._settings.queues[queues[0]] if queues else QueueSettings(name="")


def presence(state: AgentState) -> ev.Presence:
    """Where an agent stands apart from any call (rule 6)."""
    if state is AgentState.LOGGED_OUT:
        return ev.Presence.LOGGED_OUT
    if state is AgentState.PAUSED:
        return ev.Presence.PAUSED
    return ev.Presence.AVAILABLE
