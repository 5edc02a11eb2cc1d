"""ccqueue.config: the shipped example loads, and every kind of mistake is reported
with the right file, line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ccqueue.config import Config, ConfigError, Problem, Strategy, load_config

REPO = Path(__file__).resolve().parents[3]

_BASE_INDENTED = {
    "ccqueue.yaml": """\
        asterisk:
          ami:
            username: ccqueue
            secret: s3cret-value
        """,
    "queues.yaml": """\
        queues:
          support:
            ring_timeout_s: 20
          sales: {}
        hotlines:
          "100":
            queue: support
        """,
    "agents.yaml": """\
        agents:
          alice:
            name: Alice
            password: pw-alice
            queues: [support, sales]
            wrapup_s: 2
        """,
}
BASE = {name: textwrap.dedent(text) for name, text in _BASE_INDENTED.items()}


def write(directory: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def problems_of(directory: Path, files: dict[str, str], env: dict[str, str] | None = None) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_config(write(directory, files), env=env or {})
    return list(caught.value.problems)


def only_problem(directory: Path, files: dict[str, str], env: dict[str, str] | None = None) -> Problem:
    problems = problems_of(directory, files, env)
    assert len(problems) == 1, problems
    return problems[0]


# --- the shipped example ---------------------------------------------------------


def test_shipped_config_loads() -> None:
    cfg = load_config(REPO / "config", env={})
    assert isinstance(cfg, Config)
    assert [Path(f).name for f in cfg.files] == ["agents.yaml", "ccqueue.yaml", "ivr.yaml", "queues.yaml", "users.yaml"]
    assert cfg.users == {}  # examples only, commented out: nobody signs in with a shipped password
    assert cfg.http.open == ("healthz", "metrics", "openapi")
    assert (cfg.asterisk.ami.host, cfg.asterisk.ami.port, cfg.asterisk.ami.username) == ("127.0.0.1", 5038, "ccqueue")
    assert cfg.asterisk.ami.secret.get_secret_value() == "ccqueue-demo-secret"
    assert (cfg.asterisk.agi.host, cfg.asterisk.agi.port) == ("127.0.0.1", 4573)
    assert cfg.asterisk.agent_context == "ccqueue-agent"
    assert (cfg.http.host, cfg.http.port) == ("127.0.0.1", 8080)
    assert cfg.database.dsn == "postgresql://ccqueue@127.0.0.1:5432/ccqueue"
    assert dict(cfg.hotlines)["100"].queue == "support"
    assert cfg.hotlines["100"].greeting == "ccqueue/welcome"
    support = cfg.queues["support"]
    assert (support.name, support.strategy, support.ring_timeout_s) == ("support", Strategy.LONGEST_IDLE, 15.0)
    assert (support.wrapup_s, support.missed_cooldown_s, support.moh_class) == (5.0, 10.0, "default")
    assert sorted(cfg.agents) == ["agent1", "agent2"]
    alice = cfg.agents["agent1"]
    assert (alice.id, alice.name, alice.queues, alice.wrapup_s) == ("agent1", "Alice", ("support",), None)
    assert alice.password.get_secret_value() == "agent1-demo-pass"


def test_single_file_path_loads(tmp_path: Path) -> None:
    write(tmp_path, BASE)
    cfg = load_config(tmp_path / "ccqueue.yaml", env={})
    assert cfg.files == (str(tmp_path / "ccqueue.yaml"),)
    assert dict(cfg.queues) == {} and dict(cfg.agents) == {} and dict(cfg.hotlines) == {}


def test_defaults_fill_missing_optional_sections(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE), env={})
    assert (cfg.http.host, cfg.http.port) == ("127.0.0.1", 8080)
    assert cfg.database.dsn is None
    assert (cfg.asterisk.ami.host, cfg.asterisk.ami.port) == ("127.0.0.1", 5038)
    sales = cfg.queues["sales"]
    assert (sales.strategy, sales.ring_timeout_s, sales.wrapup_s, sales.missed_cooldown_s) == (
        Strategy.LONGEST_IDLE,
        15.0,
        5.0,
        10.0,
    )


def test_config_is_frozen_and_its_mappings_read_only(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE), env={})
    with pytest.raises(ValueError, match="frozen"):
        cfg.http = cfg.http  # type: ignore[misc]
    with pytest.raises(ValueError, match="frozen"):
        cfg.queues["support"].wrapup_s = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.queues["other"] = cfg.queues["support"]  # type: ignore[index]
    assert cfg.agents["alice"].queues == ("support", "sales")


def test_agent_wrapup_overrides_the_queue(tmp_path: Path) -> None:
    files = dict(BASE)
    files["agents.yaml"] += "  bob: {name: Bob, password: pw, queues: [support]}\n"
    cfg = load_config(write(tmp_path, files), env={})
    assert cfg.agent_wrapup_s("alice", "support") == 2.0
    assert cfg.agent_wrapup_s("bob", "support") == 5.0
    with pytest.raises(KeyError):
        cfg.agent_wrapup_s("nobody", "support")


def test_unquoted_hotline_numbers_are_read_as_written(tmp_path: Path) -> None:
    files = {**BASE, "hotlines.yaml": "hotlines:\n  200: {queue: sales}\n  0300: {queue: sales}\n"}
    files["queues.yaml"] = files["queues.yaml"].split("hotlines:")[0]
    cfg = load_config(write(tmp_path, files), env={})
    assert sorted(cfg.hotlines) == ["0300", "200"]


def test_empty_file_and_empty_section_are_fine(tmp_path: Path) -> None:
    files = {**BASE, "empty.yaml": "", "comments.yaml": "# nothing yet\nhttp:\n"}
    cfg = load_config(write(tmp_path, files), env={})
    assert cfg.http.port == 8080


def test_merge_keys_share_defaults(tmp_path: Path) -> None:
    files = dict(BASE)
    files["agents.yaml"] = """\
        agents:
          alice: &agent {name: Alice, password: pw, queues: [support]}
          bob:
            <<: *agent
            name: Bob
        """
    cfg = load_config(write(tmp_path, files), env={})
    assert (cfg.agents["bob"].name, cfg.agents["bob"].queues) == ("Bob", ("support",))


# --- secrets and the environment ------------------------------------------------


def test_secret_env_is_resolved_at_load_time(tmp_path: Path) -> None:
    files = dict(BASE)
    files["ccqueue.yaml"] = files["ccqueue.yaml"].replace("secret: s3cret-value", "secret_env: AMI_SECRET")
    files["ccqueue.yaml"] += "database:\n  dsn_env: DSN\n"
    files["agents.yaml"] = files["agents.yaml"].replace("password: pw-alice", "password_env: ALICE_PW")
    env = {"AMI_SECRET": "from-env", "DSN": "postgresql:///x", "ALICE_PW": "pw-env"}
    cfg = load_config(write(tmp_path, files), env=env)
    assert cfg.asterisk.ami.secret.get_secret_value() == "from-env"
    assert cfg.database.dsn == "postgresql:///x"
    assert cfg.agents["alice"].password.get_secret_value() == "pw-env"


def test_secret_env_unset_is_reported_on_its_line(tmp_path: Path) -> None:
    files = dict(BASE)
    files["ccqueue.yaml"] = files["ccqueue.yaml"].replace("secret: s3cret-value", "secret_env: AMI_SECRET")
    problem = only_problem(tmp_path, files)
    assert (Path(problem.file).name, problem.line, problem.key) == ("ccqueue.yaml", 4, "asterisk.ami.secret_env")
    assert "AMI_SECRET" in problem.message and "not set" in problem.message


def test_secret_and_secret_env_together_is_an_error(tmp_path: Path) -> None:
    files = dict(BASE)
    files["ccqueue.yaml"] += "    secret_env: AMI_SECRET\n"
    problem = only_problem(tmp_path, files, env={"AMI_SECRET": "x"})
    assert (problem.line, problem.key) == (5, "asterisk.ami.secret_env")
    assert "not several" in problem.message


def test_secret_missing_names_both_ways_to_give_it(tmp_path: Path) -> None:
    files = dict(BASE)
    files["ccqueue.yaml"] = files["ccqueue.yaml"].replace("    secret: s3cret-value\n", "")
    problem = only_problem(tmp_path, files)
    assert (problem.line, problem.key) == (2, "asterisk.ami.secret")
    assert "secret_env" in problem.message


def test_secrets_never_printed(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE), env={})
    for text in (repr(cfg), str(cfg), repr(cfg.asterisk.ami), str(cfg.agents["alice"]), repr(cfg.model_dump())):
        assert "s3cret-value" not in text and "pw-alice" not in text
    assert "postgresql" not in repr(load_config(REPO / "config", env={}).database)


def test_secret_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    files = dict(BASE)
    files["ccqueue.yaml"] = files["ccqueue.yaml"].replace("secret: s3cret-value", "secret: 987654321")
    problem = only_problem(tmp_path, files)
    assert problem.key == "asterisk.ami.secret" and "987654321" not in str(problem)


# --- one mistake, one problem at the right place -------------------------------

# (file to change, old text, new text, expected line, expected key, words in the message)
MISTAKES = [
    ("ccqueue.yaml", "asterisk:", "asterisks:", 1, "asterisks", ["unknown section", "'asterisk'"]),
    ("ccqueue.yaml", "    username", "    usrname", 3, "asterisk.ami.usrname", ["unknown key", "'username'"]),
    ("queues.yaml", "ring_timeout_s: 20", "ring_timeout: 20", 3, "queues.support.ring_timeout", ["ring_timeout_s"]),
    ("agents.yaml", "wrapup_s: 2", "wrap_up: 2", 6, "agents.alice.wrap_up", ["unknown key", "'wrapup_s'"]),
    ("ccqueue.yaml", "asterisk:", "http: {hots: x}\nasterisk:", 1, "http.hots", ["unknown key", "'host'"]),
    ("queues.yaml", "ring_timeout_s: 20", "ring_timeout_s: '20'", 3, "queues.support.ring_timeout_s", ["number"]),
    ("ccqueue.yaml", "  ami:", "  ami:\n    port: '5038'", 3, "asterisk.ami.port", ["integer", "'5038'"]),
    ("ccqueue.yaml", "  ami:", "  ami:\n    port: true", 3, "asterisk.ami.port", ["integer", "true"]),
    ("ccqueue.yaml", "  ami:", "  ami:\n    port: 70000", 3, "asterisk.ami.port", ["at most 65535"]),
    ("queues.yaml", "ring_timeout_s: 20", "ring_timeout_s: 0", 3, "queues.support.ring_timeout_s", ["more than"]),
    ("queues.yaml", "sales: {}", "sales: {wrapup_s: -1}", 4, "queues.sales.wrapup_s", ["at least 0"]),
    ("queues.yaml", "sales: {}", "sales: {strategy: randomly}", 4, "queues.sales.strategy", ["longest_idle"]),
    ("queues.yaml", "sales: {}", "sales: [1]", 4, "queues.sales", ["mapping", "list"]),
    ("queues.yaml", 'hotlines:\n  "100":\n    queue: support', "hotlines: [100]", 5, "hotlines", ["mapping", "list"]),
    ("ccqueue.yaml", "username: ccqueue", "username: yes", 3, "asterisk.ami.username", ["string", "true"]),
    ("ccqueue.yaml", "username: ccqueue", "username: 123", 3, "asterisk.ami.username", ["string", "123"]),
    ("queues.yaml", "  sales: {}", "  sales: {}\n  Bad Queue: {}", 5, "queues.Bad Queue", ["queue name"]),
    ("ccqueue.yaml", "    username: ccqueue\n", "", 2, "asterisk.ami.username", ["missing", "'username'"]),
    ("agents.yaml", "    name: Alice\n", "", 2, "agents.alice.name", ["missing", "'name'"]),
    ("agents.yaml", "  alice:", "  Alice:", 2, "agents.Alice", ["agent id"]),
    ("queues.yaml", "queue: support", "queue: suport", 7, "hotlines.100.queue", ["unknown queue", "'support'"]),
    ("agents.yaml", "[support, sales]", "[support, sale]", 5, "agents.alice.queues.1", ["unknown queue 'sale'"]),
    ("agents.yaml", "[support, sales]", "[support, support]", 5, "agents.alice.queues.1", ["listed twice"]),
    ("agents.yaml", "[support, sales]", "support", 5, "agents.alice.queues", ["list"]),
    ("queues.yaml", '"100"', "_1XX", 6, "hotlines._1XX", ["hotline number"]),
    ("queues.yaml", "  sales: {}", "  sales: {name: x}", 4, "queues.sales.name", ["unknown key 'name'"]),
    (
        "ccqueue.yaml",
        "username: ccqueue",
        "username: ccqueue\n    username: other",
        4,
        "asterisk.ami.username",
        ["duplicate key", "line 3"],
    ),
    ("agents.yaml", "    name: Alice", "    name: Alice\n    name: Al", 4, "agents.alice.name", ["duplicate"]),
    ("queues.yaml", "sales: {}", "sales: {x: [1, 2}", 4, "", ["YAML syntax error"]),
    ("queues.yaml", "sales: {}", "sales: 2020-13-45", 4, "queues.sales", ["cannot read"]),
    ("queues.yaml", "sales: {}", "sales: !custom {}", 4, "queues.sales", ["unsupported YAML tag"]),
]


@pytest.mark.parametrize(("file", "old", "new", "line", "key", "words"), MISTAKES, ids=[m[2] for m in MISTAKES])
def test_mistake_is_reported_at_its_place(
    tmp_path: Path, file: str, old: str, new: str, line: int, key: str, words: list[str]
) -> None:
    files = dict(BASE)
    assert old in files[file]
    files[file] = files[file].replace(old, new, 1)
    problem = only_problem(tmp_path, files)
    assert (Path(problem.file).name, problem.line, problem.key) == (file, line, key), problem
    for word in words:
        assert word in problem.message, problem


def test_misspelt_section_does_not_hide_the_real_one(tmp_path: Path) -> None:
    files = dict(BASE)
    files["aa.yaml"] = "asterisks: {}\n"
    files["ccqueue.yaml"] = files["ccqueue.yaml"].replace("username: ccqueue", "username: 5")
    problems = problems_of(tmp_path, files)
    assert [(Path(p.file).name, p.line, p.key) for p in problems] == [
        ("aa.yaml", 1, "asterisks"),
        ("ccqueue.yaml", 3, "asterisk.ami.username"),
    ]


def test_missing_asterisk_section_is_reported_without_a_line(tmp_path: Path) -> None:
    files = {name: text for name, text in BASE.items() if name != "ccqueue.yaml"}
    problem = only_problem(tmp_path, files)
    assert (problem.file, problem.line, problem.key) == (str(tmp_path), None, "asterisk")
    assert "missing required section" in problem.message


def test_duplicate_section_across_files_names_both_places(tmp_path: Path) -> None:
    files = {**BASE, "zz-extra.yaml": "# more\nqueues:\n  other: {}\n"}
    problem = only_problem(tmp_path, files)
    assert (Path(problem.file).name, problem.line, problem.key) == ("zz-extra.yaml", 2, "queues")
    assert f"{tmp_path / 'queues.yaml'}:1" in problem.message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, {**BASE, "list.yaml": "\n- queues\n"})
    assert (Path(problem.file).name, problem.line) == ("list.yaml", 2)
    assert "mapping of sections" in problem.message


def test_yaml_syntax_error_has_its_line(tmp_path: Path) -> None:
    problem = only_problem(tmp_path, {**BASE, "bad.yaml": "http:\n  host: a\n    port: 1\n"})
    assert (Path(problem.file).name, problem.line, problem.key) == ("bad.yaml", 3, "")
    assert problem.message.startswith("YAML syntax error")


def test_alias_bombs_and_loops_are_problems(tmp_path: Path) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdef", "bcdefg", strict=False)
    )
    problem = only_problem(tmp_path, {**BASE, "bomb.yaml": bomb})
    assert Path(problem.file).name == "bomb.yaml" and "aliases" in problem.message
    (tmp_path / "bomb.yaml").unlink()
    problems = problems_of(tmp_path, {**BASE, "loop.yaml": "http: &h {host: *h}\n"})
    assert [(p.line, p.key) for p in problems] == [(1, "http.host")]


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nowhere", env={})
    assert caught.value.problems == (Problem(str(tmp_path / "nowhere"), None, "", "no such file or directory"),)
    with pytest.raises(ConfigError, match=r"no \*\.yaml files"):
        load_config(tmp_path, env={})


# --- many problems at once --------------------------------------------------------


def test_every_problem_is_reported_at_once_in_file_order(tmp_path: Path) -> None:
    files = dict(BASE)
    files["ccqueue.yaml"] = files["ccqueue.yaml"].replace("secret: s3cret-value", "secret_env: NOT_SET")
    files["queues.yaml"] = files["queues.yaml"].replace("ring_timeout_s: 20", "ring_timeout_s: x\n    moh: a")
    files["agents.yaml"] = files["agents.yaml"].replace("[support, sales]", "[nope]")
    problems = problems_of(tmp_path, files)
    assert [(Path(p.file).name, p.line, p.key) for p in problems] == [
        ("agents.yaml", 5, "agents.alice.queues.0"),
        ("ccqueue.yaml", 4, "asterisk.ami.secret_env"),
        ("queues.yaml", 3, "queues.support.ring_timeout_s"),
        ("queues.yaml", 4, "queues.support.moh"),
    ]


def test_error_text_lists_problems_one_per_line(tmp_path: Path) -> None:
    files = dict(BASE)
    files["queues.yaml"] = files["queues.yaml"].replace("ring_timeout_s: 20", "ring_timeout_s: x\n    moh: a")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, files), env={})
    lines = str(caught.value).splitlines()
    queues = tmp_path / "queues.yaml"
    assert lines[0].startswith(f"{queues}:3: queues.support.ring_timeout_s: expected a number")
    assert lines[1] == f"{queues}:4: queues.support.moh: unknown key 'moh'; did you mean 'moh_class'?"
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_problem_text_format() -> None:
    assert str(Problem("a.yaml", 3, "queues.x", "bad")) == "a.yaml:3: queues.x: bad"
    assert str(Problem("a.yaml", None, "", "unreadable")) == "a.yaml: unreadable"


def test_routing_settings_load_and_unknown_skill_is_a_typo(tmp_path: Path) -> None:
    (tmp_path / "ccqueue.yaml").write_text("asterisk:\n  ami: {username: u, secret: s}\n")
    (tmp_path / "queues.yaml").write_text(
        "queues:\n"
        "  billing:\n"
        "    strategy: best_skill\n"
        "    steps:\n"
        "      - {require: {billing: 4}, duration_s: 10}\n"
        "      - {require: {biling: 1}}\n"
        "    returning_customer: {window_s: 600, wait_s: 15}\n"
        "    auto_pause: {after_misses: 2}\n"
    )
    (tmp_path / "agents.yaml").write_text("agents:\n  a1: {name: A, password: p, queues: [billing], skills: {billing: 5}}\n")
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path)
    (problem,) = info.value.problems
    assert (problem.line, problem.key) == (6, "queues.billing.steps.1.require.biling")
    assert "did you mean 'billing'" in problem.message
    (tmp_path / "queues.yaml").write_text((tmp_path / "queues.yaml").read_text().replace("biling", "billing"))
    config = load_config(tmp_path)
    queue = config.queues["billing"]
    assert [dict(s.require) for s in queue.steps] == [{"billing": 4}, {"billing": 1}]
    assert queue.returning_customer is not None and queue.returning_customer.wait_s == 15
    assert queue.auto_pause is not None and queue.auto_pause.after_misses == 2
    assert dict(config.agents["a1"].skills) == {"billing": 5}


def test_secrets_can_come_from_files_and_a_missing_file_is_reported_on_its_line(tmp_path: Path) -> None:
    secret = tmp_path / "ami-secret"
    secret.write_text("from-a-file\n")
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "ccqueue.yaml").write_text(
        f"asterisk:\n  ami:\n    username: u\n    secret_file: {secret}\n"
        "agents:\n  a1:\n    name: A\n    password_file: /nonexistent/sip-a1\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    (problem,) = caught.value.problems
    assert problem.line == 8 and "password_file" in problem.key and "cannot read the secret file" in problem.message
    (folder / "ccqueue.yaml").write_text(
        f"asterisk:\n  ami:\n    username: u\n    secret_file: {secret}\n    secret: written-too\n"
    )
    with pytest.raises(ConfigError, match="give one of 'secret', 'secret_env' or 'secret_file'"):
        load_config(folder)
    (folder / "ccqueue.yaml").write_text(f"asterisk:\n  ami:\n    username: u\n    secret_file: {secret}\n")
    assert load_config(folder).asterisk.ami.secret.get_secret_value() == "from-a-file"
