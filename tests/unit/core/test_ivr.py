"""The IVR interpreter as a pure state machine: every node type, input, retries, bounds."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from types import MappingProxyType
from typing import Any

import pytest

from ccqueue.core import ivr
from ccqueue.core.dialogue import Collect, Heard, Play, Pressed, Say, SetLanguage, TimedOut
from ccqueue.core.ivr import (
    BranchNode,
    CallbackNode,
    CollectNode,
    Condition,
    FetchJson,
    GotoNode,
    HangUp,
    HangupNode,
    IvrCall,
    IvrError,
    IvrTree,
    LanguageNode,
    LeaveMessage,
    LookupAnswered,
    LookupFailed,
    LookupNode,
    MenuNode,
    PlayNode,
    QueueNode,
    RequestCallback,
    RouteToQueue,
    SayFormat,
    SayNode,
    SetNode,
    Step,
    TransferCall,
    TransferNode,
    VoicemailNode,
)
from ccqueue.core.schedule import Schedule, parse_range

NOW = 1_750_000_000.0
BYE = HangupNode(prompts=("vm-goodbye",), reason="bye")


def tree(entry: str = "start", allowed: tuple[str, ...] = (), max_visits: int = 50, **nodes: ivr.IvrNode) -> IvrTree:
    return IvrTree(
        name="t",
        entry=entry,
        nodes=MappingProxyType({"bye": BYE, "q": QueueNode(queue="support"), **nodes}),
        transfer_allowed=allowed,
        max_visits=max_visits,
    )


def menu(**changes: Any) -> MenuNode:
    fields: dict[str, Any] = {
        "prompt": "menu",
        "keys": {"1": "q", "2": "bye"},
        "timeout_s": 5.0,
        "retries": 2,
        "invalid_prompt": "invalid",
        "on_exhausted": "bye",
    }
    fields.update(changes)
    return MenuNode(**fields)


def collect(**changes: Any) -> CollectNode:
    fields: dict[str, Any] = {
        "variable": "account",
        "prompt": "enter",
        "min_length": 4,
        "max_length": 6,
        "terminator": "#",
        "pattern": "[0-9]+",
        "timeout_s": 5.0,
        "retries": 1,
        "invalid_prompt": "invalid",
        "next": "q",
        "on_exhausted": "bye",
    }
    fields.update(changes)
    return CollectNode(**fields)


def walk(t: IvrTree, *results: ivr.Result, caller: str = "+4930123", now: float = NOW) -> tuple[IvrCall, list[Step]]:
    call = IvrCall(t, caller=caller, language="en", hotline="300")
    steps = [call.start(now=now)]
    for result in results:
        steps.append(call.feed(result, now=now))
    return call, steps


def kinds(steps: list[Step]) -> list[str]:
    return [entry.kind for step in steps for entry in step.timeline]


# --- play, menu ----------------------------------------------------------------------------


def test_play_then_queue() -> None:
    _, steps = walk(tree(start=PlayNode(prompts=("a", "b"), next="q")), Heard())
    assert steps[0].action == Play(prompts=("a", "b"))
    assert steps[1].action == RouteToQueue(
        queue="support", priority=None, language="en", preferred_agent=None, variables=MappingProxyType({})
    )
    assert steps[1].final
    assert [e.data["node"] for s in steps for e in s.timeline] == ["start", "q"]
    assert steps[0].timeline[0].data == {"tree": "t", "node": "start", "type": "play"}


def test_menu_key_leads_to_its_node() -> None:
    _, steps = walk(tree(start=menu()), Pressed("1"))
    assert steps[0].action == Collect(prompts=("menu",), timeout_s=5.0, max_digits=1)
    assert isinstance(steps[1].action, RouteToQueue)
    assert kinds(steps) == ["ivr_node", "ivr_key", "ivr_node"]
    assert steps[1].timeline[0].data == {"node": "start", "keys": "1"}


def test_invalid_key_replays_with_the_invalid_prompt_then_gives_up() -> None:
    _, steps = walk(tree(start=menu()), Pressed("9"), Pressed("8"), Pressed("7"))
    assert steps[1].action == Collect(prompts=("invalid", "menu"), timeout_s=5.0, max_digits=1)
    assert steps[2].action == steps[1].action
    assert steps[3].action == HangUp(prompts=("vm-goodbye",), reason="bye")
    assert kinds(steps[3:]) == ["ivr_key", "ivr_invalid", "ivr_exhausted", "ivr_node"]


def test_no_input_replays_the_prompt_alone_then_gives_up() -> None:
    _, steps = walk(tree(start=menu(retries=1)), TimedOut(), TimedOut())
    assert steps[1].action == Collect(prompts=("menu",), timeout_s=5.0, max_digits=1)
    assert isinstance(steps[2].action, HangUp)
    assert kinds(steps[1:]) == ["ivr_no_input", "ivr_no_input", "ivr_exhausted", "ivr_node"]


def test_a_valid_key_after_a_wrong_one_still_counts() -> None:
    _, steps = walk(tree(start=menu()), Pressed("9"), TimedOut(), Pressed("1"))
    assert isinstance(steps[-1].action, RouteToQueue)


def test_retries_start_again_at_each_menu() -> None:
    first = menu(keys={"1": "second"}, retries=1)
    second = menu(retries=1)
    _, steps = walk(tree(start=first, second=second), Pressed("9"), Pressed("1"), Pressed("9"), Pressed("1"))
    assert isinstance(steps[-1].action, RouteToQueue)


# --- collect, say ----------------------------------------------------------------------------


def test_collect_stores_valid_digits() -> None:
    call, steps = walk(tree(start=collect()), Pressed("12345"))
    assert steps[0].action == Collect(prompts=("enter",), timeout_s=5.0, max_digits=6, terminator="#")
    assert call.variables["account"] == "12345"
    assert isinstance(steps[1].action, RouteToQueue) and steps[1].action.variables == {"account": "12345"}


@pytest.mark.parametrize("digits", ["123", "1234567", "12*4", ""])
def test_collect_refuses_wrong_length_or_pattern(digits: str) -> None:
    call, steps = walk(tree(start=collect(retries=0)), Pressed(digits))
    assert isinstance(steps[1].action, HangUp)
    assert "account" not in call.variables


def test_collect_without_pattern_takes_any_keys_of_the_right_length() -> None:
    call, _ = walk(tree(start=collect(pattern=None)), Pressed("12*4"))
    assert call.variables["account"] == "12*4"


@pytest.mark.parametrize(
    ("fmt", "value", "said"),
    [(SayFormat.DIGITS, "0042", "0042"), (SayFormat.NUMBER, "42", "42"), (SayFormat.NUMBER, "-3", "-3"),
     (SayFormat.DATE, "2025-12-24", "1766577600"), (SayFormat.DATE, "1766577600", "1766577600")],
)  # fmt: skip
def test_say_a_variable(fmt: SayFormat, value: str, said: str) -> None:
    t = tree(entry="s", s=SetNode(variables={"v": value}, next="say"), say=SayNode(variable="v", format=fmt, next="q"))
    _, steps = walk(t, Heard())
    assert steps[0].action == Say(format=fmt, value=said)
    assert isinstance(steps[1].action, RouteToQueue)


@pytest.mark.parametrize(("fmt", "value"), [(SayFormat.NUMBER, "4x"), (SayFormat.DIGITS, ""), (SayFormat.DATE, "soon")])
def test_say_skips_what_cannot_be_said(fmt: SayFormat, value: str) -> None:
    t = tree(entry="s", s=SetNode(variables={"v": value}, next="say"), say=SayNode(variable="v", format=fmt, next="q"))
    _, steps = walk(t)
    assert isinstance(steps[0].action, RouteToQueue)
    assert "ivr_say_skipped" in kinds(steps)


# --- branch, schedules ----------------------------------------------------------------------------

OFFICE = Schedule(name="office", zone=zoneinfo.ZoneInfo("Europe/Berlin"),
                  weekly=tuple((parse_range("09:00-18:00"),) if d < 5 else () for d in range(7)),
                  holidays=MappingProxyType({dt.date(2025, 12, 25): ()}))  # fmt: skip


def berlin(*fields: int) -> float:
    return dt.datetime(*fields, tzinfo=zoneinfo.ZoneInfo("Europe/Berlin")).timestamp()


def hours_tree() -> IvrTree:
    closed = Condition(goto="bye", schedule=OFFICE, when_open=False)
    return tree(start=BranchNode(conditions=(closed,), otherwise="q"))


@pytest.mark.parametrize(
    ("moment", "routed"),
    [(berlin(2025, 12, 22, 10, 0), True), (berlin(2025, 12, 22, 18, 0), False), (berlin(2025, 12, 25, 10, 0), False),
     (berlin(2025, 12, 27, 10, 0), False), (berlin(2025, 12, 22, 23, 59, 59), False), (berlin(2025, 12, 23, 9, 0), True)],
)  # fmt: skip
def test_branch_on_a_schedule(moment: float, routed: bool) -> None:
    _, steps = walk(hours_tree(), now=moment)
    assert isinstance(steps[0].action, RouteToQueue) is routed


def test_the_time_is_the_time_of_the_branch_not_of_the_start() -> None:
    t = tree(start=menu(keys={"1": "hours"}), hours=hours_tree().nodes["start"])
    call = IvrCall(t, caller="1", language="en")
    call.start(now=berlin(2025, 12, 22, 17, 59))
    assert isinstance(call.feed(Pressed("1"), now=berlin(2025, 12, 22, 18, 1)).action, HangUp)


@pytest.mark.parametrize(("caller", "target"), [("+4930123", "q"), ("+7495123", "bye"), ("", "bye")])
def test_branch_on_the_callers_number(caller: str, target: str) -> None:
    t = tree(start=BranchNode(conditions=(Condition(goto="q", caller_matches=r"\+49.*"),), otherwise="bye"))
    _, steps = walk(t, caller=caller)
    assert isinstance(steps[0].action, RouteToQueue if target == "q" else HangUp)
    assert steps[0].timeline[-2].data["to"] == target


def test_branch_on_variables_first_match_wins() -> None:
    conditions = (Condition(goto="bye", variable="tier", equals="gold"),
                  Condition(goto="q", variable="tier", matches="gold|silver"))  # fmt: skip
    for tier, outcome in (("gold", HangUp), ("silver", RouteToQueue), ("", HangUp)):
        t = tree(entry="s", s=SetNode(variables={"tier": tier}, next="b"),
                 b=BranchNode(conditions=conditions, otherwise="bye"))  # fmt: skip
        _, steps = walk(t)
        assert isinstance(steps[0].action, outcome), tier


# --- lookup, set, language ------------------------------------------------------------------------


def crm_tree() -> IvrTree:
    return tree(
        start=LookupNode(url="http://crm/c?n={caller}&x={missing}", timeout_s=2.0,
                         fields={"name": "name", "profile.vip": "vip", "agent": "agent", "lang": "lang"},
                         next="prefs", on_failure="bye"),
        prefs=SetNode(variables={"greeting": "Hi {name}"}, priority=5, preferred_agent="{agent}", next="lang"),
        lang=LanguageNode(variable="lang", next="q"),
    )  # fmt: skip


def test_lookup_url_is_filled_and_quoted() -> None:
    _, steps = walk(crm_tree(), caller="+49 30/1")
    assert steps[0].action == FetchJson(url="http://crm/c?n=%2B49%2030%2F1&x=", timeout_s=2.0)


def test_lookup_answer_sets_variables_priority_agent_and_language() -> None:
    body = {"name": "Ann", "profile": {"vip": True}, "agent": "alice", "lang": "ru", "other": 1}
    _, steps = walk(crm_tree(), LookupAnswered(body), Heard())
    assert steps[1].action == SetLanguage(language="ru")
    final = steps[2].action
    assert final == RouteToQueue(queue="support", priority=5, language="ru", preferred_agent="alice",
                                 variables=MappingProxyType({"name": "Ann", "vip": "true", "agent": "alice",
                                                             "lang": "ru", "greeting": "Hi Ann"}))  # fmt: skip
    assert steps[1].timeline[0].data == {"node": "start", "ok": True, "variables": ["agent", "lang", "name", "vip"]}


@pytest.mark.parametrize("body", [[1, 2], "text", None, {"profile": "flat"}, {"name": {"deep": 1}}])
def test_lookup_answer_of_an_odd_shape_sets_nothing(body: object) -> None:
    call, steps = walk(crm_tree(), LookupAnswered(body))
    assert call.user_variables == {"greeting": "Hi "}
    final = steps[-1].action
    assert isinstance(final, RouteToQueue) and final.preferred_agent is None and final.language == "en"
    assert "ivr_language_kept" in kinds(steps)


def test_lookup_failure_takes_on_failure() -> None:
    _, steps = walk(crm_tree(), LookupFailed("timeout"))
    assert isinstance(steps[1].action, HangUp)
    assert steps[1].timeline[0].data == {"node": "start", "ok": False, "reason": "timeout"}


def test_language_menu() -> None:
    node = LanguageNode(keys={"1": "en", "2": "ru"}, prompt="lang", next="q", retries=1)
    _, steps = walk(tree(start=node), Pressed("5"), Pressed("2"), Heard())
    assert steps[0].action == Collect(prompts=("lang",), timeout_s=5.0, max_digits=1)
    assert steps[2].action == SetLanguage(language="ru")
    assert isinstance(steps[3].action, RouteToQueue) and steps[3].action.language == "ru"


def test_language_menu_gives_up_keeping_the_language() -> None:
    node = LanguageNode(keys={"1": "en", "2": "ru"}, prompt="lang", next="q", retries=1)
    _, steps = walk(tree(start=node), TimedOut(), TimedOut())
    assert isinstance(steps[-1].action, RouteToQueue) and steps[-1].action.language == "en"


# --- the outcomes --------------------------------------------------------------------------------


def test_queue_priority_of_the_node_wins_over_set_priority() -> None:
    t = tree(entry="s", s=SetNode(priority=3, next="vip"), vip=QueueNode(queue="support", priority=9))
    _, steps = walk(t)
    assert isinstance(steps[0].action, RouteToQueue) and steps[0].action.priority == 9


def test_callback_to_the_caller_or_a_collected_number() -> None:
    _, steps = walk(tree(start=CallbackNode(queue="support")))
    assert steps[0].action == RequestCallback(queue="support", number="+4930123")
    t = tree(start=collect(variable="number", next="cb", pattern=None),
             cb=CallbackNode(queue="support", number_variable="number"))  # fmt: skip
    _, steps = walk(t, Pressed("55501"))
    assert steps[1].action == RequestCallback(queue="support", number="55501")


def test_callback_without_a_number() -> None:
    _, steps = walk(tree(start=CallbackNode(queue="support")), caller="")
    assert steps[0].action == HangUp(prompts=("vm-goodbye",), reason="callback-no-number")
    _, steps = walk(tree(start=CallbackNode(queue="support", on_no_number="q")), caller="")
    assert isinstance(steps[0].action, RouteToQueue)


def test_voicemail() -> None:
    _, steps = walk(tree(start=VoicemailNode(max_s=60.0, prompt="leave")))
    assert steps[0].action == LeaveMessage(prompt="leave", max_s=60.0)


@pytest.mark.parametrize(
    ("to", "allowed", "expected"),
    [("2001", (r"2\d{3}",), TransferCall(to="2001", context="ctx")),
     ("+4930123", (r"2\d{3}", r"\+49\d+"), TransferCall(to="+4930123", context="ctx")),
     ("{caller}", (r"\+49\d+",), TransferCall(to="+4930123", context="ctx")),
     ("900", (r"2\d{3}",), HangUp(prompts=("vm-goodbye",), reason="transfer-refused")),
     ("20011", (r"2\d{3}",), HangUp(prompts=("vm-goodbye",), reason="transfer-refused")),
     ("{nothing}", (r".*",), HangUp(prompts=("vm-goodbye",), reason="transfer-refused"))],
)  # fmt: skip
def test_transfer_only_to_allowed_numbers(to: str, allowed: tuple[str, ...], expected: ivr.Action) -> None:
    _, steps = walk(tree(start=TransferNode(to=to, context="ctx"), allowed=allowed))
    assert steps[0].action == expected


def test_refused_transfer_can_go_elsewhere() -> None:
    _, steps = walk(tree(start=TransferNode(to="900", context="ctx", on_refused="q")))
    assert isinstance(steps[0].action, RouteToQueue)
    assert "ivr_transfer_refused" in kinds(steps)


def test_goto_and_hangup() -> None:
    _, steps = walk(tree(start=GotoNode(target="bye")))
    assert steps[0].action == HangUp(prompts=("vm-goodbye",), reason="bye")
    assert [e.data["node"] for e in steps[0].timeline] == ["start", "bye"]


# --- bounds and misuse ------------------------------------------------------------------------------


def test_a_loop_without_input_ends_at_the_visit_bound() -> None:
    t = tree(start=GotoNode(target="again"), again=GotoNode(target="start"), max_visits=10)
    _, steps = walk(t)
    assert steps[0].action == HangUp(prompts=("vm-goodbye",), reason="visit-limit")
    assert kinds(steps).count("ivr_node") == 10 and kinds(steps)[-1] == "ivr_visit_limit"


def test_a_caller_pressing_keys_round_a_loop_ends_at_the_bound() -> None:
    t = tree(start=menu(keys={"1": "play"}), play=PlayNode(prompts=("x",), next="start"), max_visits=6)
    call = IvrCall(t, caller="", language="en")
    step = call.start(now=NOW)
    for _ in range(100):
        if step.final:
            break
        step = call.feed(Pressed("1") if isinstance(step.action, Collect) else Heard(), now=NOW)
    assert step.action == HangUp(prompts=("vm-goodbye",), reason="visit-limit")
    assert call.visits == 7


def test_a_result_that_was_not_asked_for_is_refused_and_changes_nothing() -> None:
    call = IvrCall(tree(start=menu()), caller="", language="en")
    with pytest.raises(IvrError, match="not started"):
        call.feed(Heard(), now=NOW)
    call.start(now=NOW)
    with pytest.raises(IvrError, match="Heard does not answer Collect"):
        call.feed(Heard(), now=NOW)
    with pytest.raises(IvrError):
        call.start(now=NOW)
    assert isinstance(call.feed(Pressed("1"), now=NOW).action, RouteToQueue)
    with pytest.raises(IvrError, match="RouteToQueue"):
        call.feed(Pressed("1"), now=NOW)


def test_a_tree_needs_its_entry() -> None:
    with pytest.raises(ValueError, match="entry"):
        IvrTree(name="t", entry="nowhere", nodes={})


def test_render_leaves_unknown_variables_empty() -> None:
    assert ivr.render("{a}-{b}-{A}", {"a": "1"}) == "1--{A}"
