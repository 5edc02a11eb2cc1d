"""ccqueue import-asterisk: app_queue's queues.conf in, ccqueue YAML and notes out.

Each case is a few lines of queues.conf; the output is read back with PyYAML and,
where it matters, loaded with `load_config` the way `ccqueue check` does.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from ccqueue.config import load_config
from ccqueue.config.import_asterisk import (
    AGENTS_FILE,
    QUEUES_FILE,
    ImportAsteriskError,
    ImportResult,
    convert,
    main,
)

MAXLEN_REASON = "ccqueue does not limit how many callers wait in a queue yet"
MINIMAL_CCQUEUE_YAML = "asterisk:\n  ami:\n    username: ccqueue\n    secret: s3cret\n"


def conf(text: str) -> ImportResult:
    return convert(textwrap.dedent(text))


def queues_of(result: ImportResult) -> dict[str, Any]:
    data = yaml.safe_load(result.yaml_files[QUEUES_FILE])
    return dict(data["queues"])


def agents_of(result: ImportResult) -> dict[str, Any]:
    data = yaml.safe_load(result.yaml_files[AGENTS_FILE])
    return dict(data["agents"])


def notes_about(result: ImportResult, *words: str) -> list[str]:
    return [n for n in result.notes if all(w in n for w in words)]


def load(result: ImportResult, directory: Path) -> Any:
    """The output as `ccqueue check` would load it, with a minimal ccqueue.yaml."""
    for name, text in result.yaml_files.items():
        (directory / name).write_text(text, encoding="utf-8")
    (directory / "ccqueue.yaml").write_text(MINIMAL_CCQUEUE_YAML, encoding="utf-8")
    return load_config(directory, env={name: "pw-" + name for name in result.password_variables})


# --- strategies -------------------------------------------------------------------

STRATEGIES = [
    ("ringall", "ring_all", False),
    ("leastrecent", "longest_idle", False),
    ("fewestcalls", "fewest_calls", False),
    ("random", "random", False),
    ("rrmemory", "round_robin", False),
    ("rrordered", "round_robin", False),
    ("roundrobin", "round_robin", False),
    ("linear", "linear", False),
    ("LINEAR", "linear", False),
    ("wrandom", "random", True),
    ("bogus", "ring_all", True),  # app_queue warns and rings everyone
]


@pytest.mark.parametrize(("written", "expected", "noted"), STRATEGIES)
def test_strategy(written: str, expected: str, noted: bool) -> None:
    result = conf(f"[q]\nstrategy = {written}\n")
    assert queues_of(result)["q"]["strategy"] == expected
    assert bool(notes_about(result, "queue q", "strategy")) is noted


def test_a_queue_without_settings_keeps_app_queue_defaults_where_ccqueue_differs() -> None:
    result = conf("[q]\n")
    assert queues_of(result) == {"q": {"strategy": "ring_all", "ring_timeout_s": 15, "wrapup_s": 0, "moh_class": "default"}}
    assert agents_of(result) == {}


# --- queue options ----------------------------------------------------------------

# (lines under [q], expected entries of the queue, words a note must hold or None)
OPTIONS: list[tuple[str, dict[str, Any], tuple[str, ...] | None]] = [
    ("timeout = 20", {"ring_timeout_s": 20}, None),
    ("timeout = 0", {"ring_timeout_s": 15}, ("timeout = 0",)),
    ("timeout = soon", {"ring_timeout_s": 15}, ("timeout = soon",)),
    ("wrapuptime = 30", {"wrapup_s": 30}, None),
    ("wrapuptime = -1", {"wrapup_s": 0}, ("wrapuptime",)),
    ("musicclass = jazz", {"moh_class": "jazz"}, None),
    ("music = jazz", {"moh_class": "jazz"}, None),
    ("musiconhold = jazz", {"moh_class": "jazz"}, None),
    ("weight = 5", {"priority": 5}, ("weight = 5", "priority 5")),
    ("weight = 0", {}, None),
    ("autopause = yes", {"auto_pause": {"after_misses": 1}}, ("autopause = yes", "this queue only")),
    ("autopause = all", {"auto_pause": {"after_misses": 1}}, ("autopause = all", "all its queues")),
    ("autopause = no", {}, None),
    ("autopause = yes\nautopause = no", {}, None),  # the last value wins, as in app_queue
    ("maxlen = 10", {}, ("maxlen = 10", "not carried over")),
    ("maxlen = 0", {}, None),  # unlimited, as ccqueue
    ("announce-frequency = 90", {}, ("announce-frequency = 90", "not carried over")),
    ("announce-holdtime = yes", {}, ("announce-holdtime", "not carried over")),
    ("announce-position = yes", {}, ("announce-position", "not carried over")),
    ("periodic-announce = queue-periodic-announce", {}, ("periodic-announce", "not carried over")),
    ("joinempty = paused,inuse", {}, ("joinempty", "not carried over")),
    ("leavewhenempty = inuse", {}, ("leavewhenempty", "not carried over")),
    ("retry = 5", {}, ("retry = 5", "not carried over")),
    ("servicelevel = 60", {"service_level": {"answer_within_s": 60}}, None),
    ("servicelevel = 0", {}, ("servicelevel = 0", "20 s kept")),
    ("servicelevel = soon", {}, ("servicelevel = soon", "20 s kept")),
    ("Announce-Frequency = 90", {}, ("announce-frequency = 90",)),  # option names have no case
]


@pytest.mark.parametrize(("lines", "expected", "note"), OPTIONS)
def test_queue_option(lines: str, expected: dict[str, Any], note: tuple[str, ...] | None) -> None:
    result = conf(f"[q]\n{lines}\n")
    queue = queues_of(result)["q"]
    defaults = {"strategy": "ring_all", "ring_timeout_s": 15, "wrapup_s": 0, "moh_class": "default"}
    assert queue == {**defaults, **expected}
    about_q = notes_about(result, "queue q")
    if note is None:
        assert about_q == []
    else:
        assert len(about_q) == 1, about_q
        assert all(word in about_q[0] for word in note), about_q


def test_a_note_names_file_line_queue_and_option() -> None:
    result = convert("[general]\n\n[support]\nstrategy = ringall\nmaxlen = 3\n", origin="queues.conf")
    assert notes_about(result, "maxlen") == ["queues.conf:5: queue support: maxlen = 3: not carried over: " + MAXLEN_REASON]


def test_general_settings_are_noted_unless_ccqueue_does_the_same() -> None:
    result = conf("[general]\npersistentmembers = yes\nautofill = yes\nmonitor-type = MixMonitor\n")
    general = notes_about(result, "[general]")
    assert [n.split(": ")[2] for n in general] == ["persistentmembers = yes", "monitor-type = MixMonitor"]
    assert queues_of(result) == {}


# --- names ------------------------------------------------------------------------


def test_queue_names_are_normalised_and_renames_noted() -> None:
    result = conf("[Sales Team]\n[sales_team]\n[Support.EU]\n[support-eu]\n")
    assert list(queues_of(result)) == ["sales_team", "sales_team_2", "support_eu", "support-eu"]
    assert len(notes_about(result, "renamed from [Sales Team]")) == 1
    assert len(notes_about(result, "queue sales_team_2", "renamed from [sales_team]")) == 1
    assert len(notes_about(result, "renamed from [Support.EU]")) == 1
    assert notes_about(result, "support-eu:") == []


AGENT_IDS = [
    ("PJSIP/alice", "alice", None),
    ("PJSIP/Alice.Smith", "alice_smith", "PJSIP/Alice.Smith"),
    ("PJSIP/1109", "1109", None),
    ("SIP/bob", "bob", "SIP/bob"),
    ("Local/1001@agents", "1001_agents", "Local/1001@agents"),
    ("DAHDI/1", "1", "DAHDI/1"),
]


@pytest.mark.parametrize(("interface", "agent_id", "endpoint"), AGENT_IDS)
def test_agent_id_comes_from_the_endpoint_name(interface: str, agent_id: str, endpoint: str | None) -> None:
    result = conf(f"[q]\nmember => {interface}\n")
    agent = agents_of(result)[agent_id]
    assert agent.get("endpoint") == endpoint
    assert agent["password_env"] == f"CCQUEUE_SIP_{agent_id.upper()}"
    assert result.password_variables == [f"CCQUEUE_SIP_{agent_id.upper()}"]
    not_pjsip = notes_about(result, f"agent {agent_id}", "not a PJSIP endpoint")
    assert bool(not_pjsip) is (not interface.startswith("PJSIP/"))


def test_agent_ids_that_clash_get_a_suffix_and_a_note() -> None:
    result = conf("[q]\nmember => PJSIP/alice\nmember => SIP/alice\nmember => PJSIP/Alice\n")
    agents = agents_of(result)
    assert list(agents) == ["alice", "alice_2", "alice_3"]
    assert agents["alice_2"]["endpoint"] == "SIP/alice"
    assert agents["alice_3"]["endpoint"] == "PJSIP/Alice"
    assert len(notes_about(result, "was taken")) == 2


# --- members ----------------------------------------------------------------------


def test_one_agent_per_interface_across_queues() -> None:
    result = conf(
        """\
        [support]
        member => PJSIP/alice,0,Alice Liddell
        member => PJSIP/bob
        [sales]
        member = PJSIP/alice
        """
    )
    assert agents_of(result) == {
        "alice": {"name": "Alice Liddell", "password_env": "CCQUEUE_SIP_ALICE", "queues": ["support", "sales"]},
        "bob": {"name": "bob", "password_env": "CCQUEUE_SIP_BOB", "queues": ["support"]},
    }
    assert result.queues == ["support", "sales"]
    assert result.agents == ["alice", "bob"]


# (member fields after the interface, expected agent entries, words of a note or None)
MEMBER_FIELDS: list[tuple[str, dict[str, Any], tuple[str, ...] | None]] = [
    ("", {}, None),
    (",0,Alice", {"name": "Alice"}, None),
    (",0,Alice,PJSIP/alice-desk", {"name": "Alice"}, ("state interface PJSIP/alice-desk",)),
    (",0,,,yes", {}, ("ringinuse = yes",)),
    (",0,,,no", {}, None),
    (",0,,,,20", {"wrapup_s": 20}, None),
    (",0,,,,soon", {}, ("wrapuptime 'soon'",)),
    (",0,,,,,yes", {}, ("paused = yes",)),
    (",x", {}, ("penalty 'x'",)),
    (",-3", {}, ("penalty '-3'",)),
]


@pytest.mark.parametrize(("fields", "expected", "note"), MEMBER_FIELDS)
def test_member_fields(fields: str, expected: dict[str, Any], note: tuple[str, ...] | None) -> None:
    result = conf(f"[q]\nmember => PJSIP/alice{fields}\n")
    agent = agents_of(result)["alice"]
    base = {"name": "alice", "password_env": "CCQUEUE_SIP_ALICE", "queues": ["q"]}
    assert agent == {**base, **expected}
    member_notes = notes_about(result, "member PJSIP/alice")
    if note is None:
        assert member_notes == []
    else:
        assert len(member_notes) == 1 and all(word in member_notes[0] for word in note), member_notes


def test_a_member_listed_twice_in_a_queue_is_kept_once() -> None:
    result = conf("[q]\nmember => PJSIP/alice\nmember => PJSIP/alice,1\n")
    assert agents_of(result)["alice"]["queues"] == ["q"]
    assert len(notes_about(result, "listed twice")) == 1
    assert "steps" not in queues_of(result)["q"]


def test_member_names_that_differ_between_queues_keep_the_first() -> None:
    result = conf("[a]\nmember => PJSIP/alice,0,Alice\n[b]\nmember => PJSIP/alice,0,Ally\n")
    assert agents_of(result)["alice"]["name"] == "Alice"
    assert len(notes_about(result, "agent alice", "names differ")) == 1


def test_member_wrapup_that_differs_between_queues_is_noted() -> None:
    result = conf("[a]\nmember => PJSIP/alice,0,,,,10\n[b]\nmember => PJSIP/alice,0,,,,20\n")
    assert "wrapup_s" not in agents_of(result)["alice"]
    assert len(notes_about(result, "agent alice", "wrapuptime differs")) == 1


def test_a_member_without_interface_is_noted() -> None:
    result = conf("[q]\nmember => ,0,Nobody\n")
    assert agents_of(result) == {}
    assert len(notes_about(result, "no interface")) == 1


# --- penalties --------------------------------------------------------------------


def test_penalties_become_levels_of_a_queue_skill_and_widening_steps(tmp_path: Path) -> None:
    result = conf(
        """\
        [support]
        timeout = 20
        member => PJSIP/alice,0
        member => PJSIP/bob,5
        member => PJSIP/carol,0
        """
    )
    support = queues_of(result)["support"]
    assert support["steps"] == [{"require": {"support": 2}, "duration_s": 20}, {}]
    agents = agents_of(result)
    assert {a: agents[a]["skills"] for a in agents} == {
        "alice": {"support": 2},
        "bob": {"support": 1},
        "carol": {"support": 2},
    }
    assert len(notes_about(result, "queue support", "penalties", "0 -> 2, 5 -> 1")) == 1
    config = load(result, tmp_path)
    assert config.agents["bob"].skills == {"support": 1}
    assert config.queues["support"].steps[0].duration_s == 20.0


def test_more_penalties_than_levels_share_the_lowest_level() -> None:
    members = "".join(f"member => PJSIP/a{p},{p}\n" for p in range(7))
    result = conf(f"[q]\n{members}")
    steps = queues_of(result)["q"]["steps"]
    assert [s.get("require") for s in steps] == [{"q": 5}, {"q": 4}, {"q": 3}, {"q": 2}, None]
    levels = [agents_of(result)[f"a{p}"]["skills"]["q"] for p in range(7)]
    assert levels == [5, 4, 3, 2, 1, 1, 1]
    assert len(notes_about(result, "share level 1")) == 1


def test_one_penalty_for_all_members_needs_no_steps() -> None:
    result = conf("[q]\nmember => PJSIP/alice,3\nmember => PJSIP/bob,3\n")
    assert "steps" not in queues_of(result)["q"]
    assert all("skills" not in agent for agent in agents_of(result).values())


def test_penalties_under_wrandom_are_weights_and_not_carried_over() -> None:
    result = conf("[q]\nstrategy = wrandom\nmember => PJSIP/alice,0\nmember => PJSIP/bob,2\n")
    assert "steps" not in queues_of(result)["q"]
    assert len(notes_about(result, "queue q", "wrandom weights")) == 1


# --- order ------------------------------------------------------------------------


def test_linear_queues_give_agents_their_order_in_the_file() -> None:
    result = conf("[q]\nstrategy = linear\nmember => PJSIP/carol\nmember => PJSIP/alice\n")
    agents = agents_of(result)
    assert (agents["carol"]["order"], agents["alice"]["order"]) == (1, 2)
    assert notes_about(result, "linear") == []


def test_a_linear_queue_listing_members_in_another_order_is_noted() -> None:
    result = conf(
        "[a]\nmember => PJSIP/alice\nmember => PJSIP/bob\n[b]\nstrategy = linear\nmember => PJSIP/bob\nmember => PJSIP/alice\n"
    )
    assert len(notes_about(result, "queue b", "linear", "bob, alice")) == 1


def test_without_ordered_strategies_agents_have_no_order() -> None:
    result = conf("[q]\nstrategy = leastrecent\nmember => PJSIP/alice\n")
    assert "order" not in agents_of(result)["alice"]


# --- templates and sections --------------------------------------------------------


def test_template_inheritance_copies_settings_and_members_then_own_values_win() -> None:
    result = conf(
        """\
        [base](!)
        strategy = leastrecent
        timeout = 10
        maxlen = 5
        member => PJSIP/alice
        [support](base)
        timeout = 25
        member => PJSIP/bob
        [sales](base)
        """
    )
    queues = queues_of(result)
    assert list(queues) == ["support", "sales"]  # a template is not a queue
    assert (queues["support"]["strategy"], queues["support"]["ring_timeout_s"]) == ("longest_idle", 25)
    assert queues["sales"]["ring_timeout_s"] == 10
    assert agents_of(result)["alice"]["queues"] == ["support", "sales"]
    assert agents_of(result)["bob"]["queues"] == ["support"]
    # an inherited setting that is not carried over is noted once per queue, at the template's line
    assert notes_about(result, "maxlen") == [
        "queues.conf:4: queue support (from template base): maxlen = 5: not carried over: " + MAXLEN_REASON,
        "queues.conf:4: queue sales (from template base): maxlen = 5: not carried over: " + MAXLEN_REASON,
    ]


def test_several_templates_are_inherited_in_the_order_listed() -> None:
    result = conf("[t1](!)\ntimeout = 10\n[t2](!)\ntimeout = 20\n[q](t1,t2)\n[r](t2, t1)\n")
    queues = queues_of(result)
    assert (queues["q"]["ring_timeout_s"], queues["r"]["ring_timeout_s"]) == (20, 10)


def test_a_template_of_a_template_and_a_later_addition() -> None:
    result = conf("[t1](!)\nwrapuptime = 3\n[t2](!,t1)\ntimeout = 9\n[q](t2)\n[q](+)\nmember => PJSIP/alice\n")
    assert queues_of(result)["q"]["wrapup_s"] == 3
    assert queues_of(result)["q"]["ring_timeout_s"] == 9
    assert agents_of(result)["alice"]["queues"] == ["q"]


def test_an_undefined_template_is_noted() -> None:
    result = conf("[q](nothere)\ntimeout = 7\n")
    assert queues_of(result)["q"]["ring_timeout_s"] == 7
    assert len(notes_about(result, "[q]", "template 'nothere'")) == 1


def test_a_queue_defined_twice_keeps_the_first_definition() -> None:
    result = conf("[q]\ntimeout = 7\n[q]\ntimeout = 9\n")
    assert queues_of(result)["q"]["ring_timeout_s"] == 7
    assert len(notes_about(result, "defined again")) == 1


# --- reading ----------------------------------------------------------------------


def test_comments_block_comments_and_escaped_semicolons() -> None:
    result = conf(
        """\
        ; a comment
        [q] ; the queue
        timeout = 20 ; seconds
        ;-- a block comment
        timeout = 99
        member => PJSIP/ghost
        --;
        ;---------- a ruler, not a block comment
        member => PJSIP/alice,0,Alice\\; the first ;-- inline block --; ; and a comment
        """
    )
    assert queues_of(result)["q"]["ring_timeout_s"] == 20
    assert agents_of(result) == {"alice": {"name": "Alice; the first", "password_env": "CCQUEUE_SIP_ALICE", "queues": ["q"]}}
    assert result.notes[:-1] == []  # only the hotlines reminder


def test_bad_lines_are_noted_and_reading_goes_on() -> None:
    result = conf(
        """\
        strategy = linear
        [q]
        this line has no equal sign
        [broken
        timeout = 30
        [r]
        #weird
        timeout = 40
        """
    )
    assert queues_of(result) == {"q": queues_of(result)["q"], "r": queues_of(result)["r"]}
    assert queues_of(result)["q"]["ring_timeout_s"] == 15  # the 30 belongs to the unreadable header
    assert queues_of(result)["r"]["ring_timeout_s"] == 40
    for words in (
        ("queues.conf:1", "before any [section]"),
        ("queues.conf:3", "no '='"),
        ("queues.conf:4", "section header"),
        ("queues.conf:7", "#weird"),
    ):
        assert len(notes_about(result, *words)) == 1, (words, result.notes)


def test_includes_are_followed_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "queues.conf").write_text(
        "[general]\n#include queues-extra.conf\n#tryinclude missing.conf\n#include gone.conf\n"
        '[q]\n#include "members/*.conf"\n#exec /bin/generate-members\n'
    )
    (tmp_path / "queues-extra.conf").write_text("[extra]\ntimeout = 11\n#include queues.conf\n")
    (tmp_path / "members").mkdir()
    (tmp_path / "members" / "a.conf").write_text("member => PJSIP/alice\n")
    (tmp_path / "members" / "b.conf").write_text("maxlen = 4\nmember => PJSIP/bob\n")
    result = convert(tmp_path / "queues.conf")
    assert list(queues_of(result)) == ["extra", "q"]
    assert queues_of(result)["extra"]["ring_timeout_s"] == 11
    assert agents_of(result)["bob"]["queues"] == ["q"]
    assert notes_about(result, "missing.conf") == []  # #tryinclude: a missing file is fine
    assert len(notes_about(result, "queues.conf:4", "gone.conf", "cannot be read")) == 1
    assert len(notes_about(result, "queues-extra.conf:3", "includes itself")) == 1
    assert len(notes_about(result, "queues.conf:7", "#exec", "not run")) == 1
    assert len(notes_about(result, "members/b.conf:1", "queue q", "maxlen = 4")) == 1


def test_includes_of_text_need_a_folder(tmp_path: Path) -> None:
    (tmp_path / "more.conf").write_text("timeout = 12\n")
    text = "[q]\n#include more.conf\n"
    assert queues_of(convert(text))["q"]["ring_timeout_s"] == 15
    assert len(notes_about(convert(text), "not followed")) == 1
    assert queues_of(convert(text, include_dir=str(tmp_path)))["q"]["ring_timeout_s"] == 12


def test_latin1_input_is_read_with_a_note(tmp_path: Path) -> None:
    path = tmp_path / "queues.conf"
    path.write_bytes("[q]\nmember => PJSIP/jose,0,José\n".encode("latin-1"))
    result = convert(path)
    assert agents_of(result)["jose"]["name"] == "José"
    assert notes_about(result, "Latin-1") == ["queues.conf: file: not UTF-8; read as Latin-1 (check names with accents)"]


def test_an_unreadable_path_raises() -> None:
    with pytest.raises(ImportAsteriskError, match="cannot read"):
        convert(Path("/nonexistent/queues.conf"))


# --- the output as a whole ----------------------------------------------------------

RICH = """\
[general]
persistentmembers = yes

[agents-base](!)
strategy = rrordered
wrapuptime = 10
musicclass = calm
autopause = all

[Support Desk](agents-base)
timeout = 20
weight = 2
maxlen = 8
announce-frequency = 60
member => PJSIP/alice,0,Alice
member => PJSIP/bob,1,Bob,,no,15

[billing](agents-base)
strategy = fewestcalls
member => PJSIP/bob,0,Bob
member => Local/7000@team,0,Team Line
"""


def test_rich_input_loads_as_a_ccqueue_configuration(tmp_path: Path) -> None:
    result = conf(RICH)
    config = load(result, tmp_path)
    assert sorted(config.queues) == ["billing", "support_desk"]
    desk = config.queues["support_desk"]
    assert (desk.strategy.value, desk.ring_timeout_s, desk.wrapup_s, desk.moh_class) == ("round_robin", 20, 10, "calm")
    assert (desk.priority, desk.auto_pause is not None) == (2, True)
    assert config.queues["billing"].strategy.value == "fewest_calls"
    assert sorted(config.agents) == ["7000_team", "alice", "bob"]
    assert config.agents["bob"].queues == ("support_desk", "billing")
    assert config.agents["7000_team"].endpoint == "Local/7000@team"
    assert config.agents["alice"].password.get_secret_value() == "pw-CCQUEUE_SIP_ALICE"
    assert [a.order for a in config.agents.values()] == [1, 2, 3]


def test_every_note_heads_one_of_the_generated_files() -> None:
    result = conf(RICH)
    headers = "".join(
        line[2:] for text in result.yaml_files.values() for line in text.splitlines(keepends=True) if line.startswith("#")
    )
    flat = " ".join(headers.split())
    for note in result.notes:
        assert " ".join(note.split()) in flat, note
    assert "CCQUEUE_SIP_<ID>" in result.yaml_files[AGENTS_FILE]


def test_the_same_input_gives_the_same_bytes() -> None:
    assert conf(RICH) == conf(RICH)


def test_an_empty_file_gives_empty_sections(tmp_path: Path) -> None:
    result = conf("")
    assert (queues_of(result), agents_of(result), result.notes) == ({}, {}, [])
    config = load(result, tmp_path)
    assert (dict(config.queues), dict(config.agents)) == ({}, {})


# --- the command ------------------------------------------------------------------


def test_command_writes_the_files_and_prints_the_notes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "queues.conf"
    source.write_text(RICH)
    out = tmp_path / "out" / "config"
    assert main([str(source), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["agents.yaml", "queues.yaml"]
    assert "2 queue(s)" in printed and "3 agent(s)" in printed
    assert "CCQUEUE_SIP_ALICE" in printed
    assert "queues.conf:13: queue support_desk: maxlen = 8" in printed


def test_command_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "queues.conf"
    source.write_text("[q]\n")
    (tmp_path / "queues.yaml").write_text("mine\n")
    assert main([str(source), "--out", str(tmp_path)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (tmp_path / "queues.yaml").read_text() == "mine\n"
    assert not (tmp_path / "agents.yaml").exists()
    assert main([str(source), "--out", str(tmp_path), "--force"]) == 0
    assert "queues:" in (tmp_path / "queues.yaml").read_text()


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_command_reports_unreadable_input(tmp_path: Path, make: str, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "queues.conf"
    if make == "directory":
        source.mkdir()
    assert main([str(source), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ccqueue: cannot read {source}")
    assert not (tmp_path / "out").exists()


def test_command_refuses_an_output_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "queues.conf"
    source.write_text("[q]\n")
    (tmp_path / "taken").write_text("")
    assert main([str(source), "--out", str(tmp_path / "taken")]) == 2
    assert "not a folder" in capsys.readouterr().err
