"""Which FastAGI sessions are believed: addresses, well-formed values, Asterisk's word."""

from __future__ import annotations

import pytest

from ccqueue.asterisk.agi import AgiServer
from ccqueue.asterisk.session_check import (
    ChannelStatus,
    malformed,
    parse_allow,
    peer_allowed,
    presents_key,
    script_of,
    session_key,
    verdict,
)
from ccqueue.asterisk.translate import channel_status
from ccqueue.core import events as ev
from tests.support.fakes import agi_headers, raw_agi_session

LOOPBACK = parse_allow(["127.0.0.0/8", "::1/128"])
HEADERS = {"agi_uniqueid": "1796000000.12", "agi_channel": "Local/100@hotline-00000001;2"}
CONFIRMED = ChannelStatus(
    channel="Local/100@hotline-00000001;2", uniqueid="1796000000.12", application="AGI", data="agi://127.0.0.1:4573/inbound"
)


@pytest.mark.parametrize(
    ("peer", "allowed"),
    [
        (("127.0.0.1", 40000), True),
        (("127.5.6.7", 40000), True),
        (("::1", 40000, 0, 0), True),
        (("::ffff:127.0.0.1", 40000, 0, 0), True),  # an IPv4 peer on a dual-stack socket
        (("192.0.2.10", 40000), False),
        (("fe80::1%eth0", 40000, 0, 2), False),
        ("/run/ccqueue.sock", False),
        (None, False),
    ],
)
def test_peers(peer: object, allowed: bool) -> None:
    assert peer_allowed(peer, LOOPBACK) is allowed


def test_a_configured_network_admits_its_hosts_only() -> None:
    nets = parse_allow(["192.0.2.0/24"])
    assert peer_allowed(("192.0.2.77", 1), nets) and not peer_allowed(("127.0.0.1", 1), nets)


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        (HEADERS, None),
        ({**HEADERS, "agi_channel": "PJSIP/agent1-0000002a"}, None),
        ({**HEADERS, "agi_uniqueid": "probe-1796591190601-1-hl"}, None),
        ({**HEADERS, "agi_channel": "Local/100@hotline-0000beef;2,F(ccqueue-survey^s^1)&PJSIP/evil"}, "channel name malformed"),
        ({**HEADERS, "agi_channel": "Local/100 x@hotline-1;2"}, "channel name malformed"),
        ({**HEADERS, "agi_channel": 'PJSIP/a"b-1'}, "channel name malformed"),
        ({**HEADERS, "agi_channel": "PJSIP/${CCQ_DIAL}-1"}, "channel name malformed"),
        ({**HEADERS, "agi_channel": ""}, "channel name malformed"),
        ({**HEADERS, "agi_uniqueid": ""}, "uniqueid malformed"),
        ({**HEADERS, "agi_uniqueid": "1796000000.12,F(x)"}, "uniqueid malformed"),
        ({**HEADERS, "agi_uniqueid": "x" * 151}, "uniqueid malformed"),
    ],
)
def test_malformed_values(headers: dict[str, str], problem: str | None) -> None:
    assert malformed(headers) == problem


@pytest.mark.parametrize(
    ("data", "script"),
    [
        ("agi://127.0.0.1:4573/inbound", "inbound"),
        ("agi://127.0.0.1:4573/feature,logout", "feature"),
        ("agi://127.0.0.1:4573/claim?x=1", "claim"),
        ("agi://[::1]:4573/survey", "survey"),
        ("", ""),
    ],
)
def test_the_script_an_agi_argument_names(data: str, script: str) -> None:
    assert script_of(data) == script


@pytest.mark.parametrize(
    ("status", "problem"),
    [
        (CONFIRMED, None),
        (None, "no such channel"),
        (ChannelStatus(channel=CONFIRMED.channel, uniqueid="other", application="AGI", data=CONFIRMED.data), "uniqueid differs"),
        (
            ChannelStatus(channel="PJSIP/x-1", uniqueid=CONFIRMED.uniqueid, application="AGI", data=CONFIRMED.data),
            "channel name differs",
        ),
        (
            ChannelStatus(channel=CONFIRMED.channel, uniqueid=CONFIRMED.uniqueid, application="Bridge", data=""),
            "channel is running Bridge, not AGI",
        ),
        (
            ChannelStatus(
                channel=CONFIRMED.channel, uniqueid=CONFIRMED.uniqueid, application="AGI", data="agi://h/feature,login"
            ),
            "channel runs another AGI script",
        ),
    ],
)
def test_asterisks_word(status: ChannelStatus | None, problem: str | None) -> None:
    assert verdict("inbound", HEADERS, status) == problem


def test_a_status_answer_is_read_for_the_channel_asked_about() -> None:
    answer = [
        {"Response": "Success", "EventList": "start", "Message": "Channel status will follow"},
        {
            "Event": "Status",
            "Channel": CONFIRMED.channel,
            "Uniqueid": CONFIRMED.uniqueid,
            "Application": "AGI",
            "Data": CONFIRMED.data,
        },
        {"Event": "StatusComplete", "EventList": "Complete", "ListItems": "1"},
    ]
    assert channel_status(answer, CONFIRMED.uniqueid) == CONFIRMED
    assert channel_status(answer, "someone-else") is None
    assert channel_status([{"Response": "Error", "Message": "No such channel"}], CONFIRMED.uniqueid) is None


async def _session(server: AgiServer, headers: dict[str, str]) -> list[bytes]:
    """Connect to ``server`` on loopback, send ``headers``, answer every command, return them."""
    return await raw_agi_session(server.handle_connection, agi_headers(headers))


def _server(*, allowed: list[str], status: ChannelStatus | None) -> tuple[AgiServer, list[str], list[ev.Event]]:
    asked: list[str] = []
    posted: list[ev.Event] = []

    async def lookup(uniqueid: str) -> ChannelStatus | None:
        asked.append(uniqueid)
        return status

    async def ask(event: ev.Event) -> list[object]:
        posted.append(event)
        return []

    server = AgiServer(ask=ask, post=posted.append, channel_status=lookup, allowed_peers=parse_allow(allowed))  # type: ignore[arg-type]
    return server, asked, posted


FEATURE = {
    "agi_network_script": "feature",
    "agi_arg_1": "logout",
    "agi_uniqueid": "1796000000.3",
    "agi_channel": "PJSIP/agent1-00000003",
}


async def test_a_session_from_an_address_not_allowed_is_closed_unread() -> None:
    server, asked, posted = _server(allowed=["192.0.2.0/24"], status=None)
    assert await _session(server, FEATURE) == []
    assert asked == [] and posted == []


async def test_a_session_asterisk_does_not_confirm_is_closed_and_changes_nothing() -> None:
    server, asked, posted = _server(allowed=["127.0.0.0/8"], status=None)
    assert await _session(server, FEATURE) == []
    assert asked == ["1796000000.3"] and posted == []


async def test_a_real_caller_with_a_malformed_name_is_recorded_as_refused() -> None:
    channel = "Local/100,F(x)@hotline-00000004;2"
    status = ChannelStatus(channel=channel, uniqueid="1796000000.4", application="AGI", data="agi://127.0.0.1:4573/inbound")
    server, _, posted = _server(allowed=["127.0.0.0/8"], status=status)
    headers = {"agi_network_script": "inbound", "agi_uniqueid": "1796000000.4", "agi_channel": channel, "agi_extension": "100"}
    # AGI() returns and the dialplan apologises at once (CCQ_END), not holding the caller.
    assert await _session(server, headers) == [b'SET VARIABLE CCQ_AWAY ""\n', b"SET VARIABLE CCQ_END refused\n"]
    [arrival] = posted
    assert isinstance(arrival, ev.CallArrived)
    assert (arrival.uniqueid, arrival.channel, arrival.refused) == ("1796000000.4", channel, "channel name malformed")


# -- the session key (rule 4) ---------------------------------------------------------------

KEY = session_key("s3cret")


def test_the_session_key_is_the_secrets_own_and_read_only_from_the_key_field() -> None:
    assert KEY == session_key("s3cret") != session_key("other") and len(KEY) == 32
    assert presents_key(f"claim?key={KEY}", KEY) and presents_key(f"feature?x=1&key={KEY}", KEY)
    for script in ["claim", "claim?key=", f"claim?key={KEY[:-1]}", f"claim?nokey={KEY}", f"claim?key={KEY}x"]:
        assert not presents_key(script, KEY), script
    assert not presents_key("claim?key=", "") and not presents_key("claim?key=", None)


async def test_a_session_with_the_key_is_believed_without_asking_asterisk() -> None:
    server, asked, _ = _server(allowed=["127.0.0.0/8"], status=None)
    server._session_key = KEY
    reset: list[str] = []
    server._keyless = lambda: reset.append("again")
    await _session(server, {**FEATURE, "agi_network_script": f"feature?key={KEY}"})
    assert asked == [] and reset == []
    # Without it (a forger, or an Asterisk that lost the key): asked, and the key is set again.
    assert await _session(server, {**FEATURE, "agi_network_script": "feature?key=0123"}) == []
    assert asked == ["1796000000.3"] and reset == ["again"]
