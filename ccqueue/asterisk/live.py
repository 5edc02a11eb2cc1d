"""What Asterisk says of the calls in progress, read at start-up to take them back.

Two readings, both translated here so that no panoramisk message goes further:

- the live channels (AMI ``Status`` with the channel variables ccqueue keeps on them:
  the caller's call id, arrival, queue and place; an agent leg's offer and call);
- what the dialplan left in Asterisk's database for callers that hung up while ccqueue
  was away, and for conversations that ended (AMI ``DBGetTree``, family ``ccqueue-away``).

A value Asterisk reports as ``(null)`` is an unset variable. Whatever does not parse
(a time that is not a number) is dropped from that entry, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# The channel variables read from every live channel.
CALLER_VARIABLES = ("CCQ_CALL_ID", "CCQ_ENTERED", "CCQ_HOTLINE", "CCQ_QUEUE", "CCQ_QUEUED", "CCQ_PRIORITY", "CCQ_LANG")
AGENT_LEG_VARIABLES = ("CCQ_OFFER", "CCQ_CALL")
STATUS_VARIABLES = CALLER_VARIABLES + AGENT_LEG_VARIABLES
AWAY_FAMILY = "ccqueue-away"


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveChannel:
    uniqueid: str
    channel: str
    context: str
    application: str
    bridge_id: str  # '' when not in a bridge
    caller: str
    variables: Mapping[str, str] = field(default_factory=dict)  # set variables only

    @property
    def endpoint(self) -> str:
        """``PJSIP/agent1-0000002a`` -> ``PJSIP/agent1``."""
        return self.channel.rsplit("-", 1)[0]


@dataclass(frozen=True, slots=True, kw_only=True)
class AwayEntry:
    uniqueid: str
    call_id: str
    entered_at: float
    ended_at: float
    outcome: str  # abandoned, failed, refused (at the door, for load), or answered: a conversation's end
    hotline: str
    queue: str
    queued_at: float | None
    caller: str
    channel: str
    # A conversation's end only (keyed by its agent leg's uniqueid): the caller's uniqueid
    # and the hang-up cause (a number, '' when Asterisk gave none).
    caller_uniqueid: str = ""
    cause: str = ""


def _unset(value: str) -> bool:
    return value in ("", "(null)")


def _variables(raw: object) -> dict[str, str]:
    lines = raw if isinstance(raw, list) else [raw] if isinstance(raw, str) else []
    found = {}
    for line in lines:
        name, sep, value = str(line).partition("=")
        if sep and name in STATUS_VARIABLES and not _unset(value):
            found[name] = value
    return found


def live_channels(answer: Sequence[Mapping[str, object]]) -> list[LiveChannel]:
    """The channels of a ``Status`` answer (sent with ``Variables``)."""
    channels = []
    for m in answer:
        if str(m.get("Event") or "").lower() != "status" or not m.get("Uniqueid"):
            continue
        channels.append(
            LiveChannel(
                uniqueid=str(m.get("Uniqueid")),
                channel=str(m.get("Channel") or ""),
                context=str(m.get("Context") or ""),
                application=str(m.get("Application") or ""),
                bridge_id=str(m.get("BridgeID") or ""),
                caller=str(m.get("CallerIDNum") or ""),
                variables=_variables(m.get("Variable")),
            )
        )
    return channels


def seconds(text: str) -> float | None:
    """An epoch time written by the dialplan or ccqueue; None if it is not one."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value > 0 else None


def away_entries(answer: Sequence[Mapping[str, object]]) -> list[AwayEntry]:
    """The entries of a ``DBGetTree`` answer for ``AWAY_FAMILY`` that parse."""
    entries = []
    prefix = f"/{AWAY_FAMILY}/"
    for m in answer:
        if str(m.get("Event") or "").lower() != "dbgettreeresponse":
            continue
        key, value = str(m.get("Key") or ""), str(m.get("Val") or "")
        if key.startswith(prefix) and (entry := away_entry(key.removeprefix(prefix), value)) is not None:
            entries.append(entry)
    return entries


def away_entry(uniqueid: str, value: str) -> AwayEntry | None:
    """One line of ``AWAY_FAMILY`` (its key, its value); None when it does not parse."""
    if (ended := _conversation_end(uniqueid, value)) is not None:
        return ended
    parts = value.split("|", 8)
    if len(parts) != 9:
        return None
    call_id, entered, ended_s, outcome, hotline, queue, queued, caller, channel = parts
    entered_at, ended_at = seconds(entered), seconds(ended_s)
    if entered_at is None or ended_at is None or outcome not in ("abandoned", "failed", "refused") or not hotline:
        return None
    return AwayEntry(
        uniqueid=uniqueid,
        call_id=call_id,
        entered_at=entered_at,
        ended_at=max(ended_at, entered_at),
        outcome=outcome,
        hotline=hotline,
        queue=queue,
        queued_at=seconds(queued),
        caller=caller,
        channel=channel,
    )


def _conversation_end(uniqueid: str, value: str) -> AwayEntry | None:
    """A line of the agent leg's hang-up handler: ``call id|caller's uniqueid|end|answered|
    cause|agent leg's channel``; None for any other line."""
    parts = value.split("|", 5)
    if len(parts) != 6 or parts[3] != "answered":
        return None
    call_id, caller_uniqueid, ended, _, cause, channel = parts
    ended_at = seconds(ended)
    if not call_id or ended_at is None:
        return None
    return AwayEntry(
        uniqueid=uniqueid,
        call_id=call_id,
        entered_at=ended_at,  # not in the line: the call's row has it
        ended_at=ended_at,
        outcome="answered",
        hotline="",
        queue="",
        queued_at=None,
        caller="",
        channel=channel,
        caller_uniqueid=caller_uniqueid,
        cause=cause if cause.isdigit() else "",
    )
