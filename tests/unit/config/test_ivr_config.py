"""IVR trees and schedules in YAML: what the loader accepts, and every refusal placed at file:line."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from ccqueue.config import ConfigError, load_config
from ccqueue.config.ivr_checks import SoundCatalog, sounds_in
from ccqueue.config.to_core import acd_settings, ivr_trees
from ccqueue.core import ivr
from ccqueue.core.dialogue import Play
from ccqueue.core.schedule import is_open

REPO = Path(__file__).resolve().parents[3]
SOUNDS = SoundCatalog(
    project=frozenset({"welcome", "menu", "leave-message"}), asterisk=frozenset({"vm-goodbye", "pm-invalid-option", "beep"})
)

BASE = """\
asterisk:
  ami: {username: u, secret: s}
queues:
  support:
schedules:
  office:
    time_zone: Europe/Berlin
    hours: {mon: ["09:00-18:00"], fri: ["09:00-12:00", "22:00-02:00"]}
    holidays:
      - {date: 2025-12-25}
      - {date: "2025-12-24", hours: ["09:00-12:00"], name: Christmas Eve}
hotlines:
  "300": {ivr: main, language: ru}
"""

TREE = """\
ivr:
  main:
    entry: start
    transfer_allowed: ['2\\d{3}']
    nodes:
      start:
        branch:
          conditions:
            - {schedule_closed: office, goto: bye}
            - {caller_matches: '\\+7.*', goto: menu}
          otherwise: menu
      menu:
        menu: {prompt: ccqueue/menu, keys: {"1": support, "2": desk}, on_exhausted: bye}
      support:
        queue: {name: support, priority: 3}
      desk:
        transfer: {to: "2001"}
      bye:
        hangup: {prompts: [vm-goodbye]}
"""


def load(tmp_path: Path, text: str, sounds: SoundCatalog = SOUNDS):  # type: ignore[no-untyped-def]
    (tmp_path / "config.yaml").write_text(textwrap.dedent(text), encoding="utf-8")
    return load_config(tmp_path / "config.yaml", env={}, sounds=sounds)


def problems(tmp_path: Path, text: str, sounds: SoundCatalog = SOUNDS) -> list[tuple[int | None, str, str]]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text, sounds)
    return [(p.line, p.key, p.message) for p in caught.value.problems]


def test_a_good_tree_loads_and_converts(tmp_path: Path) -> None:
    config = load(tmp_path, BASE + TREE)
    assert config.hotlines["300"].ivr == "main" and config.hotlines["300"].queue is None
    trees = ivr_trees(config)
    main = trees["main"]
    assert main.entry == "start" and main.transfer_allowed == (r"2\d{3}",)
    assert main.nodes["support"] == ivr.QueueNode(queue="support", priority=3)
    assert main.nodes["desk"] == ivr.TransferNode(to="2001", context="ccqueue-transfer")
    branch = main.nodes["start"]
    assert isinstance(branch, ivr.BranchNode)
    office = branch.conditions[0].schedule
    assert office is not None and branch.conditions[0].when_open is False
    assert office.holidays[dt.date(2025, 12, 25)] == ()
    berlin = office.zone
    assert is_open(office, dt.datetime(2025, 12, 24, 11, tzinfo=berlin).timestamp())  # a holiday's hours
    assert is_open(office, dt.datetime(2025, 12, 27, 1, tzinfo=berlin).timestamp())  # Friday night
    assert not is_open(office, dt.datetime(2025, 12, 22, 18, tzinfo=berlin).timestamp())
    hotline = acd_settings(config).hotlines["300"]
    assert (hotline.ivr, hotline.language, hotline.queue) == ("main", "ru", None)


def test_the_shipped_sample_tree_loads_and_converts() -> None:
    config = load_config(REPO / "config", env={}, sounds=SoundCatalog(project=sounds_in(REPO / "sounds" / "en")))
    assert config.hotlines["100"].queue == "support"
    assert config.hotlines["300"].ivr == "main"
    tree = ivr_trees(config)["main"]
    call = ivr.IvrCall(tree, caller="+4930123", language="en")
    step = call.start(now=0.0)
    assert step.action == Play(prompts=("ccqueue/ivr-welcome",))


def test_every_node_type_and_bare_hangup(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        BASE
        + """\
ivr:
  main:
    entry: a
    nodes:
      a: {play: {prompts: [ccqueue/welcome, beep], next: b}}
      b: {collect: {variable: acct, prompt: ccqueue/menu, min_length: 2, max_length: 4, terminator: "*", next: c, on_exhausted: z}}
      c: {say: {variable: acct, format: number, next: d}}
      d: {lookup: {url: "http://crm/{caller}?a={acct}", fields: {name: name, x.y: deep}, next: e, on_failure: e}}
      e: {set: {variables: {topic: billing}, priority: 2, preferred_agent: "{name}", next: f}}
      f: {language: {variable: lang, next: g}}
      g: {language: {keys: {"1": en, "2": ru}, prompt: beep, next: h}}
      h: {menu: {prompt: beep, keys: {"1": i, "2": j, "3": k, "4": l, "#": m}, on_exhausted: z}}
      i: {callback: {queue: support, number_variable: acct, on_no_number: z}}
      j: {voicemail:}
      k: {transfer: {to: "{acct}", on_refused: z}}
      l: {goto: z}
      m: {queue: {name: support}}
      z: {hangup:}
""",
    )
    nodes = ivr_trees(config)["main"].nodes
    assert nodes["j"] == ivr.VoicemailNode(max_s=120.0, prompt="ccqueue/leave-message")
    assert nodes["z"] == ivr.HangupNode()
    assert nodes["g"] == ivr.LanguageNode(keys={"1": "en", "2": "ru"}, prompt="beep", next="h", timeout_s=5.0, retries=1)
    assert isinstance(nodes["b"], ivr.CollectNode) and nodes["b"].terminator == "*"


BAD = {
    "unknown node": (
        TREE.replace("on_exhausted: bye", "on_exhausted: by"),
        "on_exhausted: by}",
        "ivr.main.nodes.menu.menu.on_exhausted",
        "unknown node 'by'; did you mean 'bye'?",
    ),
    "unknown entry": (TREE.replace("entry: start", "entry: begin"), "entry: begin", "ivr.main.entry", "unknown node 'begin'"),
    "unknown key target": (
        TREE.replace('"2": desk', '"2": dsk'),
        "dsk",
        "ivr.main.nodes.menu.menu.keys.2",
        "unknown node 'dsk'; did you mean 'desk'?",
    ),
    "unknown queue": (
        TREE.replace("name: support, priority", "name: sales, priority"),
        "sales",
        "ivr.main.nodes.support.queue.name",
        "unknown queue 'sales'",
    ),
    "unknown schedule": (
        TREE.replace("schedule_closed: office", "schedule_closed: ofice"),
        "ofice",
        "ivr.main.nodes.start.branch.conditions.0.schedule_closed",
        "unknown schedule 'ofice'; did you mean 'office'?",
    ),
    "pattern that does not compile": (
        TREE.replace("'\\+7.*'", "'(+7'"),
        "(+7",
        "ivr.main.nodes.start.branch.conditions.1.caller_matches",
        "the pattern does not compile",
    ),
    "unknown type": (
        TREE.replace("hangup: {prompts", "hangupp: {prompts"),
        "hangupp",
        "ivr.main.nodes.bye.hangupp",
        "unknown key 'hangupp'; did you mean 'hangup'?",
    ),
    "two types": (
        TREE.replace("      desk:\n", "      desk:\n        goto: bye\n"),
        "        goto: bye",
        "ivr.main.nodes.desk",
        "a node has exactly one type",
    ),
    "transfer not allowed": (
        TREE.replace('to: "2001"', 'to: "+4930123"'),
        "+4930123",
        "ivr.main.nodes.desk.transfer.to",
        "matches none of this tree's transfer_allowed",
    ),
    "missing sound": (
        TREE.replace("prompt: ccqueue/menu", "prompt: ccqueue/manu"),
        "manu",
        "ivr.main.nodes.menu.menu.prompt",
        "no sound 'ccqueue/manu'",
    ),
    "missing asterisk sound": (
        TREE.replace("prompts: [vm-goodbye]", "prompts: [vm-goodby]"),
        "vm-goodby]",
        "ivr.main.nodes.bye.hangup.prompts.0",
        "Asterisk has no sound 'vm-goodby'; did you mean 'vm-goodbye'?",
    ),
    "unreachable node": (
        TREE + "      lost:\n        goto: bye\n",
        "lost:",
        "ivr.main.nodes.lost",
        "node 'lost' cannot be reached from the entry 'start'",
    ),
    "loop without input": (
        TREE.replace("otherwise: menu", "otherwise: spin") + "      spin:\n        goto: start\n",
        "spin:",
        "ivr.main.nodes.spin",
        "these nodes go round without ever waiting for the caller: spin -> start -> spin",
    ),
    "loop of a silent caller": (
        TREE.replace("on_exhausted: bye", "on_exhausted: start"),
        "      menu:",
        "ivr.main.nodes.menu",
        "a caller who presses nothing goes round menu -> start -> menu for ever",
    ),
    "bad menu key": (TREE.replace('"2": desk', '"22": desk'), '"22"', "ivr.main.nodes.menu.menu.keys.22", "a key is one of"),
    "bad sound name": (
        TREE.replace("prompts: [vm-goodbye]", "prompts: [vm-goodbye.gsm]"),
        "vm-goodbye.gsm",
        "ivr.main.nodes.bye.hangup.prompts.0",
        "no extension",
    ),
}


def line_of(text: str, needle: str) -> int:
    return next(n for n, written in enumerate(text.splitlines(), 1) if needle in written)


@pytest.mark.parametrize("case", BAD)
def test_problems_are_placed_at_file_line_and_key(case: str, tmp_path: Path) -> None:
    tree, needle, key, message = BAD[case]
    found = problems(tmp_path, BASE + tree)
    line = line_of(BASE + tree, needle)
    assert any(n == line and k == key and message in m for n, k, m in found), (line, found)


SCHEDULE_BAD = {
    "unknown zone": ("time_zone: Europe/Berlin", "time_zone: Europe/Berln", "schedules.office.time_zone", "unknown time zone"),
    "bad range": ('mon: ["09:00-18:00"]', 'mon: ["09:00-18:60"]', "schedules.office.hours.mon.0", "no such time of day"),
    "empty range": ('mon: ["09:00-18:00"]', 'mon: ["09:00-09:00"]', "schedules.office.hours.mon.0", "empty"),
    "unknown day": ("hours: {mon:", "hours: {mo:", "schedules.office.hours.mo", "unknown key 'mo'; did you mean 'mon'?"),
    "bad date": ('date: "2025-12-24"', 'date: "24.12.2025"', "schedules.office.holidays.1.date", "expected a date"),
    "date twice": ('date: "2025-12-24"', 'date: "2025-12-25"', "schedules.office", "holiday 2025-12-25 is listed twice"),
}  # fmt: skip


@pytest.mark.parametrize("case", SCHEDULE_BAD)
def test_schedule_problems_are_placed(case: str, tmp_path: Path) -> None:
    old, new, key, message = SCHEDULE_BAD[case]
    text = BASE.replace(old, new) + TREE
    line = line_of(text, "time_zone:") if key == "schedules.office" else line_of(text, new)
    found = problems(tmp_path, text)
    assert any(n == line and k == key and message in m for n, k, m in found), (line, found)


def test_hotline_needs_a_queue_or_an_ivr_and_a_known_tree(tmp_path: Path) -> None:
    both = BASE.replace("{ivr: main, language: ru}", "{ivr: main, queue: support}")
    assert problems(tmp_path, both + TREE) == [(13, "hotlines.300", "a hotline has a queue or an ivr, exactly one")]
    neither = BASE.replace("{ivr: main, language: ru}", "{language: ru}")
    assert problems(tmp_path, neither + TREE) == [(13, "hotlines.300", "a hotline has a queue or an ivr, exactly one")]
    unknown = BASE.replace("ivr: main", "ivr: mian")
    assert problems(tmp_path, unknown + TREE) == [(13, "hotlines.300.ivr", "unknown IVR tree 'mian'; did you mean 'main'?")]
    language = BASE.replace("language: ru", "language: de")
    assert [p[:2] for p in problems(tmp_path, language + TREE)] == [(13, "hotlines.300.language")]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = BASE.replace("Europe/Berlin", "Mars/Olympus") + TREE.replace("on_exhausted: bye", "on_exhausted: by").replace(
        "name: support, priority", "name: sales, priority"
    )
    keys = [p[1] for p in problems(tmp_path, text)]
    assert keys == ["schedules.office.time_zone", "ivr.main.nodes.menu.menu.on_exhausted", "ivr.main.nodes.support.queue.name"]


def test_sounds_are_not_checked_when_no_folder_is_known(tmp_path: Path) -> None:
    text = BASE + TREE.replace("prompts: [vm-goodbye]", "prompts: [no-such-sound]")
    assert problems(tmp_path, text)[0][1] == "ivr.main.nodes.bye.hangup.prompts.0"
    load(tmp_path, text, SoundCatalog(project=SOUNDS.project, asterisk=None))
    load(tmp_path, text.replace("ccqueue/menu", "ccqueue/other"), SoundCatalog())


def test_a_sounds_folder_lists_names_without_extension(tmp_path: Path) -> None:
    (tmp_path / "digits").mkdir()
    for name in ("beep.gsm", "digits/1.ulaw", "readme.txt"):
        (tmp_path / name).write_bytes(b"")
    assert sounds_in(tmp_path) == {"beep", "digits/1"}
    assert sounds_in(tmp_path / "missing") is None


def test_empty_sections_are_empty(tmp_path: Path) -> None:
    config = load(tmp_path, "asterisk:\n  ami: {username: u, secret: s}\nschedules:\nivr:\n")
    assert dict(config.ivr) == {} and dict(config.schedules) == {}
