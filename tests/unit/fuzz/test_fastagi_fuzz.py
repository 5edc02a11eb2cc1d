"""FastAGI under bad input: hostile session headers and garbled answers, on loopback,
against the real ``AgiServer`` in front of the real engine and core (only Asterisk's AMI
side is a stand-in, and it serialises every action with the real AMI client).

What is proved, whatever a peer sends:

- a caller's values (number, name, extension, keys) are data: no command ccqueue sends
  back over AGI carries them but checked values, and the AMI Originate that rings an agent
  holds exactly its own fields — a caller id like ``x" <1>`` or ``${SHELL(...)}`` is shown
  as text, never splits a field or adds one;
- a garbled, cut-off, endless or non-UTF-8 answer ends the session cleanly: the socket is
  closed at once (Asterisk's ``AGI()`` returns and the dialplan goes on to its hold loop or
  apology: no dead air), the server forgets the session, the engine hears that the caller
  left it, and nothing is logged as a crash;
- the values the claim and the notes set on a channel are refused unless plain.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from types import MappingProxyType
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from panoramisk.message import Message

from ccqueue.asterisk.agi import AgiServer, CallerSession, _channel_facts
from ccqueue.asterisk.ami import AmiFieldRefused, _Action, check_fields
from ccqueue.asterisk.dialogue_player import DialoguePlayer
from ccqueue.asterisk.session_check import ChannelStatus, parse_allow
from ccqueue.asterisk.telephony import AsteriskTelephony, caller_id_field
from ccqueue.core import commands as cmd
from ccqueue.core import dialogue as dlg
from ccqueue.core import events as ev
from ccqueue.core.acd import Acd, AcdSettings, AgentSettings, HotlineSettings, QueueSettings
from ccqueue.core.records import CallRecord
from ccqueue.core.replies import ClaimAnswer
from ccqueue.engine.engine import Engine
from tests.support.fakes import FakeAsterisk, Records, agi_session
from tests.unit.fuzz.conftest import ProductLog

FUZZ = settings(max_examples=100, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))

UNIQUEID = "1765000000.7"
CHANNEL = "PJSIP/trunk-00000007"


async def confirmed(uniqueid: str) -> ChannelStatus:
    """Asterisk's word: this channel runs the inbound script (the session is real)."""
    return ChannelStatus(channel=CHANNEL, uniqueid=uniqueid, application="AGI", data="agi://127.0.0.1/inbound")


class WireProtocol:
    """AMI's side of the link: keeps each action as it would go on the wire, and answers
    an Originate as Asterisk does when the agent's phone rings out unanswered."""

    def __init__(self) -> None:
        self.wire: list[str] = []

    def send(self, action: _Action, as_list: bool | None = None) -> asyncio.Future[Any]:
        self.wire.append(str(action))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_result(
            [
                Message({"Response": "Success", "Message": "Originate successfully queued"}),
                Message({"Event": "OriginateResponse", "Response": "Failure", "Reason": "3"}),
            ]
        )
        return future


class Rig:
    """The engine over the real core, the AGI server as its callers' line, and AMI's
    Originate serialised by the real client into ``protocol.wire``."""

    def __init__(self) -> None:
        self.records = Records()
        self.protocol = WireProtocol()
        self.telephony = AsteriskTelephony(
            host="127.0.0.1", port=1, username="u", secret="s", agent_context="ccqueue-agent", post=lambda e: None
        )
        self.telephony.ami._protocol = self.protocol  # type: ignore[assignment]
        self.telephony.ami.ready.set()
        settings_ = AcdSettings(
            queues=MappingProxyType({"support": QueueSettings(name="support")}),
            agents=MappingProxyType({"a1": AgentSettings(agent_id="a1", name="A", endpoint="PJSIP/a1", queues=("support",))}),
            hotlines=MappingProxyType({"100": HotlineSettings(number="100", queue="support")}),
        )
        self.server = AgiServer(
            ask=self._ask, post=self._post, channel_status=confirmed, allowed_peers=parse_allow(["127.0.0.0/8"])
        )
        self.engine = Engine(Acd(settings_), telephony=self.telephony, callers=self.server, records=self.records)
        self.events: list[ev.Event] = []

    async def _ask(self, event: ev.Event) -> Any:
        self.events.append(event)
        return await self.engine.ask(event)

    def _post(self, event: ev.Event) -> None:
        self.events.append(event)
        self.engine.post(event)

    async def run(self, body: Callable[[], Awaitable[Any]]) -> Any:
        task = asyncio.create_task(self.engine.run())
        try:
            await self.engine.ask(ev.AgentRequested(agent_id="a1", action=ev.AgentAction.LOGIN))
            return await body()
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def peer(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    headers: bytes,
    answer: Callable[[str, int], bytes | None],
    *,
    max_commands: int = 30,
) -> tuple[list[str], bool]:
    """Asterisk's side of one session: send ``headers``, answer the n-th command with
    ``answer(command, n)`` (None: close the connection instead). Returns the commands
    ccqueue sent and whether ccqueue closed the session by itself within 5 s."""
    listener = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    commands: list[str] = []
    closed_by_ccqueue = False
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(headers)
            async with asyncio.timeout(5):
                while len(commands) < max_commands:
                    line = await reader.readline()
                    if not line:
                        closed_by_ccqueue = True
                        break
                    commands.append(line.decode("utf-8", "replace").rstrip("\n"))
                    reply = answer(commands[-1], len(commands) - 1)
                    if reply is None:
                        writer.close()
                        break
                    writer.write(reply)
                    await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            closed_by_ccqueue = True
        writer.close()
    finally:
        listener.close()
        await asyncio.sleep(0.01)  # the session's own clean-up runs
    return commands, closed_by_ccqueue


# What ccqueue may send over AGI to a new inbound caller: its own texts, the call id it
# made, the music class and the waits it chose. Nothing a caller sent.
ALLOWED_COMMANDS = [
    re.compile(p)
    for p in (
        r"GET FULL VARIABLE \$\{CCQ_CALL_ID\}\|\$\{CCQ_ENTERED\}\|\$\{CCQ_QUEUE\}\|\$\{CCQ_QUEUED\}\|\$\{CCQ_PRIORITY\}\|\$\{CCQ_LANG\}",
        r"SET VARIABLE CCQ_CALL_ID [0-9a-f-]{36}",
        r'SET VARIABLE CCQ_AWAY ""',
        r"SET VARIABLE CCQ_END refused",
        r'EXEC MSet "[A-Z_]+=[A-Za-z0-9._+-]*(,[A-Z_]+=[A-Za-z0-9._+-]*)*"',
        r"SET MUSIC ON default",
        r"WAIT FOR DIGIT \d+",
        r'STREAM FILE [a-z0-9/_-]+ "[0-9*#]*"',
        r"HANGUP",
    )
]

# Caller values as a carrier or a hostile peer might send them: dialplan and AMI
# punctuation, functions, quotes, NUL, carriage returns, bytes that are not UTF-8.
HOSTILE = [
    b"${SHELL(touch /tmp/owned)}",
    b'x" <1234>',
    b"x)\rHangup(",
    b"1234,1|2;3&4^5",
    b"$[1+1]",
    b"\x00\x00",
    b"\xff\xfe\xfa",
    b"<>\\\"'`",
    b"Action: Originate",
    b"\r\nVariable: CCQ_X=1",
    "Jos\u00e9 \u2603".encode(),
]
value = st.one_of(st.sampled_from(HOSTILE), st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")))


def _headers(callerid: bytes, name: bytes, extension: bytes, extra: bytes) -> bytes:
    return (
        b"agi_network: yes\nagi_network_script: inbound\nagi_request: agi://127.0.0.1/inbound\n"
        + f"agi_channel: {CHANNEL}\nagi_uniqueid: {UNIQUEID}\n".encode()
        + b"agi_callerid: " + callerid + b"\nagi_calleridname: " + name + b"\nagi_extension: " + extension + b"\n"
        + b"agi_arg_1: " + extra + b"\n\n"
    )  # fmt: skip


ORIGINATE_FIELDS = ["Action", "ActionID", "Async", "CallerID", "Channel", "ChannelId", "Context", "Exten", "Priority", "Timeout"]


def _ami_fields(wire: str) -> list[tuple[str, str]]:
    lines = wire.split("\r\n")
    assert lines[-2:] == ["", ""], wire  # one blank line ends it, and nothing follows
    return [tuple(line.split(": ", 1)) for line in lines[:-2]]  # type: ignore[misc]


@FUZZ
@given(callerid=value, name=value, extension=st.one_of(st.just(b"100"), value), extra=value)
def test_a_callers_values_are_data_in_every_command_sent_back(
    product_log: ProductLog, callerid: bytes, name: bytes, extension: bytes, extra: bytes
) -> None:
    rig = Rig()

    async def session() -> tuple[list[str], bool]:
        return await peer(
            rig.server.handle_connection, _headers(callerid, name, extension, extra), lambda c, n: b"200 result=0\n"
        )

    commands, _closed = asyncio.run(rig.run(session))
    for command in commands:
        assert any(p.fullmatch(command) for p in ALLOWED_COMMANDS), command
    # The caller's number reaches the records as it came (decoded, never interpreted).
    arrived = [e for e in rig.events if isinstance(e, ev.CallArrived)]
    assert len(arrived) == 1, rig.events
    # A header is one line: what follows a line break is another (ignored) header line.
    expected = callerid.split(b"\n")[0].decode("utf-8", "replace").rstrip("\r")
    assert arrived[0].caller == ("" if expected in ("unknown", "<unknown>") else expected)
    assert rig.records.of(CallRecord) and {r.caller for r in rig.records.of(CallRecord)} == {arrived[0].caller}
    # The agent's phone is rung with exactly ccqueue's fields, however the caller id reads.
    if extension == b"100":
        assert rig.protocol.wire, "the agent was never rung: nothing was checked"
    for wire in rig.protocol.wire:
        fields = _ami_fields(wire)
        assert sorted(k for k, _ in fields) == sorted([*ORIGINATE_FIELDS, "Variable", "Variable"]), wire
        caller_id = dict(fields)["CallerID"]
        assert re.fullmatch(r'"[^"\\<>\x00-\x1f\x7f]+" <\+?[0-9*#]*>', caller_id), caller_id
        assert sorted(v for k, v in fields if k == "Variable")[0].startswith("CCQ_CALL=")
    assert rig.server.sessions == {}
    assert any(isinstance(e, ev.CallerSessionEnded) for e in rig.events)
    assert product_log.tracebacks_without_id() == []


# Answers to commands as a broken or hostile peer might give them.
REPLIES = [
    b"200 result=0\n",
    b"200 result=\n",
    b"200 result=abc (\xff\xfe)\n",
    b"200 result=1 (${SHELL(id)}|x|y|z|w|v)\n",
    b"200 result=-1\n",
    b"200 result=53\n",  # the key 5
    b"510 Invalid or unknown command\n",
    b"520-Invalid command syntax.  Proper usage follows:\nUsage: WAIT FOR DIGIT <timeout>\n520 End of proper usage.\n",
    b"520-Invalid command syntax.  Proper usage follows:\n" + b"more usage\n" * 250,  # never ends
    b"100 Trying...\n200 result=0\n",  # the answer comes after "trying"
    b"100 Trying...\n" * 20 + b"200 result=0\n",  # more "trying" than ccqueue waits through
    b"\xff\xfe\xfd\n",
    b"garbage\n",
    b"\x00\n",
    b"\n",
    b"HANGUP\n",
    b"511 Command Not Permitted on a dead channel or intercept routine\n",
    b"200 resu",  # cut off: the peer closes mid-answer
]


@FUZZ
@given(st.lists(st.sampled_from(REPLIES), min_size=1, max_size=12))
def test_a_garbled_answer_ends_the_session_cleanly_and_never_leaves_the_caller_in_silence(
    product_log: ProductLog, replies: list[bytes]
) -> None:
    rig = Rig()

    def answer(_command: str, n: int) -> bytes | None:
        if n >= len(replies):
            return b"HANGUP\n" if n == len(replies) else b"511 Command Not Permitted on a dead channel\n"
        if replies[n] == b"200 resu":
            return None
        return replies[n]

    async def session() -> tuple[list[str], bool]:
        return await peer(rig.server.handle_connection, _headers(b"+15550100", b"A", b"100", b""), answer)

    commands, closed = asyncio.run(rig.run(session))
    # ccqueue ended the session by itself (or the peer did, mid-answer): never a hang.
    assert closed or b"200 resu" in replies, commands
    assert rig.server.sessions == {} and not rig.server._open
    if any(isinstance(e, ev.CallArrived) for e in rig.events):
        assert any(isinstance(e, ev.CallerSessionEnded) for e in rig.events)
    assert [r for r in product_log.records() if r["event"] == "agi_session_failed"] == []
    assert product_log.tracebacks_without_id() == []


# -- the values ccqueue sets on channels for the dialplan --------------------------------


async def _claim(answer: ClaimAnswer) -> list[str]:
    asked: list[ev.Event] = []

    async def ask(event: ev.Event) -> ClaimAnswer:
        asked.append(event)
        return answer

    server = AgiServer(ask=ask, post=lambda e: None, channel_status=confirmed, allowed_peers=())
    asterisk = FakeAsterisk()
    await agi_session(asterisk, server._claim, headers={"agi_uniqueid": answer.offer_id})
    return asterisk.commands


def test_a_callback_claim_sets_only_a_plain_dial_string_and_number() -> None:
    plain = ClaimAnswer(
        offer_id="o1", caller_uniqueid=None, reason="callback", dial="PJSIP/15550100@trunk,30", callback_number="+15550100"
    )
    assert asyncio.run(_claim(plain)) == [
        'SET VARIABLE CCQ_DIAL "PJSIP/15550100@trunk,30"',
        "SET VARIABLE CCQ_CB_NUMBER +15550100",
        "SET VARIABLE CCQ_CLAIM callback",
    ]
    for dial, number in [
        ('PJSIP/1@trunk" x', "+15550100"),
        ("PJSIP/${SHELL(id)}@trunk", "+15550100"),
        ("PJSIP/1@trunk", "+1555 0100"),
        ("PJSIP/1@trunk", "x)\rHangup("),
        ("PJSIP/1@trunk", ""),
    ]:
        refused = ClaimAnswer(offer_id="o1", caller_uniqueid=None, reason="callback", dial=dial, callback_number=number)
        assert asyncio.run(_claim(refused)) == ["SET VARIABLE CCQ_CLAIM lost"], (dial, number)


def test_a_claim_bridges_only_to_a_plain_uniqueid() -> None:
    granted = ClaimAnswer(offer_id="o1", caller_uniqueid="1765000000.4", reason="granted")
    commands = asyncio.run(_claim(granted))
    assert commands == ['EXEC MSet "CCQ_CALLER_UID=1765000000.4,CCQ_CLAIM=granted"']
    for uniqueid in ["1.1,F(x)", "${CHANNEL}", "1.1 x", "1.1)\rHangup("]:
        forged = ClaimAnswer(offer_id="o1", caller_uniqueid=uniqueid, reason="granted")
        assert asyncio.run(_claim(forged)) == ["SET VARIABLE CCQ_CLAIM lost"], uniqueid


def test_notes_on_a_channel_keep_only_plain_values() -> None:
    server = AgiServer(ask=lambda e: asyncio.sleep(0), post=lambda e: None, channel_status=confirmed, allowed_peers=())  # type: ignore[arg-type]
    asterisk = FakeAsterisk()

    async def script(request: Any) -> None:
        session = CallerSession("c1", DialoguePlayer(request))
        arrived = ev.CallArrived(call_id="c1", hotline="100", caller="", channel=CHANNEL, uniqueid=UNIQUEID)
        note = cmd.NoteOnCaller(
            call_id="c1",
            variables=(("CCQ_QUEUE", "support"), ("CCQ_LANG", "x)\rHangup("), ("CCQ_PRIORITY", "${SHELL(id)}"), ("CCQ_X", "a,b")),
        )
        assert await server._carry_out(session, arrived, note)

    asyncio.run(agi_session(asterisk, script))
    assert asterisk.commands == ['EXEC MSet "CCQ_QUEUE=support"']


def test_a_command_with_a_line_break_is_never_sent() -> None:
    asterisk = FakeAsterisk()

    async def script(request: Any) -> None:
        from ccqueue.asterisk.agi import AgiCommandRefused, BoundedRequest

        bounded = BoundedRequest(app=None, headers={}, reader=request.reader, writer=request.writer)
        for hostile in ["SAY DIGITS 1\nEXEC System id", "SET VARIABLE X 1\rEXEC Hangup", "STREAM FILE a\x00b"]:
            try:
                await bounded.send_command(hostile)
            except AgiCommandRefused:
                continue
            raise AssertionError(f"sent: {hostile!r}")
        await bounded.send_command("HANGUP")

    asyncio.run(agi_session(asterisk, script))
    assert asterisk.commands == ["HANGUP"]


@FUZZ
@given(st.text(max_size=120))
def test_any_text_shown_on_an_agents_phone_is_one_plain_callerid_field(shown: str) -> None:
    # A caller's number, a contact's name from an uploaded list, a callback's number.
    field = caller_id_field(shown)
    assert re.fullmatch(r'"[^"\\<>]+" <\+?[0-9*#]{0,40}>', field), field
    assert all(c.isprintable() for c in field), field
    check_fields({"Action": "Originate", "CallerID": field})  # never refused on the wire


def test_an_ami_field_with_a_line_break_or_nul_is_refused_and_nothing_is_sent() -> None:
    protocol = WireProtocol()
    client = AsteriskTelephony(
        host="127.0.0.1", port=1, username="u", secret="s", agent_context="ccqueue-agent", post=lambda e: None
    ).ami
    client._protocol = protocol  # type: ignore[assignment]
    client.ready.set()

    async def send_all() -> list[str]:
        refused = []
        for fields in (
            {"Action": "Originate", "Variable": ["CCQ_CALL=1", "CCQ_X=1\r\nAction: Hangup"]},
            {"Action": "Hangup", "Channel": "1.1\nCause: 16"},
            {"Action": "Status", "Channel": "1.1\x00"},
            {"Action": "Ping", "Bad\r\nKey": "x"},
        ):
            try:
                await client.send(fields, timeout=1)
            except AmiFieldRefused:
                refused.append(fields["Action"])
        return refused

    assert asyncio.run(send_all()) == ["Originate", "Hangup", "Status", "Ping"]
    assert protocol.wire == []


def test_keys_are_only_keys_and_the_channels_language_only_a_tag() -> None:
    asterisk = FakeAsterisk(replies={"GET DATA": "200 result=12x;Hangup("})
    heard: list[dlg.Result] = []

    async def script(request: Any) -> None:
        player = DialoguePlayer(request)
        heard.append(await player.perform(dlg.Collect(prompts=("ccqueue/enter",), timeout_s=3, max_digits=4, per_key=False)))

    asyncio.run(agi_session(asterisk, script))
    assert heard == [dlg.TimedOut()]
    # What a returning caller's channel says of it, read back: a language that is not a tag
    # is not set on the channel again.
    facts = _channel_facts({"result": ("1", "c1|1765000000.5|support|1765000001.0|0|en SET VARIABLE X")})
    assert "CCQ_LANG" not in facts and facts["CCQ_CALL_ID"] == "c1"
    assert _channel_facts({"result": ("1", "c1|1765000000.5|support|1765000001.0|0|pt_BR")})["CCQ_LANG"] == "pt_BR"
