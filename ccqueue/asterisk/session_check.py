"""Who may open a FastAGI session, and for which channel.

A FastAGI session is a TCP connection that announces a channel in its headers; nothing in
the protocol proves that Asterisk opened it. So a session is believed only when:

1. it comes from an address Asterisk is allowed to connect from (``asterisk.agi.allow``);
2. its values are well formed: the uniqueid (which ccqueue uses to refer to the channel in
   AMI actions and in the claim it grants an agent) is a plain token, the channel name
   holds no dialplan punctuation (the agent's dialplan turns the granted uniqueid into the
   name, by an exact look-up, and hands that to ``Bridge()``, which matches uniqueids by
   prefix), the script is one ccqueue serves;
3. Asterisk, asked over AMI (``Status``), reports that very channel — same uniqueid, same
   name — running ``AGI()`` for that very script at this moment.

A session that fails 1 or 3 is not a call: it is closed with a log line and changes
nothing. A real call whose values do not validate (2) is refused with a record, and the
dialplan plays the apology.

4. Check 3 costs an AMI round trip per session, which under load is the slowest step of
   a call. So a session that presents the *session key* is believed without it: the
   dialplan adds ``?key=${CCQ_AGI_KEY}`` to every FastAGI address, and ccqueue sets that
   global in Asterisk over AMI at each login (``Setvar``). The key is derived from the
   AMI secret (``session_key``), so both members of an active/standby pair set the same
   one, and it never leaves ccqueue, Asterisk and those who may read Asterisk's
   globals — who could do anything with AMI anyway. A session with no key or another key
   (Asterisk restarted and ccqueue has not logged in again, a dialplan reload cleared
   the globals, a forger) is asked about over AMI exactly as before, and ccqueue sets the
   key again.

Pure functions; the AMI question is asked by the caller of ``verdict``.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

# Asterisk's own uniqueids are "<epoch>.<sequence>"; ccqueue's Originates and the tests'
# probes set ChannelIds of letters, digits, '.', '_' and '-'. Asterisk caps them at 150.
UNIQUEID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,149}")
# "<technology>/<resource>", e.g. PJSIP/agent1-0000002a, Local/100@hotline-00000001;2.
# No ',', '(', ')', '&', '^', '|', quotes, spaces or '$' — the characters that would mean
# something to an application's argument parser or to the dialplan's expression engine.
CHANNEL = re.compile(r"[A-Za-z0-9_]{1,20}/[A-Za-z0-9_.@+*#:=~-]{1,180}(?:;[12])?")


# The Asterisk global holding the session key, and the query field that carries it (rule 4).
KEY_VARIABLE = "CCQ_AGI_KEY"
_KEY_FIELD = "key="


def session_key(ami_secret: str) -> str:
    """The session key for an AMI secret: 128 bits of HMAC-SHA256, as hex (rule 4)."""
    return hmac.new(ami_secret.encode(), b"ccqueue FastAGI session key", hashlib.sha256).hexdigest()[:32]


def presents_key(network_script: str, key: str | None) -> bool:
    """Whether a session's script (``agi_network_script``, ``claim?key=...``) carries ``key``."""
    if not key:
        return False
    _, _, query = network_script.partition("?")
    given = next((part[len(_KEY_FIELD) :] for part in query.split("&") if part.startswith(_KEY_FIELD)), "")
    return hmac.compare_digest(given.encode(), key.encode())


@dataclass(frozen=True, slots=True, kw_only=True)
class ChannelStatus:
    """What Asterisk reports of a live channel (AMI ``Status``)."""

    channel: str
    uniqueid: str
    application: str
    data: str


def parse_allow(entries: Iterable[str]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks FastAGI accepts connections from (entries already validated)."""
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def peer_allowed(peer: object, allowed: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    """Whether a socket's peer address (``getpeername()``) is in one of the networks."""
    if not isinstance(peer, tuple) or not peer or not isinstance(peer[0], str):
        return False  # a UNIX socket or an unknown family: not Asterisk over TCP
    try:
        address = ipaddress.ip_address(peer[0].split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in allowed)


def malformed(headers: Mapping[str, str]) -> str | None:
    """Why a session's channel values cannot be used, or None when they can."""
    uniqueid = headers.get("agi_uniqueid", "")
    if not UNIQUEID.fullmatch(uniqueid):
        return "uniqueid malformed"
    if not CHANNEL.fullmatch(headers.get("agi_channel", "")):
        return "channel name malformed"
    return None


def script_of(agi_data: str) -> str:
    """The script an ``AGI()`` application's argument names: ``agi://host:port/feature,login``
    → ``feature``."""
    url = agi_data.split(",", 1)[0].strip()
    return urlsplit(url).path.strip("/").split("?", 1)[0]


def verdict(script: str, headers: Mapping[str, str], status: ChannelStatus | None) -> str | None:
    """Why Asterisk's report contradicts the session, or None when it confirms it."""
    if status is None:
        return "no such channel"
    if status.uniqueid != headers.get("agi_uniqueid"):
        return "uniqueid differs"
    if status.channel != headers.get("agi_channel"):
        return "channel name differs"
    if status.application.lower() != "agi":
        return f"channel is running {status.application or 'nothing'}, not AGI"
    if script_of(status.data) != script:
        return "channel runs another AGI script"
    return None
