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


def _field(message: Mapping[str, str], name: str) -> str:
    # panoramisk's Message is case-insensitive and returns '' for absent headers.
    value = message.get(name) or ""
    if not value:
        raise IncompleteMessage(f"{message.get('Event') or 'message'} without {name}")
    return str(value)


def translate_event(message: Mapping[str, str]) -> ev.Event | None:
    """The core event an AMI event stands for, or None if the core does not care."""
    name = (message.get("Event") or "").lower()
    if name == "hangup":
        return ev.ChannelHungUp(uniqueid=_field(message, "Uniqueid"), cause=message.get("Cause-txt") or "")
    if name == "bridgeenter":
        return ev.ChannelBridged(uniqueid=_field(message, "Uniqueid"), bridge_id=_field(message, "BridgeUniqueid"))
    if name == "dialend":
        # An Originate's own dial has no calling channel (no Uniqueid): not ours to follow.
        if not message.get("Uniqueid"):
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
        ev.DeviceStateChanged(device=str(m.get("Device")), state=str(m.get("State")))
        for m in answer
        if (m.get("Event") or "").lower() == "devicestatechange" and m.get("Device") and m.get("State")
    ]


def live_uniqueids(status_events: list[Mapping[str, str]]) -> frozenset[str]:
    """The uniqueids listed by a CoreShowChannels answer."""
    return frozenset(
        str(m.get("Uniqueid")) for m in status_events if (m.get("Event") or "").lower() == "coreshowchannel" and m.get("Uniqueid")
    )


def channel_status(answer: list[Mapping[str, str]], uniqueid: str) -> ChannelStatus | None:
    """The channel a ``Status`` answer for ``uniqueid`` reports; None when Asterisk has no
    such channel (an error answer) or reports another one."""
    for m in answer:
        if (m.get("Event") or "").lower() == "status" and m.get("Uniqueid") == uniqueid:
            return ChannelStatus(
                channel=str(m.get("Channel") or ""),
                uniqueid=uniqueid,
                application=str(m.get("Application") or ""),
                data=str(m.get("Data") or ""),
            )
    return None
