"""The caller dialogs as pure machines: the callback-number dialog and the survey."""

from __future__ import annotations

import pytest

from ccqueue.core import dialogue as dlg
from ccqueue.core.dialogue import (
    CallbackNumberDialog,
    Collect,
    DialogueError,
    Gone,
    Heard,
    NumberChosen,
    Play,
    Pressed,
    Say,
    SayFormat,
    SurveyDialog,
    SurveyDone,
    TimedOut,
)

OFFER = Play(prompts=("ccqueue/callback-offer",))
READ_BACK = Say(format=SayFormat.DIGITS, value="4930123")
CHOICE = Collect(prompts=("ccqueue/callback-confirm-keys",), timeout_s=6.0, max_digits=1, per_key=False)
ENTER = Collect(prompts=("ccqueue/callback-enter",), timeout_s=15.0, max_digits=16, per_key=False)
INVALID = Play(prompts=("ccqueue/callback-invalid",))


def normalise(raw: str) -> str | None:
    """Numbers of 5 to 15 digits, kept with a '+'."""
    digits = raw.lstrip("+")
    return f"+{digits}" if digits.isdigit() and 5 <= len(digits) <= 15 else None


def run(dialog: CallbackNumberDialog | SurveyDialog, *results: dlg.Result) -> tuple[list[object], object]:
    """Feed ``results`` in turn; the actions asked and the outcome (None: still asking)."""
    asked: list[object] = []
    step = dialog.start()
    for result in results:
        assert isinstance(step, dlg.ACTIONS), f"{result} fed after the outcome {step}"
        asked.append(step)
        step = dialog.feed(result)
    if isinstance(step, dlg.ACTIONS):
        asked.append(step)
        return asked, None
    return asked, step


CALLBACK_CASES = {
    "own number confirmed": ("+4930123", [Heard(), Heard(), Pressed("1")], [OFFER, READ_BACK, CHOICE], "+4930123"),
    "another number keyed": ("+4930123", [Heard(), Heard(), Pressed("2"), Pressed("4940555")],
                             [OFFER, READ_BACK, CHOICE, ENTER], "+4940555"),
    "no choice in time": ("+4930123", [Heard(), Heard(), TimedOut()], [OFFER, READ_BACK, CHOICE], None),
    "a key that is neither": ("+4930123", [Heard(), Heard(), Pressed("7")], [OFFER, READ_BACK, CHOICE], None),
    "a key pressed over the read-back": ("+4930123", [Heard(), Pressed("1"), Pressed("1")],
                                         [OFFER, READ_BACK, CHOICE], "+4930123"),
    "withheld: keyed": ("", [Pressed("4940555")], [ENTER], "+4940555"),
    "own number not one we call: keyed": ("12", [Pressed("4940555")], [ENTER], "+4940555"),
    "withheld: nothing keyed": ("", [TimedOut()], [ENTER], None),
    "keyed number invalid": ("", [Pressed("12"), Heard()], [ENTER, INVALID], None),
    "keyed with a star": ("", [Pressed("49*40"), Heard()], [ENTER, INVALID], None),
}  # fmt: skip


@pytest.mark.parametrize(("own", "results", "asked", "number"), CALLBACK_CASES.values(), ids=CALLBACK_CASES.keys())
def test_callback_number_dialog(own: str, results: list[dlg.Result], asked: list[object], number: str | None) -> None:
    got, outcome = run(CallbackNumberDialog(own=own, normalise=normalise), *results)
    assert got == asked
    assert outcome == NumberChosen(number=number)


@pytest.mark.parametrize("at", range(4))
def test_a_caller_who_leaves_the_callback_dialog_chooses_nothing(at: int) -> None:
    results: list[dlg.Result] = [Heard(), Heard(), Pressed("2"), Pressed("4940555")]
    results[at] = Gone("hangup")
    _, outcome = run(CallbackNumberDialog(own="+4930123", normalise=normalise), *results[: at + 1])
    assert outcome == NumberChosen(number=None, caller_left=True)


def test_a_result_the_callback_dialog_did_not_ask_for_is_refused_and_changes_nothing() -> None:
    dialog = CallbackNumberDialog(own="+4930123", normalise=normalise)
    with pytest.raises(DialogueError, match="not started"):
        dialog.feed(Heard())
    assert dialog.start() == OFFER
    with pytest.raises(DialogueError, match="TimedOut does not answer Play"):
        dialog.feed(TimedOut())
    assert dialog.feed(Heard()) == READ_BACK
    with pytest.raises(DialogueError, match="already started"):
        dialog.start()


RATE = Collect(prompts=("ccqueue/survey-rate",), timeout_s=5.0, max_digits=1, terminator="#")
RECOMMEND = Collect(prompts=("ccqueue/survey-recommend",), timeout_s=5.0, max_digits=2, terminator="#")
THANKS = Play(prompts=("ccqueue/survey-thanks",))

SURVEY_CASES = {
    "both answered": ([Pressed("4"), Pressed("10"), Heard()], [RATE, RECOMMEND, THANKS], (4, 10)),
    "out of range, then in": ([Pressed("7"), Pressed("5"), Pressed("0"), Heard()], [RATE, RATE, RECOMMEND, THANKS],
                              (5, 0)),
    "asked twice, then left": ([TimedOut(), Pressed("9"), Pressed("11"), TimedOut(), Heard()],
                               [RATE, RATE, RECOMMEND, RECOMMEND, THANKS], (None, None)),
    "hung up after the first": ([Pressed("3"), Gone("hangup")], [RATE, RECOMMEND], (3, None)),
    "hung up at once": ([Gone("hangup")], [RATE], (None, None)),
    "hung up over the thanks": ([Pressed("1"), Pressed("7"), Gone()], [RATE, RECOMMEND, THANKS], (1, 7)),
}  # fmt: skip


@pytest.mark.parametrize(("results", "asked", "answers"), SURVEY_CASES.values(), ids=SURVEY_CASES.keys())
def test_survey_dialog(results: list[dlg.Result], asked: list[object], answers: tuple[int | None, int | None]) -> None:
    got, outcome = run(SurveyDialog(), *results)
    assert got == asked
    assert outcome == SurveyDone(rating=answers[0], recommend=answers[1])


def test_every_action_has_its_answers() -> None:
    assert dlg.answers(Gone(), dlg.Hangup())
    assert dlg.answers(Pressed("1"), RATE) and dlg.answers(TimedOut(), RATE) and not dlg.answers(Heard(), RATE)
    assert dlg.answers(dlg.Dialled("ANSWER"), dlg.Transfer(to="2001", context="x", ring_s=60))
    assert not dlg.answers(TimedOut(), dlg.Hold(moh_class="default"))


def test_a_collect_checks_itself() -> None:
    with pytest.raises(ValueError, match="max_digits"):
        Collect(prompts=("x",), timeout_s=5.0, max_digits=0)
    with pytest.raises(ValueError, match="exactly one prompt"):
        Collect(prompts=("x", "y"), timeout_s=5.0, max_digits=1, per_key=False)
