"""Staffing: who is staffed, serving and busy per queue, kept as agents change.

Rules kept here:

1. Staffed: logged in and not paused, and holding the skills of the queue's widest
   routing step (admission counts these). Serving: staffed and not about to leave — a
   pause or log-out waits for the agent's call to end (the wait estimate counts these).
   Busy: serving but not free for a call now (a call, a ring, wrap-up, a missed-call
   cool-down, or a phone that is in use).
2. The counts change by one agent's change at a time (``restaff``), so an arrival never
   scans every agent: 3,000 agents cost the same as three.
3. A queue's rivals are the other queues that share some of its agents and whose
   callers go first for them (routing rule 2: a higher or equal priority); how many of
   the shared agents serve is kept per pair of queues.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ccqueue.core.agent_state import AgentState, AgentStatus
from ccqueue.core.calls import AcdSettings
from ccqueue.core.skills import meets


class Staffing:
    """Per-queue counts of staffed, serving and busy agents (rule 1), and rival queues."""

    def __init__(self, settings: AcdSettings) -> None:
        self.reconfigure(settings)

    def reconfigure(self, settings: AcdSettings) -> None:
        """Work out what follows from the settings alone; the counts start afresh (the
        distributor restaffs every agent after this)."""
        self._settings = settings
        members = {queue: [a.agent_id for a in settings.agents.values() if queue in a.queues] for queue in settings.queues}
        self._rivals: dict[str, list[str]] = {queue: [] for queue in settings.queues}
        theirs_by = {other: set(theirs) for other, theirs in members.items()}
        for queue, mine in members.items():
            for other, theirs in theirs_by.items():
                shares = any(agent_id in theirs for agent_id in mine)
                if other != queue and shares and settings.queues[other].priority >= settings.queues[queue].priority:
                    self._rivals[queue].append(other)
        self._eligible = {
            queue: frozenset(a for a in agents if meets(settings.agents[a].skills, settings.queues[queue].steps[-1]))
            for queue, agents in members.items()
        }
        self._counts: dict[str, list[int]] = {queue: [0, 0, 0] for queue in settings.queues}
        self._shared_serving: dict[tuple[str, str], int] = {}
        self._flags: dict[str, tuple[bool, bool, bool]] = {}  # each agent's last (staffed, serving, busy)

    def restaff(self, agent: AgentStatus, now: float) -> None:
        """Bring the counts in step with one agent's change (rule 2)."""
        staffed = agent.state not in (AgentState.LOGGED_OUT, AgentState.PAUSED)
        serving = staffed and agent.deferred is None
        busy = serving and (agent.state is not AgentState.AVAILABLE or agent.missed_until > now or not agent.device_ok)
        new = (staffed, serving, busy)
        old = self._flags.get(agent.agent_id, (False, False, False))
        if new == old:
            return
        self._flags[agent.agent_id] = new
        counts_by = self._counts
        queues = [q for q in self._settings.agents[agent.agent_id].queues if q in counts_by]
        for queue in queues:
            counts = counts_by[queue]
            if agent.agent_id in self._eligible[queue]:
                counts[0] += new[0] - old[0]
            counts[1] += new[1] - old[1]
            counts[2] += new[2] - old[2]
        if new[1] != old[1]:
            for queue in queues:
                for other in queues:
                    if other != queue:
                        key = (queue, other)
                        self._shared_serving[key] = self._shared_serving.get(key, 0) + (new[1] - old[1])

    def staffed(self, queue: str) -> int:
        """Agents logged in, not paused, who hold the skills of the queue's widest step."""
        return self._counts[queue][0]

    def serving(self, queue: str) -> tuple[int, int]:
        """(serving, busy) agents of ``queue``."""
        counts = self._counts[queue]
        return counts[1], counts[2]

    def rivals(self, queue: str) -> list[str]:
        """The queues whose callers go first for some of ``queue``'s agents (rule 3)."""
        return self._rivals[queue]

    def shared_serving(self, queue: str, other: str) -> int:
        """Serving agents that ``queue`` and ``other`` share."""
        return self._shared_serving.get((queue, other), 0)

    def live_counts(self) -> tuple[Mapping[str, Sequence[int]], Mapping[tuple[str, str], int]]:
        """The counts themselves, read-only, for a loop over many queues: per queue
        [staffed, serving, busy], and serving agents per pair of queues."""
        return self._counts, self._shared_serving

    def counts(self) -> dict[str, list[int]]:
        """Every queue's [staffed, serving, busy], as a copy."""
        return {queue: list(counts) for queue, counts in self._counts.items()}
