"""The sandbox's stand-in public telephone network: test numbers that behave the same way every time.

The network is the dialplan context ``[standin-pstn]`` (``dialplan/standin-pstn.conf``,
installed with the rest of the dialplan by ``deploy/asterisk/sandbox.sh``). A trunk
points at it with ``dial: "Local/{digits}@standin-pstn"`` (``STANDIN_DIAL``); nothing
dialled there leaves the sandbox's Asterisk.

Number scheme: ``+1 202 555 0TNN`` (phonenumbers takes these as valid numbers of
Washington DC, time zone America/New_York), where T is the kind of line and NN two
digits the test chooses. ``+1 555 000 TNN`` reaches the same lines (an older prefix;
phonenumbers does not take it as a valid number, so a CSV import refuses it).

====  ================================================================================
T     the line
====  ================================================================================
1NN   a person: rings NN s, answers, says "hello" (0.5 s of voice in a 1.3 s file),
      stays silent, hangs up after 60 s. AMD() says HUMAN.
2NN   busy after ringing NN s: the Originate ends with Reason 5.
3NN   rings and never answers (gives up after 300 s): the Originate's Timeout ends it,
      Reason 3.
4NN   an answering machine: rings NN s, answers, plays a 15 s greeting, a beep, then
      "records": WaitForNoise() on its own channel (``WAITSTATUS=NOISE`` once a message
      starts, within 60 s), then 30 s more and it hangs up. AMD() says MACHINE.
5NN   answers after NN s, starts the machine's greeting and hangs up 1 s into it, before
      AMD() can decide: AMDSTATUS=HANGUP.
6ND   a person pressing a key: rings N s, answers, says "hello", presses D (DTMF) 5 s
      after answering (when a broadcast message has started), then stays silent for 60 s.
====  ================================================================================

Any other number dialled into ``[standin-pstn]`` is congestion (Reason 8).
"""

from __future__ import annotations

__all__ = [
    "STANDIN_ALLOWED",
    "STANDIN_CONTEXT",
    "STANDIN_DIAL",
    "busy",
    "hangs_up_in_greeting",
    "machine",
    "no_answer",
    "person",
    "presses",
]

STANDIN_CONTEXT = "standin-pstn"
# The trunk's dial string (outbound.dial, callbacks.dial) that reaches the network.
STANDIN_DIAL = f"Local/{{digits}}@{STANDIN_CONTEXT}"
# ``allowed`` patterns that let every stand-in number through and nothing else.
STANDIN_ALLOWED = (r"\+12025550[1-6]\d{2}", r"\+1555000[1-6]\d{2}")

_PREFIX = "+12025550"
_KEYS = "0123456789"


def _line(kind: int, nn: int) -> str:
    if not 0 <= nn <= 99:
        raise ValueError(f"two digits expected, not {nn}")
    return f"{_PREFIX}{kind}{nn:02d}"


def person(ring_s: int = 0) -> str:
    """A person who answers after ``ring_s`` seconds and says "hello"."""
    return _line(1, ring_s)


def busy(ring_s: int = 0) -> str:
    """Busy after ringing ``ring_s`` seconds."""
    return _line(2, ring_s)


def no_answer() -> str:
    """Rings and never answers."""
    return _line(3, 0)


def machine(ring_s: int = 0) -> str:
    """An answering machine: greeting, beep, silence."""
    return _line(4, ring_s)


def hangs_up_in_greeting(ring_s: int = 0) -> str:
    """Answers, and hangs up 1 s into its greeting."""
    return _line(5, ring_s)


def presses(key: str, ring_s: int = 0) -> str:
    """A person who presses ``key`` (a digit) 5 s after answering."""
    if len(key) != 1 or key not in _KEYS:
        raise ValueError(f"the stand-in network's callers press a digit, not {key!r}")
    if not 0 <= ring_s <= 9:
        raise ValueError(f"a key-pressing line rings 0 to 9 s, not {ring_s}")
    return _line(6, ring_s * 10 + int(key))
