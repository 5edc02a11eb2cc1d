"""Blending in the simulator: an inbound day and an outbound campaign sharing agents.

``BlendedSimulation`` is ``ccqueue.sim.run.Simulation`` with one campaign added to the
scenario's settings: the same core decides (the dialer part included), and the
simulator plays the stand-in network too.

Rules kept here:

1. The core's commands for the campaign are carried out as live: ``FetchContacts`` is
   answered with fresh contacts (all in UTC, dialable all day), ``DialContact`` with the
   callee's draw, an outbound agent leg answers as an inbound one does
   (``answer_delay_s``), a released callee hangs up after the message it hears.
2. The callees: a person answers after a ring draw (AMD's two seconds included) and
   talks for a draw of ``talk``; a machine answers the same way and is hung up on by the
   core; a busy line ends after ``busy_s``; the rest ring until the ring timeout.
3. Its own random streams, seeded from the scenario's seed: the inbound callers and
   their agents' talk times are drawn exactly as without the campaign, so the two runs
   compare like for like.
4. The campaign starts with the day and is stopped at its end.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import random
from dataclasses import dataclass
from types import MappingProxyType

from ccqueue.core import commands as cmd
from ccqueue.core import events as ev
from ccqueue.core.campaigns import CallingWindow, CampaignSettings, Contact
from ccqueue.core.replies import ClaimAnswer
from ccqueue.sim.run import CallRow, Simulation
from ccqueue.sim.scenario import Scenario
from ccqueue.sim.summary import _counts

__all__ = ["BlendPlan", "BlendedSimulation", "compare"]

# Event kinds past Simulation's own.
_START, _STOP, _SUPPLY, _DIAL_END, _ANSWER, _HANGUP = range(100, 106)
ALL_DAY = CallingWindow(start_s=0, end_s=86_400)


@dataclass(frozen=True, slots=True, kw_only=True)
class BlendPlan:
    """The campaign and its callees (shares of dials)."""

    campaign: CampaignSettings
    human: float = 0.30
    machine: float = 0.20
    busy: float = 0.10
    ring_min_s: float = 5.0
    ring_max_s: float = 20.0
    busy_s: float = 4.0
    talk_mean_s: float = 120.0
    talk_sigma: float = 0.6
    message_s: float = 8.0  # the safe-harbour message, heard before the callee hangs up


class BlendedSimulation(Simulation):
    """One day of a scenario with a campaign sharing its agents."""

    def __init__(self, scenario: Scenario, plan: BlendPlan) -> None:
        campaign = dataclasses.replace(plan.campaign, window=ALL_DAY)
        settings = dataclasses.replace(scenario.settings, campaigns=MappingProxyType({campaign.name: campaign}))
        super().__init__(dataclasses.replace(scenario, settings=settings))
        self.plan = plan
        self.campaign = campaign
        self._rng = random.Random(f"{scenario.seed}:outbound")
        self._next_contact = 0
        self._uniqueids: dict[str, str] = {}  # attempt -> callee's uniqueid once answered
        self.outcomes: dict[str, str] = {}  # attempt -> outcome, as written

    def run(self) -> list[CallRow]:
        self._push(0.0, _START, self.campaign.name)
        self._push(self.scenario.duration_s, _STOP, self.campaign.name)
        return super().run()

    def _event(self, kind: int, arg: str) -> bool:
        now, acd = self.now, self.acd
        if kind == _START:
            self._apply(acd.handle(ev.CampaignRequested(campaign=arg, action=ev.CampaignAction.START), now))
        elif kind == _STOP:
            self._apply(acd.handle(ev.CampaignRequested(campaign=arg, action=ev.CampaignAction.STOP), now))
        elif kind == _SUPPLY:
            self._apply(acd.handle(ev.ContactsSupplied(campaign=self.campaign.name, contacts=self._contacts(int(arg))), now))
        elif kind == _DIAL_END:
            attempt_id, _, failure = arg.partition(" ")
            self._apply(acd.handle(ev.ContactDialEnded(attempt_id=attempt_id, failure=ev.DialFailure(failure)), now))
        elif kind == _ANSWER:
            attempt_id, _, amd = arg.partition(" ")
            if attempt_id not in acd.attempts:
                return False
            self._uniqueids[attempt_id] = attempt_id
            answered = ev.ContactAnswered(attempt_id=attempt_id, amd=amd, uniqueid=attempt_id, channel=f"SIM/{attempt_id}")
            self._apply(acd.handle(answered, now))
        elif kind == _HANGUP:
            if self._uniqueids.pop(arg, None) is None:
                return False
            self._apply(acd.handle(ev.ChannelHungUp(uniqueid=arg, cause="normal clearing"), now))
        else:
            return super()._event(kind, arg)
        return True

    def _contacts(self, limit: int) -> tuple[Contact, ...]:
        first = self._next_contact
        self._next_contact += limit
        return tuple(
            Contact(contact_id=n, campaign=self.campaign.name, number=f"+1999{n:07d}", name="", zone=dt.UTC)
            for n in range(first, first + limit)
        )

    def _apply(self, out: list[cmd.Command]) -> None:
        super()._apply(out)
        now, plan = self.now, self.plan
        for command in out:
            if isinstance(command, cmd.FetchContacts):
                self._push(now, _SUPPLY, str(command.limit))
            elif isinstance(command, cmd.DialContact):
                draw = self._rng.random()
                ring = self._rng.uniform(plan.ring_min_s, plan.ring_max_s)
                if draw < plan.human:
                    self._push(now + ring, _ANSWER, f"{command.attempt_id} HUMAN")
                elif draw < plan.human + plan.machine:
                    self._push(now + ring, _ANSWER, f"{command.attempt_id} MACHINE")
                elif draw < plan.human + plan.machine + plan.busy:
                    self._push(now + plan.busy_s, _DIAL_END, f"{command.attempt_id} busy")
                else:
                    self._push(now + command.ring_timeout_s, _DIAL_END, f"{command.attempt_id} no_answer")
            elif isinstance(command, cmd.ReleaseCaller) and command.call_id in self._uniqueids:
                heard = plan.message_s if command.sound else 0.0
                self._push(now + heard, _HANGUP, command.call_id)
            elif isinstance(command, cmd.HangupChannel) and command.uniqueid in self._uniqueids:
                self._push(now, _HANGUP, command.uniqueid)
            elif isinstance(command, cmd.Write):
                record = command.record
                outcome = getattr(record, "outcome", None)
                attempt_id = getattr(record, "attempt_id", None)
                if attempt_id is not None and outcome is not None and hasattr(record, "version"):
                    self.outcomes[attempt_id] = outcome.value

    def _answered(self, answer: ClaimAnswer) -> None:
        offer = self._offers.get(answer.offer_id)
        if offer is None or offer.call_id not in self._uniqueids:
            super()._answered(answer)
            return
        self._offers.pop(answer.offer_id)
        if answer.caller_uniqueid is not None:  # talking: the callee hangs up at the end
            talk = self._rng.lognormvariate(_mu(self.plan.talk_mean_s, self.plan.talk_sigma), self.plan.talk_sigma)
            self._push(self.now + talk, _HANGUP, offer.call_id)


def _mu(mean: float, sigma: float) -> float:
    return math.log(mean) - sigma**2 / 2


def compare(scenario: Scenario, plan: BlendPlan) -> dict[str, object]:
    """The same day with and without the campaign: inbound service level (answered in
    20 s over answered and abandoned) and the campaign's attempts by outcome."""
    alone = _counts(Simulation(scenario).run())
    blended_sim = BlendedSimulation(scenario, plan)
    blended = _counts(blended_sim.run())
    outcomes: dict[str, int] = {}
    for outcome in blended_sim.outcomes.values():
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return {
        "service_level_alone": alone["service_level_20s"],
        "service_level_blended": blended["service_level_20s"],
        "abandon_rate_alone": alone["abandon_rate"],
        "abandon_rate_blended": blended["abandon_rate"],
        "attempts": dict(sorted(outcomes.items())),
    }
