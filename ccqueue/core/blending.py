"""Blending: callbacks and campaign calls share the agents who serve both, fairly.

A callback in line and a campaign's next dial both want the agent who frees up next,
but neither is a person on the line: a callback's customer hung up and waits to be
called, a campaign's contact does not know it is about to be. Letting either always go
first starves the other on a busy day, so agents are handed out in turns.

Rules kept here:

1. Callers on the line come first, always: the router's choices for them are made in
   every pass, whoever's turn it is.
2. A person who answered a campaign's dial is on the line too: while one waits for an
   agent, waiting callbacks stand aside for the pass (the dialer's rule 4 gives the
   person the agent), so a callback never turns a live answer into an abandon.
3. Between waiting callbacks and running campaigns that share agents (a contest), the
   agents are handed out by stride scheduling: campaigns get ``campaign_share`` of the
   hand-outs and the callback desk the rest. The side further below its share goes
   next, callbacks on a tie. Over any stretch of contest, each side's count stays within
   one hand-out of its share of the total (stride scheduling's bound), plus the agents
   that free up in one and the same pass (the router hands those out together).
4. The counts start afresh when a contest ends (no callback waits or no campaign runs),
   so a campaign that dialled alone all morning owes nothing to the afternoon's
   callbacks, and the reverse.
5. On the campaigns' turn the waiting callbacks of the contested queues stand aside for
   the pass (out of the router's line, back at their very place after it), and the
   dialer may take at most the hand-outs that keep campaigns within their share; the
   agents it leaves go to the callbacks in the same pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ccqueue.core import commands as cmd

# Equal turns: "share fairly" with no other word from the configuration. Centres that
# want callbacks (promised to a customer) ahead lower it; 0 restores callbacks first.
DEFAULT_CAMPAIGN_SHARE = 0.5


@dataclass(slots=True)
class ShareCounter:
    """Hand-outs to each side during the current contest (rules 3 and 4)."""

    campaign_share: float = DEFAULT_CAMPAIGN_SHARE
    campaigns: int = 0
    callbacks: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.campaign_share <= 1.0:
            raise ValueError(f"campaign_share must be within [0, 1], got {self.campaign_share}")

    def campaigns_turn(self) -> bool:
        """Whether the next agent goes to a campaign: its count over its share is below
        the callbacks' count over theirs (callbacks on a tie)."""
        share = self.campaign_share
        if share <= 0.0:
            return False
        if share >= 1.0:
            return True
        return (self.campaigns + 1) / share < (self.callbacks + 1) / (1.0 - share)

    def campaign_allowance(self) -> int:
        """How many hand-outs in a row campaigns may take before the callbacks' turn."""
        if not self.campaigns_turn():
            return 0
        share = self.campaign_share
        if share >= 1.0:
            return 1_000_000  # campaigns only: no turn ever comes for callbacks
        # The largest k with (campaigns + k) / share < (callbacks + 1) / (1 - share).
        bound = (self.callbacks + 1) / (1.0 - share) * share - self.campaigns
        return max(1, math.ceil(bound) - 1)

    def note(self, *, campaigns: int = 0, callbacks: int = 0) -> None:
        self.campaigns += campaigns
        self.callbacks += callbacks

    def reset(self) -> None:
        self.campaigns = 0
        self.callbacks = 0


class Blender:
    """One pass of hand-outs after each event: callers, then campaigns and callbacks in
    their turns (rules 1-5). Built by the facade with the parts it drives."""

    def __init__(
        self,
        *,
        campaign_share: float,
        contested_queues: Callable[[], frozenset[str]],
        person_waiting: Callable[[], bool],
        callbacks_waiting: Callable[[Iterable[str]], list[str]],
        stand_aside: Callable[[list[str]], None],
        back_in_line: Callable[[list[str]], None],
        dispatch: Callable[[float, list[cmd.Command]], int],
        pace: Callable[[float, list[cmd.Command], int | None], int],
    ) -> None:
        self.counter = ShareCounter(campaign_share=campaign_share)
        self._contested_queues = contested_queues
        self._person_waiting = person_waiting
        self._callbacks_waiting = callbacks_waiting
        self._stand_aside = stand_aside
        self._back_in_line = back_in_line
        self._dispatch = dispatch
        self._pace = pace

    def reconfigure(self, campaign_share: float) -> None:
        self.counter = ShareCounter(
            campaign_share=campaign_share, campaigns=self.counter.campaigns, callbacks=self.counter.callbacks
        )

    def run(self, now: float, out: list[cmd.Command]) -> None:
        queues = self._contested_queues()
        waiting = self._callbacks_waiting(queues) if queues else []
        if not waiting:
            self.counter.reset()  # rule 4
            self._dispatch(now, out)
            self._pace(now, out, None)
            return
        person = self._person_waiting()
        if not person and not self.counter.campaigns_turn():
            offered = self._dispatch(now, out)
            self.counter.note(callbacks=offered)
            self.counter.note(campaigns=self._pace(now, out, None))
            return
        # Rules 2 and 5: the callbacks stand aside for the campaigns' hand-outs.
        limit = None if person else self.counter.campaign_allowance()
        self._stand_aside(waiting)
        try:
            self._dispatch(now, out)
            taken = self._pace(now, out, limit)
        finally:
            self._back_in_line(waiting)
        self.counter.note(campaigns=taken)
        self.counter.note(callbacks=self._dispatch(now, out))
