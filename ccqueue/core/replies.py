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
from ccqueue.core.records import CallbackRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimAnswer:
    """The answer to an agent leg's claim: bridge it to ``caller_uniqueid``, or refuse."""

    offer_id: str
    caller_uniqueid: str | None  # None: refused (or a callback), see dial
    reason: str
    dial: str | None = None  # a callback: the agent leg dials this (the customer) itself
    callback_number: str | None = None  # said to the agent before dialling


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackBooked:
    """The answer to a CallbackRequested: the callback that holds this number's place."""

    callback: CallbackRecord
    duplicate: bool  # True: one was already pending for this number and queue


@dataclass(frozen=True, slots=True, kw_only=True)
class CallbackClosed:
    """The answer to a CallbackCancelled: the callback's last record."""

    callback: CallbackRecord


Reply = ClaimAnswer | CallbackBooked | CallbackClosed


@dataclass(frozen=True, slots=True)
class Handled:
    """What one event came to: the commands to carry out, and the reply for the asker."""

    commands: list[cmd.Command]
    reply: Reply | None = None
