"""The caller dialogue over FastAGI, against the scripted Asterisk peer of test_ivr_runner."""

from __future__ import annotations

from typing import Any

import pytest
from panoramisk.fast_agi import Request
from panoramisk.utils import parse_agi_result

from ccqueue.asterisk.dialogue_player import DialoguePlayer, _gone, converse
from ccqueue.core import dialogue as dlg
from tests.support.fakes import DEAD, HANGUP, FakeAsterisk
from tests.support.fakes import agi_session as session


def normalise(raw: str) -> str | None:
    digits = raw.lstrip("+")
    return f"+{digits}" if digits.isdigit() and len(digits) >= 5 else None


async def callback_dialog(peer: FakeAsterisk, own: str) -> dlg.NumberChosen:
    chosen: list[dlg.NumberChosen] = []

    async def script(request: Request) -> None:
        chosen.append(await converse(DialoguePlayer(request), dlg.CallbackNumberDialog(own=own, normalise=normalise)))

    await session(peer, script)
    return chosen[0]


async def test_own_number_read_back_and_confirmed() -> None:
    peer = FakeAsterisk(replies={"GET DATA ccqueue/callback-confirm-keys": "200 result=1"})
    assert await callback_dialog(peer, "+4930123") == dlg.NumberChosen(number="+4930123")
    assert peer.commands == [
        'STREAM FILE ccqueue/callback-offer ""',
        'SAY DIGITS 4930123 ""',
        "GET DATA ccqueue/callback-confirm-keys 6000 1",
    ]


async def test_another_number_keyed() -> None:
    peer = FakeAsterisk(replies={"GET DATA ccqueue/callback-confirm-keys": "200 result=2",
                                 "GET DATA ccqueue/callback-enter": "200 result=4940555"})  # fmt: skip
    assert await callback_dialog(peer, "+4930123") == dlg.NumberChosen(number="+4940555")
    assert peer.commands[-1] == "GET DATA ccqueue/callback-enter 15000 16"


async def test_a_keyed_number_that_is_not_one_is_answered_with_a_prompt() -> None:
    peer = FakeAsterisk(replies={"GET DATA ccqueue/callback-enter": "200 result=12 (timeout)"})
    assert await callback_dialog(peer, "") == dlg.NumberChosen(number=None)
    assert peer.commands == ["GET DATA ccqueue/callback-enter 15000 16", 'STREAM FILE ccqueue/callback-invalid ""']


async def test_nothing_keyed_in_time() -> None:
    peer = FakeAsterisk(replies={"GET DATA ccqueue/callback-enter": "200 result= (timeout)"})
    assert await callback_dialog(peer, "") == dlg.NumberChosen(number=None)


@pytest.mark.parametrize("on", ["STREAM FILE", "SAY DIGITS", "GET DATA"])
async def test_a_caller_who_hangs_up_mid_dialog_has_left(on: str) -> None:
    peer = FakeAsterisk(hang_up_on=on)
    assert await callback_dialog(peer, "+4930123") == dlg.NumberChosen(number=None, caller_left=True)
    assert peer.commands[-1].startswith(on)


async def perform(peer: FakeAsterisk, *actions: dlg.Action) -> tuple[list[dlg.Result], DialoguePlayer]:
    results: list[dlg.Result] = []
    players: list[DialoguePlayer] = []

    async def script(request: Request) -> None:
        player = DialoguePlayer(request)
        players.append(player)
        for action in actions:
            results.append(await player.perform(action))

    await session(peer, script)
    return results, players[0]


async def test_hold_and_listen_keep_the_music_until_a_prompt() -> None:
    peer = FakeAsterisk(["5"])
    results, player = await perform(peer, dlg.Hold(moh_class="default"), dlg.Listen(timeout_s=2.0),
                                    dlg.Listen(timeout_s=2.0))  # fmt: skip
    assert peer.commands == ["SET MUSIC ON default", "WAIT FOR DIGIT 2000", "WAIT FOR DIGIT 2000"]
    assert results == [dlg.Heard(), dlg.Pressed("5"), dlg.TimedOut()]
    assert player.music_on
    _, player = await perform(FakeAsterisk(), dlg.Hold(moh_class="default"), dlg.Play(prompts=("x",)))
    assert not player.music_on


async def test_a_key_in_interruptible_by_stops_the_prompts() -> None:
    peer = FakeAsterisk(["5"])
    results, _ = await perform(peer, dlg.Play(prompts=("a", "b"), interruptible_by="5"),
                               dlg.Say(format=dlg.SayFormat.NUMBER, value="3", interruptible_by="5"))  # fmt: skip
    assert peer.commands == ['STREAM FILE a "5"', 'SAY NUMBER 3 "5"']
    assert results == [dlg.Pressed("5"), dlg.Heard()]


async def test_a_missing_sound_is_skipped_and_the_next_command_tells_a_hang_up() -> None:
    peer = FakeAsterisk(replies={"STREAM FILE missing": "200 result=-1 endpos=0"})
    results, _ = await perform(peer, dlg.Play(prompts=("missing", "there")))
    assert peer.commands == ['STREAM FILE missing ""', 'STREAM FILE there ""'] and results == [dlg.Heard()]
    peer = FakeAsterisk(replies={"STREAM FILE missing": "200 result=-1 endpos=0", "WAIT FOR DIGIT": DEAD})
    results, _ = await perform(peer, dlg.Play(prompts=("missing",)), dlg.Listen(timeout_s=2.0))
    assert results[0] == dlg.Heard() and isinstance(results[1], dlg.Gone)


async def test_record_transfer_and_hangup_commands() -> None:
    peer = FakeAsterisk(replies={"GET VARIABLE DIALSTATUS": "200 result=1 (BUSY)"})
    results, _ = await perform(
        peer, dlg.Record(path="/m/c1", max_s=30.0), dlg.Record(path="/m/c2", max_s=120.0, beep=False),
        dlg.Transfer(to="2001", context="ccqueue-transfer", ring_s=60), dlg.SetLanguage(language="ru"), dlg.Hangup(),
    )  # fmt: skip
    assert peer.commands == [
        'RECORD FILE /m/c1 wav "#" 30000 0 BEEP s=5',
        'RECORD FILE /m/c2 wav "#" 120000 s=5',
        "EXEC Dial Local/2001@ccqueue-transfer,60",
        "GET VARIABLE DIALSTATUS",
        "SET VARIABLE CHANNEL(language) ru",
        "HANGUP",
    ]
    assert results == [dlg.Heard(), dlg.Heard(), dlg.Dialled("BUSY"), dlg.Heard(), dlg.Heard()]


GONE_CASES: dict[str, tuple[str, str, bool]] = {
    "hang-up while playing": ("STREAM FILE x \"\"", HANGUP, True),
    "hang-up reported in the data": ("RECORD FILE /m/c wav \"#\" 1000 s=5", "200 result=-1 (hangup) endpos=100", True),
    "dead channel": ("SET MUSIC ON default", DEAD, True),
    "bridged away from a hold segment": ("WAIT FOR DIGIT 2000", "200 result=-1", True),
    "bridged away from GET DATA": ("GET DATA x 6000 1", "200 result=-1", True),
    "a missing sound": ("STREAM FILE x \"\"", "200 result=-1 endpos=0", False),
    "a number that cannot be said": ("SAY NUMBER 1 \"\"", "200 result=-1", False),
    "an unwritable recording": ("RECORD FILE /m/c wav \"#\" 1000 s=5", "200 result=-1 (writefile)", False),
    "a key": ("WAIT FOR DIGIT 2000", "200 result=49", False),
}  # fmt: skip


@pytest.mark.parametrize(("command", "answer", "gone"), GONE_CASES.values(), ids=GONE_CASES.keys())
def test_when_the_caller_has_left(command: str, answer: str, gone: bool) -> None:
    result: dict[str, Any] = parse_agi_result(answer)
    assert (_gone(command, result) is not None) is gone
