"""What a caller meets between "you are in the queue" and an agent: admission, overflow
destinations and announcements. Pure rules; ``Acd`` applies them.

Rules kept here:

1. Admission. A caller is refused (``Overflow.FULL``) when the queue already holds
   ``max_waiting`` callers, or ``max_per_agent`` times its staffed agents (logged in,
   not paused, holding the skills of the queue's widest step). With nobody staffed, a
   queue that does not ``join_without_agents`` refuses (``Overflow.NO_AGENTS``); one that
   does lets callers wait, and the per-agent limit (which would be 0) does not apply.
   Callbacks waiting for their turn hold places in line and count as callers.
2. Every refusal and every overflow goes to the destination configured for its reason,
   else to a polite message and a hang-up. A destination queue keeps the caller's
   arrival time (it is served by how long it has waited); at most ``MAX_HOPS`` queue
   moves per call, so two queues that overflow into each other cannot bounce a caller.
3. Announcements say the position, then the estimated wait, in the caller's language:
   app_queue's prompts (``queue-youarenext``; ``queue-thereare`` N
   ``queue-callswaiting``; ``queue-holdtime`` ... ``queue-minutes``), present in Asterisk's
   English and Russian core sounds.
4. The wait is rounded to what a person can use: under a minute is "less than one
   minute"; up to 10 minutes to the minute; up to 30 to 5 minutes; beyond, to 10
   minutes. An estimate that is not confident, or whose 80 % interval is wider than
   ``max_spread`` times itself (and than ``MIN_SPREAD_S``), is not announced: the
   position still is.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ccqueue.core.commands import Prompt
from ccqueue.core.dialogue import Play, Say, SayFormat

MAX_HOPS = 3
# Without announcements (which look at it each time), how often a waiting caller's
# forecast is looked at again for the diversion.
FORECAST_EVERY_S = 30.0
# An interval this narrow is announced whatever its ratio to the estimate: nobody is
# misled by "about 2 minutes" that turns out to be 3.
MIN_SPREAD_S = 120.0


class Overflow(enum.Enum):
    """Why a caller leaves (or is not let into) a queue."""

    FULL = "full"
    NO_AGENTS = "no_agents"
    MAX_WAIT = "max_wait"
    FORECAST = "forecast"


class DestinationKind(enum.Enum):
    QUEUE = "queue"  # target: the queue's name
    IVR = "ivr"  # target: an IVR tree's name
    VOICEMAIL = "voicemail"  # leave a message
    CALLBACK = "callback"  # offer a callback (declined: the caller waits on, or is released)
    MESSAGE = "message"  # target: a sound; then hang up


@dataclass(frozen=True, slots=True, kw_only=True)
class Destination:
    kind: DestinationKind
    target: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Admission:
    max_waiting: int | None = None
    max_per_agent: float | None = None
    join_without_agents: bool = True
    leave_without_agents: bool = False
    max_wait_s: float | None = None
    divert_ewt_s: float | None = None  # offer the FORECAST destination above this estimate
    destinations: Mapping[Overflow, Destination] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Announcements:
    first_after_s: float = 30.0
    every_s: float | None = 60.0  # None: once
    position: bool = True
    wait: bool = True
    max_spread: float = 1.0
    min_history: int = 20  # ended calls in the queue before a wait is said at all
    periodic: tuple[str, ...] = ()  # sounds played in turn
    periodic_every_s: float | None = None


def refusal(admission: Admission, *, waiting: int, staffed: int) -> Overflow | None:
    """Why a new caller may not join a queue holding ``waiting`` callers, if it may not."""
    if staffed == 0 and not admission.join_without_agents:
        return Overflow.NO_AGENTS
    if admission.max_waiting is not None and waiting >= admission.max_waiting:
        return Overflow.FULL
    if admission.max_per_agent is not None and staffed > 0 and waiting >= admission.max_per_agent * staffed:
        return Overflow.FULL
    return None


def _sound(name: str) -> Play:
    return Play(prompts=(name,))


def _number(value: int) -> Say:
    return Say(format=SayFormat.NUMBER, value=str(value))


def position_prompts(position: int) -> tuple[Prompt, ...]:
    if position <= 1:
        return (_sound("queue-youarenext"),)
    return (
        _sound("queue-thereare"),
        _number(position),
        _sound("queue-callswaiting"),
    )


def announced_minutes(seconds: float) -> int:
    """Rule 4: the minutes said for an estimate of ``seconds`` (0: "less than one")."""
    if seconds < 60.0:
        return 0
    minutes = seconds / 60.0
    step = 1 if minutes <= 10 else 5 if minutes <= 30 else 10
    return max(1, math.floor(minutes / step + 0.5) * step)


def wait_prompts(seconds: float, low: float, high: float, *, confident: bool, max_spread: float) -> tuple[Prompt, ...] | None:
    """The estimated-wait sentence, or None when it would not be honest to say one."""
    if not confident or not math.isfinite(seconds) or not math.isfinite(high):
        return None
    if high - low > max(MIN_SPREAD_S, max_spread * seconds):
        return None
    minutes = announced_minutes(seconds)
    if minutes == 0:
        return (
            _sound("queue-holdtime"),
            _sound("queue-less-than"),
            _number(1),
            _sound("queue-minute"),
        )
    return (
        _sound("queue-holdtime"),
        _number(minutes),
        _sound("queue-minute" if minutes == 1 else "queue-minutes"),
    )
