"""A pair member's own address for its agent legs, and which spool folder an activation
writes to and takes over (ccqueue.standby)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccqueue.config.models import Agi, Ami, Asterisk, Config
from ccqueue.standby import own_agi_url, prepare_spool


def config(*, host: str = "127.0.0.1", port: int = 4574, addresses: tuple[str, ...] = ()) -> Config:
    ami = Ami(username="ccqueue", secret="s")  # type: ignore[arg-type]
    return Config(asterisk=Asterisk(ami=ami, agi=Agi(host=host, port=port, addresses=addresses)))


@pytest.mark.parametrize(
    ("host", "port", "addresses", "url"),
    [
        ("127.0.0.1", 4574, ("127.0.0.1:4573", "127.0.0.1:4574"), "agi://127.0.0.1:4574"),
        ("0.0.0.0", 4573, ("10.0.0.5:4573", "10.0.0.6:4573"), "agi://10.0.0.5:4573"),
        ("127.0.0.1", 4575, ("127.0.0.1:4573", "127.0.0.1:4574"), None),
        ("127.0.0.1", 4573, (), None),
    ],
)
def test_a_member_names_its_own_listed_address(host: str, port: int, addresses: tuple[str, ...], url: str | None) -> None:
    assert own_agi_url(config(host=host, port=port, addresses=addresses)) == url


@pytest.mark.parametrize("bad", ["4573", "host:", "host:99999", "a b:1", "h:1^x"])
def test_an_address_that_is_not_host_port_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"address|character"):
        config(addresses=(bad,))


def segment(folder: Path, n: int, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"segment-{n:012d}.jsonl").write_text(text)


def test_the_previous_epochs_records_are_taken_over_in_order(tmp_path: Path) -> None:
    segment(tmp_path / "epoch-4", 7, "first\n")
    segment(tmp_path / "epoch-4", 9, "second\n")
    target = prepare_spool(tmp_path, 5)
    assert target == tmp_path / "epoch-5"
    moved = sorted(target.iterdir())
    assert [p.read_text() for p in moved] == ["first\n", "second\n"]
    assert not list((tmp_path / "epoch-4").iterdir())


def test_an_older_epochs_records_are_fenced_and_left_where_they_are(tmp_path: Path) -> None:
    segment(tmp_path / "epoch-3", 1, "stale\n")
    target = prepare_spool(tmp_path, 5)
    assert list(target.iterdir()) == []
    assert (tmp_path / "epoch-3" / "segment-000000000001.jsonl").read_text() == "stale\n"
