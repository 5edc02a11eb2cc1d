"""Replies: what the core tells whoever asked, apart from the commands to carry out.

Rules kept here:

1. A command is work for an adapter (ring a phone, write a record); a reply is the
   answer to the one who put the event in (an agent leg's claim, an API request). The
   engine carries out every command and hands the reply, if any, to the asker only.
2. At most one reply per event; events that nobody waits on have none.
3. Replies are frozen, slotted, keyword-only values like events and commands.
"""

from __future__ import annotations

from dataclasses import dataclass

from ccqueue.core import commands as cmd
from ccqueue.core.pacing import PacingView
from ccqueue.core.records import CallbackRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimAnswer:
    """The answer to an agent leg's claim: bridge it to ``caller_uniqueid``, or refuse."""

    offer_id: str
    caller_uniqueid: str | None  # None: refused (or a callback), see dial
    reason: str
    dial: str | None = None  # a callback: the agent leg dials this (the customer) itself
    callback_number: str | None = None  # said to the agent before dialling
    recording_file: str | None = None  # the agent context starts MixMonitor into it (ccqueue.core.recording)
    recording_held: bool = False  # on demand: MixMonitor starts muted, until the agent starts it
    call_id: str | None = None  # the caller's call, when granted (the adapter lets its recording notice end first)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackBooked:
    """The answer to a CallbackRequested: the callback that holds this number's place."""

    callback: CallbackRecord
    duplicate: bool  # True: one was already pending for this number and queue


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackClosed:
    """The answer to a CallbackCancelled: the callback's last record."""

    callback: CallbackRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class CampaignStatus:
    """A campaign as it stands: the answer to a CampaignRequested, and its view."""

    name: str
    mode: str
    state: str  # stopped | running | paused
    lines: int  # outbound channels it holds now
    max_lines: int
    dialing: int  # dials ringing
    waiting_for_agent: int  # persons answered, no agent yet
    connected: int  # persons talking to an agent
    previewing: int  # contacts shown to an agent, not dialled yet
    buffered: int  # contacts fetched, not dialled yet
    agents_on_outbound: int  # agents held by, ringing for, on or wrapping up a campaign call
    dial_level: float  # dials in flight per agent on the campaign (0 with none)
    attempts: dict[str, int]  # attempts ended so far in this process, by outcome
    pacing: PacingView


Reply = ClaimAnswer | CallbackBooked | CallbackClosed | CampaignStatus


@dataclass(frozen=True, slots=True)
class Handled:
    """What one event came to: the commands to carry out, and the reply for the asker."""

    commands: list[cmd.Command]
    reply: Reply | None = None
