"""The ``users:`` section: roles and their fields, hashes never clear text, references
to agents and queues, each mistake with its file, line and key; and the commands that
make the hashes."""

from __future__ import annotations

import io
import sys
import textwrap
from pathlib import Path

import pytest

from ccqueue.cli import main
from ccqueue.config import ConfigError, Problem, load_config
from ccqueue.config.users import Role
from ccqueue.credentials import hash_password, hash_token, verify_password

BASE = """\
asterisk:
  ami: {username: ccqueue, secret: s3cret}
queues:
  support:
  sales:
agents:
  agent1: {name: Alice, password: sip-1, queues: [support]}
"""
HASH = hash_password("correct horse battery")
TOKEN_HASH = hash_token("ccq_example")


def load(tmp_path: Path, text: str) -> object:
    (tmp_path / "ccqueue.yaml").write_text(BASE + textwrap.dedent(text), encoding="utf-8")
    return load_config(tmp_path, env={})


def problems(tmp_path: Path, text: str) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return list(caught.value.problems)


def test_users_load_with_their_roles(tmp_path: Path) -> None:
    config = load(
        tmp_path,
        f"""\
        users:
          alice: {{role: agent, agent: agent1, password_hash: "{HASH}"}}
          sam: {{role: supervisor, queues: [support], tokens: ["{TOKEN_HASH}"]}}
          ops: {{role: admin, password_hash: "{HASH}", tokens: ["{TOKEN_HASH}"]}}
        """,
    )
    users = config.users  # type: ignore[attr-defined]
    assert (users["alice"].role, users["alice"].agent) == (Role.AGENT, "agent1")
    assert (users["sam"].role, users["sam"].queues, users["sam"].password_hash) == (Role.SUPERVISOR, ("support",), None)
    assert users["ops"].role is Role.ADMIN
    assert verify_password(users["alice"].password_hash, "correct horse battery")
    assert not verify_password(users["alice"].password_hash, "correct horse battery!")
    assert not verify_password(None, "anything")


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ('{role: agent, agent: agent1, password_hash: "hunter2hunter2"}', "users.u.password_hash", ["argon2id", "never"]),
        ('{role: admin, tokens: ["ccq_the_token_itself"]}', "users.u.tokens", ["sha256:", "never"]),
        ('{role: agent, agent: nobody, password_hash: "HASH"}', "users.u.agent", ["unknown agent 'nobody'"]),
        (
            '{role: supervisor, queues: [suport], password_hash: "HASH"}',
            "users.u.queues.0",
            ["unknown queue 'suport'", "support"],
        ),
        ('{role: agent, password_hash: "HASH"}', "users.u", ["names its agent"]),
        ('{role: supervisor, password_hash: "HASH"}', "users.u", ["lists the queues"]),
        ('{role: admin, agent: agent1, password_hash: "HASH"}', "users.u", ["only an agent user"]),
        ("{role: admin}", "users.u", ["password_hash, tokens, or both"]),
        ('{role: root, password_hash: "HASH"}', "users.u.role", ["agent", "supervisor", "admin"]),
        ('{role: admin, password_hash: "HASH", pasword: x}', "users.u.pasword", ["unknown key"]),
    ],
)
def test_mistakes_are_reported_where_they_are(tmp_path: Path, entry: str, key: str, words: list[str]) -> None:
    found = problems(tmp_path, f"users:\n  u: {entry.replace('HASH', HASH)}\n")
    assert [p.key for p in found] == [key], found
    assert found[0].line == 9 and all(w in found[0].message for w in words), found[0].message


def test_a_user_name_follows_the_rule(tmp_path: Path) -> None:
    (found,) = problems(tmp_path, f'users:\n  "Sam Smith": {{role: admin, password_hash: "{HASH}"}}\n')
    assert found.key == "users.Sam Smith" and "user name" in found.message


def test_hash_password_reads_stdin_and_prints_an_argon2id_hash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("a long enough password\n"))
    assert main(["user", "hash-password", "--stdin"]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed.startswith("$argon2id$") and "a long enough password" not in printed
    assert verify_password(printed, "a long enough password")
    monkeypatch.setattr(sys, "stdin", io.StringIO("short\n"))
    assert main(["user", "hash-password", "--stdin"]) == 1


def test_new_token_prints_the_token_once_and_the_hash_to_configure(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "new-token", "website"]) == 0
    out, err = capsys.readouterr()
    token = out.strip()
    assert token.startswith("ccq_") and len(token) > 40
    assert f'"{hash_token(token)}"' in err and "users.website.tokens" in err
