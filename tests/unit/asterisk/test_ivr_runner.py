"""The IVR runner over FastAGI, against a scripted Asterisk peer and a real HTTP CRM.

The peer speaks the AGI protocol over a real loopback TCP connection: it reads each
command line and answers as Asterisk 22 does (``200 result=...``, ``HANGUP``, ``511``).
The caller is a list of keys: a key answers the next WAIT FOR DIGIT, or cuts short the
next prompt that has escape digits; ``"-"`` lets one WAIT FOR DIGIT time out.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from panoramisk.fast_agi import Request

from ccqueue.asterisk.agi import take_survey
from ccqueue.asterisk.dialogue_player import DialoguePlayer
from ccqueue.asterisk.ivr_runner import IvrRunner
from ccqueue.core import events as ev
from ccqueue.core import ivr
from ccqueue.core.ivr import IvrTree
from tests.support.fakes import FakeAsterisk, RecordingInbox, agi_session
from tests.support.postgres import free_port

# The shared stand-ins, under the names these tests have always used.
Engine = RecordingInbox
session = agi_session


def make_tree(crm_url: str = "http://127.0.0.1:9/none", lookup_timeout_s: float = 1.0) -> IvrTree:
    nodes: dict[str, ivr.IvrNode] = {
        "menu": ivr.MenuNode(prompt="ivr-menu", keys=MappingProxyType({"1": "account", "2": "crm", "3": "message",
                             "4": "callback", "5": "transfer", "6": "lang"}), timeout_s=3.0, retries=1,
                             invalid_prompt="pm-invalid-option", on_exhausted="bye"),
        "account": ivr.CollectNode(variable="account", prompt="enter", min_length=4, max_length=6, terminator="#",
                                   pattern="[0-9]+", timeout_s=2.0, retries=0, invalid_prompt=None, next="say",
                                   on_exhausted="bye"),
        "say": ivr.SayNode(variable="account", format=ivr.SayFormat.DIGITS, next="support"),
        "crm": ivr.LookupNode(url=crm_url + "/customers/{caller}", timeout_s=lookup_timeout_s,
                              fields=MappingProxyType({"name": "name", "agent": "agent"}), next="vip", on_failure="bye"),
        "vip": ivr.SetNode(priority=7, preferred_agent="{agent}", next="support"),
        "message": ivr.VoicemailNode(max_s=30.0, prompt="ccqueue/leave-message"),
        "callback": ivr.CallbackNode(queue="support"),
        "transfer": ivr.TransferNode(to="2001", context="ccqueue-transfer"),
        "lang": ivr.LanguageNode(keys=MappingProxyType({"1": "en", "2": "ru"}), prompt="lang", next="support"),
        "support": ivr.QueueNode(queue="support"),
        "bye": ivr.HangupNode(prompts=("vm-goodbye",), reason="no-choice"),
    }  # fmt: skip
    return IvrTree(name="main", entry="menu", nodes=MappingProxyType(nodes), transfer_allowed=(r"2\d{3}",))


async def walk(
    peer: FakeAsterisk, tree: IvrTree | None = None, *, caller: str = "+4930123", runner_options: dict[str, Any] | None = None
) -> Engine:
    engine = Engine()
    trees = {"main": tree or make_tree()}
    runner = IvrRunner(
        trees=lambda: trees,
        ask=engine.ask,
        post=engine.post,
        clock=lambda: 1_750_000_000.0,
        messages_dir="/var/spool/msgs/",
        **(runner_options or {}),
    )

    async def script(request: Request) -> None:
        await runner.run(DialoguePlayer(request), call_id="c1", entry="main", caller=caller, hotline="300", language="en")

    await session(peer, script)
    return engine


# --- menus and input ------------------------------------------------------------------------


async def test_menu_key_routes_to_a_queue_with_what_was_collected() -> None:
    peer = FakeAsterisk(["1", "1", "2", "3", "4", "#"])
    engine = await walk(peer)
    assert peer.commands == [
        "SET VARIABLE CHANNEL(language) en",
        'STREAM FILE ivr-menu "0123456789*#"',
        'STREAM FILE enter "0123456789*#"',
        "WAIT FOR DIGIT 2000", "WAIT FOR DIGIT 2000", "WAIT FOR DIGIT 2000", "WAIT FOR DIGIT 2000",
        'SAY DIGITS 1234 ""',
    ]  # fmt: skip
    assert engine.asked == [ev.CallRouted(call_id="c1", queue="support", priority=None, language="en",
                                          preferred_agent=None, attributes={"account": "1234"})]  # fmt: skip
    assert engine.kinds() == ["ivr_node", "ivr_key", "ivr_node", "ivr_key", "ivr_node", "ivr_node"]
    first = engine.posted[0]
    assert first == ev.CallProgressed(call_id="c1", kind="ivr_node", data={"tree": "main", "node": "menu", "type": "menu"})


async def test_key_after_the_prompt_is_waited_for() -> None:
    peer = FakeAsterisk(replies={"STREAM FILE ivr-menu": "200 result=0 endpos=8000"}, keys=["6", "2"])
    engine = await walk(peer)
    assert peer.commands[1:4] == ['STREAM FILE ivr-menu "0123456789*#"', "WAIT FOR DIGIT 3000", 'STREAM FILE lang "0123456789*#"']
    assert "SET VARIABLE CHANNEL(language) ru" in peer.commands
    assert isinstance(engine.asked[0], ev.CallRouted) and engine.asked[0].language == "ru"


async def test_wrong_keys_and_silence_end_at_on_exhausted() -> None:
    peer = FakeAsterisk(["9", "-"])
    engine = await walk(peer)
    assert peer.commands[1:] == [
        'STREAM FILE ivr-menu "0123456789*#"',
        'STREAM FILE pm-invalid-option "0123456789*#"', 'STREAM FILE ivr-menu "0123456789*#"', "WAIT FOR DIGIT 3000",
        'STREAM FILE vm-goodbye ""',
    ]  # fmt: skip
    assert engine.asked == [ev.CallFinished(call_id="c1", finish=ev.Finish.SELF_SERVICE, reason="no-choice")]
    assert engine.kinds() == ["ivr_node", "ivr_key", "ivr_invalid", "ivr_no_input", "ivr_exhausted", "ivr_node"]


async def test_a_missing_prompt_is_skipped() -> None:
    peer = FakeAsterisk(["-"], replies={"STREAM FILE ivr-menu": "200 result=-1 endpos=0"})
    engine = await walk(peer, make_tree())
    assert isinstance(engine.asked[0], ev.CallFinished)


async def test_a_caller_who_hangs_up_ends_the_walk_without_a_question() -> None:
    peer = FakeAsterisk(["1"], hang_up_on="WAIT FOR DIGIT")
    engine = await walk(peer)
    assert engine.asked == []
    assert engine.posted[-1] == ev.CallProgressed(call_id="c1", kind="ivr_caller_left", data={"node": "account"})


# --- outcomes ---------------------------------------------------------------------------------


async def test_voicemail_records_and_reports_the_path() -> None:
    peer = FakeAsterisk(["3"])
    engine = await walk(peer)
    assert peer.commands[-2:] == ['STREAM FILE ccqueue/leave-message ""',
                                  'RECORD FILE /var/spool/msgs/c1 wav "#" 30000 0 BEEP s=5']  # fmt: skip
    assert engine.asked == [ev.CallFinished(call_id="c1", finish=ev.Finish.VOICEMAIL, reason="ivr",
                                            data={"path": "/var/spool/msgs/c1.wav", "max_s": 30.0,
                                                  "caller_hung_up": False})]  # fmt: skip


async def test_a_message_cut_by_a_hang_up_is_still_a_message() -> None:
    peer = FakeAsterisk(["3"], hang_up_on="RECORD FILE")
    engine = await walk(peer)
    assert isinstance(engine.asked[0], ev.CallFinished) and engine.asked[0].finish is ev.Finish.VOICEMAIL
    assert engine.asked[0].data["caller_hung_up"] is True


async def test_callback_for_the_callers_number() -> None:
    engine = await walk(FakeAsterisk(["4"]), caller="+49 30 123")
    (asked,) = engine.asked
    assert isinstance(asked, ev.CallbackRequested)
    assert (asked.number, asked.queue, asked.call_id) == ("+4930123", "support", "c1")
    assert re.fullmatch(r"[0-9a-f]{32}", asked.callback_id)


async def test_callback_to_a_number_that_is_not_one() -> None:
    engine = await walk(FakeAsterisk(["4"]), caller="anonymous")
    assert engine.asked == [ev.CallFinished(call_id="c1", finish=ev.Finish.SELF_SERVICE, reason="callback-number-invalid")]


async def test_transfer_dials_and_reports_the_status() -> None:
    peer = FakeAsterisk(["5"], replies={"GET VARIABLE DIALSTATUS": "200 result=1 (ANSWER)"})
    engine = await walk(peer)
    assert peer.commands[-2:] == ["EXEC Dial Local/2001@ccqueue-transfer,60", "GET VARIABLE DIALSTATUS"]
    assert engine.asked == [
        ev.CallFinished(
            call_id="c1",
            finish=ev.Finish.TRANSFERRED,
            reason="ivr",
            data={"to": "2001", "context": "ccqueue-transfer", "status": "ANSWER"},
        )
    ]


async def test_unknown_tree() -> None:
    engine = Engine()
    runner = IvrRunner(trees=dict, ask=engine.ask, post=engine.post)

    async def script(request: Request) -> None:
        await runner.run(DialoguePlayer(request), call_id="c1", entry="gone", caller="1", hotline="300", language="en")

    await session(FakeAsterisk(), script)
    assert engine.asked == [ev.CallFinished(call_id="c1", finish=ev.Finish.SELF_SERVICE, reason="ivr-unknown")]


async def test_a_call_keeps_the_tree_it_started_with() -> None:
    running = {"main": make_tree()}
    replaced = IvrTree(name="main", entry="bye", nodes=MappingProxyType({"bye": ivr.HangupNode()}))

    def reload(command: str) -> None:
        running["main"] = replaced  # a reload while the caller is in the menu

    engine = Engine()
    runner = IvrRunner(trees=lambda: dict(running), ask=engine.ask, post=engine.post)
    peer = FakeAsterisk(["6", "1"], on_command=reload)

    async def script(request: Request) -> None:
        await runner.run(DialoguePlayer(request), call_id="c1", entry="main", caller="1", hotline="300", language="en")

    await session(peer, script)
    assert running["main"] is replaced
    assert isinstance(engine.asked[0], ev.CallRouted)


# --- the CRM ------------------------------------------------------------------------------------


@pytest.fixture
async def crm() -> AsyncIterator[str]:
    async def customer(request: web.Request) -> web.Response:
        return web.json_response({"name": "Ann", "agent": "alice", "number": request.match_info["number"]})

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(10)
        return web.json_response({})

    async def text(_: web.Request) -> web.Response:
        return web.Response(text="<html>not json")

    async def failing(_: web.Request) -> web.Response:
        return web.json_response({"error": 1}, status=500)

    async def huge(_: web.Request) -> web.Response:
        return web.json_response({"x": "y" * 70000})

    app = web.Application()
    app.router.add_get("/ok/customers/{number}", customer)
    app.router.add_get("/slow/customers/{number}", slow)
    app.router.add_get("/bad/customers/{number}", text)
    app.router.add_get("/fail/customers/{number}", failing)
    app.router.add_get("/huge/customers/{number}", huge)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.close()


async def test_crm_answer_sets_the_preferred_agent(crm: str) -> None:
    engine = await walk(FakeAsterisk(["2"]), make_tree(crm + "/ok"))
    assert engine.asked == [
        ev.CallRouted(
            call_id="c1",
            queue="support",
            priority=7,
            language="en",
            preferred_agent="alice",
            attributes={"name": "Ann", "agent": "alice"},
        )
    ]
    lookups = [e.data for e in engine.posted if isinstance(e, ev.CallProgressed) and e.kind == "ivr_lookup"]
    assert lookups == [{"node": "crm", "ok": True, "variables": ["agent", "name"]}]


@pytest.mark.parametrize(("path", "reason"), [("/slow", "timeout"), ("/bad", "bad json"), ("/fail", "status 500"),
                                              ("/huge", "too large")])  # fmt: skip
async def test_a_crm_that_fails_takes_on_failure_within_the_timeout(crm: str, path: str, reason: str) -> None:
    began = time.monotonic()
    engine = await walk(FakeAsterisk(["2"]), make_tree(crm + path, lookup_timeout_s=0.5))
    assert time.monotonic() - began < 2.0
    assert engine.asked == [ev.CallFinished(call_id="c1", finish=ev.Finish.SELF_SERVICE, reason="no-choice")]
    lookups = [e.data for e in engine.posted if isinstance(e, ev.CallProgressed) and e.kind == "ivr_lookup"]
    assert lookups == [{"node": "crm", "ok": False, "reason": reason}]


async def test_a_crm_that_is_down_fails_at_once() -> None:
    began = time.monotonic()
    engine = await walk(FakeAsterisk(["2"]), make_tree(f"http://127.0.0.1:{free_port()}", lookup_timeout_s=5.0))
    assert time.monotonic() - began < 2.0
    lookups = [e.data for e in engine.posted if isinstance(e, ev.CallProgressed) and e.kind == "ivr_lookup"]
    assert lookups[0]["ok"] is False and lookups[0]["reason"].startswith("unreachable")


# --- the survey ------------------------------------------------------------------------------------


async def survey(peer: FakeAsterisk) -> Engine:
    engine = Engine()

    async def script(request: Request) -> None:
        await take_survey(DialoguePlayer(request), engine.post, call_id="c1", language="ru")

    await session(peer, script)
    return engine


async def test_survey_answers_are_posted() -> None:
    peer = FakeAsterisk(["4", "1", "0"])
    engine = await survey(peer)
    assert peer.commands == [
        "SET VARIABLE CHANNEL(language) ru",
        'STREAM FILE ccqueue/survey-rate "0123456789*#"',
        'STREAM FILE ccqueue/survey-recommend "0123456789*#"', "WAIT FOR DIGIT 5000",
        'STREAM FILE ccqueue/survey-thanks ""',
    ]  # fmt: skip
    assert engine.posted == [ev.SurveyAnswered(call_id="c1", rating=4, recommend=10)]
    engine = await survey(FakeAsterisk(["2", "7", "#"]))  # one digit, then '#'
    assert engine.posted == [ev.SurveyAnswered(call_id="c1", rating=2, recommend=7)]


async def test_survey_asks_again_once_then_gives_up() -> None:
    engine = await survey(FakeAsterisk(["7", "5", "-", "-", "-", "-"]))
    assert engine.posted == [ev.SurveyAnswered(call_id="c1", rating=5, recommend=None)]
    engine = await survey(FakeAsterisk(["0", "9", "0", "#"]))
    assert engine.posted == [ev.SurveyAnswered(call_id="c1", rating=None, recommend=0)]


async def test_survey_keeps_what_was_answered_before_a_hang_up() -> None:
    engine = await survey(FakeAsterisk(["3"], hang_up_on="STREAM FILE ccqueue/survey-recommend"))
    assert engine.posted == [ev.SurveyAnswered(call_id="c1", rating=3, recommend=None)]
