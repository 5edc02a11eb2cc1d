"""AMI messages → the core's typed events. panoramisk stops here.

A panoramisk ``Message`` answers ``''`` for any header it does not have, so a missing
field would pass silently as an empty string. Every field read here is required
explicitly: an event without it raises ``IncompleteMessage`` and is dropped by the caller
with a log line, never half-translated.

Pure functions over plain mappings; tested with recorded AMI transcripts.
"""

from __future__ import annotations

from collections.abc import Mapping

from ccqueue.asterisk.session_check import ChannelStatus
from ccqueue.core import events as ev
from ccqueue.core.errors import AsteriskMisbehaved

# OriginateResponse 'Reason' codes (Asterisk's enum ast_control_frame_type subset used by
# the originate code): 0 failed, 1 hung up, 3 ring timeout, 4 answered, 5 busy,
# 8 congestion.
REASON_ANSWERED = "4"
_RING_FAILURES = {
    "3": ev.RingFailure.NO_ANSWER,
    "5": ev.RingFailure.BUSY,
    "1": ev.RingFailure.NO_ANSWER,  # the phone rejected or dropped the ring
    "8": ev.RingFailure.UNREACHABLE,
    "0": ev.RingFailure.UNREACHABLE,
}


class IncompleteMessage(AsteriskMisbehaved, ValueError):
    """An AMI message without a field it must carry."""

    error_id = "ami-message-incomplete"


def _one(message: Mapping[str, str], name: str) -> str:
    """A field that is given once, or '' when absent. panoramisk's Message turns a field
    given twice into a list: which of the values is meant cannot be told, so such a
    message is refused as incomplete."""
    value = message.get(name) or ""
    if isinstance(value, list):
        raise IncompleteMessage(f"{name} given {len(value)} times")
    return str(value)


def _single(message: Mapping[str, str], name: str) -> str:
    """As ``_one``, for list answers: an item with the field given twice reads as without it."""
    value = message.get(name) or ""
    return "" if isinstance(value, list) else str(value)


def _field(message: Mapping[str, str], name: str) -> str:
    # panoramisk's Message is case-insensitive and returns '' for absent headers.
    value = _one(message, name)
    if not value:
        raise IncompleteMessage(f"{_single(message, 'Event') or 'message'} without {name}")
    return value


# Every event ``translate_event`` and ``ringing_uniqueid`` read: the AMI link skips the
# others unparsed (events that answer an action reach their action whatever their name).
EVENTS_READ = frozenset({"hangup", "bridgeenter", "dialend", "devicestatechange", "dialbegin", "newstate", "userevent"})


def translate_event(message: Mapping[str, str]) -> ev.Event | None:
    """The core event an AMI event stands for, or None if the core does not care."""
    name = _one(message, "Event").lower()
    if name == "hangup":
        return ev.ChannelHungUp(uniqueid=_field(message, "Uniqueid"), cause=_single(message, "Cause-txt"))
    if name == "bridgeenter":
        return ev.ChannelBridged(uniqueid=_field(message, "Uniqueid"), bridge_id=_field(message, "BridgeUniqueid"))
    if name == "dialend":
        # An Originate's own dial has no calling channel (no Uniqueid): not ours to follow.
        if not _one(message, "Uniqueid"):
            return None
        return ev.DialEnded(uniqueid=_field(message, "Uniqueid"), status=_field(message, "DialStatus"))
    if name == "devicestatechange":
        return ev.DeviceStateChanged(device=_field(message, "Device"), state=_field(message, "State"))
    return None


# Newstate's ChannelState for a channel whose far end rings (Asterisk's AST_STATE_RINGING).
_STATE_RINGING = "5"


def ringing_uniqueid(message: Mapping[str, str]) -> str | None:
    """The uniqueid of a channel whose phone starts ringing, or None.

    An Originate's dial announces its new channel with DialBegin (no calling channel, the
    new one as ``DestUniqueid``) as the phone is sent the call, and the channel moves to
    Ringing (Newstate, state 5) when the phone says it rings. Either marks the ring; the
    first one seen counts (the screen-pop goes out then).
    """
    name = (message.get("Event") or "").lower()
    if name == "dialbegin" and not message.get("Uniqueid"):
        return message.get("DestUniqueid") or None
    if name == "newstate" and message.get("ChannelState") == _STATE_RINGING:
        return message.get("Uniqueid") or None
    return None


def ring_failure(originate_response: Mapping[str, str]) -> ev.RingFailure | None:
    """None when the agent answered; otherwise why its phone did not."""
    reason = _field(originate_response, "Reason")
    if reason == REASON_ANSWERED:
        return None
    return _RING_FAILURES.get(reason, ev.RingFailure.UNREACHABLE)


_DIAL_FAILURES = {
    "3": ev.DialFailure.NO_ANSWER,
    "1": ev.DialFailure.NO_ANSWER,  # hung up before an answer (a ring cut short)
    "5": ev.DialFailure.BUSY,
    "8": ev.DialFailure.FAILED,  # congestion
    "0": ev.DialFailure.FAILED,
}


def dial_failure(originate_response: Mapping[str, str]) -> ev.DialFailure | None:
    """None when a campaign's callee answered; otherwise why the dial ended."""
    reason = _field(originate_response, "Reason")
    if reason == REASON_ANSWERED:
        return None
    return _DIAL_FAILURES.get(reason, ev.DialFailure.FAILED)


def device_states(answer: list[Mapping[str, str]]) -> list[ev.DeviceStateChanged]:
    """The device states listed by a DeviceStateList answer."""
    return [
        ev.DeviceStateChanged(device=_single(m, "Device"), state=_single(m, "State"))
        for m in answer
        if _single(m, "Event").lower() == "devicestatechange" and _single(m, "Device") and _single(m, "State")
    ]


def live_uniqueids(status_events: list[Mapping[str, str]]) -> frozenset[str]:
    """The uniqueids listed by a CoreShowChannels answer."""
    return frozenset(
        _single(m, "Uniqueid")
        for m in status_events
        if _single(m, "Event").lower() == "coreshowchannel" and _single(m, "Uniqueid")
    )


def channel_status(answer: list[Mapping[str, str]], uniqueid: str) -> ChannelStatus | None:
    """The channel a ``Status`` answer for ``uniqueid`` reports; None when Asterisk has no
    such channel (an error answer) or reports another one."""
    for m in answer:
        if _single(m, "Event").lower() == "status" and _single(m, "Uniqueid") == uniqueid:
            return ChannelStatus(
                channel=_single(m, "Channel"),
                uniqueid=uniqueid,
                application=_single(m, "Application"),
                data=_single(m, "Data"),
            )
    return None
