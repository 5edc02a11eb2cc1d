"""The allowed-number patterns, written a second time for Asterisk's ``REGEX()``.

ccqueue checks a callback number with Python's ``re.fullmatch``; the dialplan guard
(``ccqueue.asterisk.guard``) checks it again with Asterisk's ``REGEX()``, which is a
POSIX extended regular expression (glibc's ``regcomp``). The two dialects agree on
little beyond the basics, so a pattern is translated only when its meaning cannot
change on the way.

Rules kept here:

1. The translation means the same as ``re.fullmatch`` over the strings the guard
   lets through at all: '+' and digits (E.164 numbers). It is anchored (``^(...)$``)
   so that an alternation cannot leave one branch unanchored.
2. Only what has one meaning in both is accepted: digits and '+', ``\\d``, ``.``,
   character classes of digits and '+', groups (``(...)``, ``(?:...)``,
   ``(?P<name>...)``), ``|``, the quantifiers ``* + ? {m} {m,} {m,n} {,n}`` (lazy ones
   too: over a whole-string match laziness changes nothing), ``^``/``\\A`` first and
   ``$``/``\\Z`` last. Everything else (look-arounds, back-references, atomic groups,
   possessive quantifiers, flags, ``\\w``, ``\\s``, ``\\b``, letters) is refused with a
   message naming it: it either has no POSIX form or could never match a number.
3. The output is written with classes only, never a backslash, a quote, ``;`` or
   ``$`` inside (the dialplan and Asterisk's argument parser eat backslashes and
   stop at quotes), so it can be pasted between double quotes in the dialplan.
   ``.`` becomes ``[+0-9]``; every class is spelled out over '+' and the digits.
4. A repeat count is at most ``MAX_REPEAT``: POSIX promises no more (RE_DUP_MAX).
"""

from __future__ import annotations

import re
from typing import NoReturn

from ccqueue.core.errors import InputError

__all__ = ["MAX_REPEAT", "NUMBER_CHARS", "PatternNotPortable", "to_posix"]

# POSIX guarantees RE_DUP_MAX >= 255 (glibc allows 32767); an E.164 number has 16 characters.
MAX_REPEAT = 255
# Every character an E.164 number may have.
NUMBER_CHARS = frozenset("+0123456789")
_DIGITS = frozenset("0123456789")


class PatternNotPortable(InputError, ValueError):
    """A pattern that the dialplan guard could not check with the same meaning."""

    error_id = "pattern-not-portable"


def to_posix(pattern: str) -> str:
    """``pattern`` (a Python regex over E.164 numbers) as an anchored POSIX ERE.

    Raises ``PatternNotPortable`` with what cannot be translated, or ``re.error`` when
    the pattern is not a Python regular expression at all.
    """
    re.compile(pattern)
    return f"^({_Translator(pattern).translate()})$"


class _Translator:
    """A recursive-descent reader of the accepted subset (rule 2), writing ERE as it goes."""

    def __init__(self, pattern: str) -> None:
        self.text = pattern
        self.pos = 0
        self.end = len(pattern)
        self.mark = 0  # where the construct being read began: errors point there

    def translate(self) -> str:
        text = self.text
        if text.startswith("^"):
            self.pos = 1
        elif text.startswith("\\A"):
            self.pos = 2
        end = len(text)
        if text.endswith("\\Z") and not _escaped_at(text, end - 2):
            end -= 2
        elif text.endswith("$") and not _escaped_at(text, end - 1):
            end -= 1
        self.end = end
        out = self._alternation()
        if self.pos != self.end:  # only a stray ')' stops the reader early, and re.compile refused that
            self._refuse(f"unexpected {self.text[self.pos]!r}")
        return out

    # alternation := sequence ('|' sequence)*
    def _alternation(self) -> str:
        branches = [self._sequence()]
        while self._peek() == "|":
            self.pos += 1
            branches.append(self._sequence())
        return "|".join(branches)

    # sequence := (atom quantifier?)+
    def _sequence(self) -> str:
        start = self.pos
        parts: list[str] = []
        while self.pos < self.end and self._peek() not in "|)":
            self.mark = self.pos
            atom = self._atom()
            self.mark = self.pos
            parts.append(atom + self._quantifier())
        if not parts:
            self.mark = start
            if self._peek() == "|" or (start > 0 and self.text[start - 1] == "|"):
                self._refuse("an empty alternative (POSIX leaves it undefined)")
            self._refuse("an empty group (POSIX leaves it undefined)" if self._peek() == ")" else "an empty pattern")
        return "".join(parts)

    def _atom(self) -> str:
        ch = self.text[self.pos]
        if ch == "(":
            return self._group()
        if ch == "[":
            return self._class()
        if ch == ".":
            self.pos += 1
            return _class_text(NUMBER_CHARS)
        if ch == "\\":
            return _class_text(self._escape(in_class=False))
        if ch in "^$":
            self._refuse(f"{ch!r} anywhere but at the very start or end")
        if ch in "*+?{":
            self._refuse(f"a quantifier {ch!r} with nothing to repeat")
        self.pos += 1
        return _class_text(self._literal(ch))

    def _group(self) -> str:
        self.pos += 1
        if self.text.startswith("?:", self.pos):
            self.pos += 2
        elif self.text.startswith("?P<", self.pos):
            close = self.text.index(">", self.pos)
            self.pos = close + 1
        elif self._peek() == "?":
            kind = {
                "?=": "a look-ahead",
                "?!": "a look-ahead",
                "?<=": "a look-behind",
                "?<!": "a look-behind",
                "?P=": "a back-reference",
                "?(": "a conditional group",
                "?>": "an atomic group",
                "?#": "a comment",
            }
            for opener, name in kind.items():
                if self.text.startswith(opener, self.pos):
                    self._refuse(f"{name} ('({opener}')", "spell what is allowed out with classes and '|'")
            self._refuse("an inline flag ('(?...)')")
        inner = self._alternation()
        if self._peek() != ")":  # pragma: no cover - re.compile refused it already
            self._refuse("a group that is not closed")
        self.pos += 1
        return f"({inner})"

    def _class(self) -> str:
        self.pos += 1
        negated = self._peek() == "^"
        if negated:
            self.pos += 1
        chars: set[str] = set()
        first = True
        while True:
            ch = self._peek()
            self.mark = self.pos
            if ch == "]" and not first:
                self.pos += 1
                break
            first = False
            if ch == "[":
                self._refuse("'[' inside a class (a POSIX class such as [:digit:] reads differently in Python)")
            low = self._class_member()
            if self._peek() == "-" and self.text[self.pos + 1 : self.pos + 2] not in ("]", ""):
                self.pos += 1
                high = self._class_member()
                if len(low) != 1 or len(high) != 1:
                    self._refuse("a range between classes")
                (a,), (b,) = low, high
                if not ({a, b} <= _DIGITS):
                    self._refuse(f"the range {a}-{b} (a range may only run between digits)")
                chars |= {d for d in _DIGITS if a <= d <= b}
            else:
                chars |= low
        if negated:
            chars = set(NUMBER_CHARS) - chars
        if not chars:
            self._refuse("a class that no number's character can match")
        return _class_text(frozenset(chars))

    def _class_member(self) -> set[str]:
        ch = self.text[self.pos]
        if ch == "\\":
            return set(self._escape(in_class=True))
        self.pos += 1
        if ch == "-":
            self._refuse("'-' in a class (no number has one)")
        return set(self._literal(ch))

    def _escape(self, *, in_class: bool) -> frozenset[str]:
        nxt = self.text[self.pos + 1 : self.pos + 2]
        self.pos += 2
        if nxt == "d":
            return _DIGITS
        if nxt == "D":
            return frozenset("+")
        if nxt == "+":
            return frozenset("+")
        if nxt.isdigit():
            self._refuse(f"'\\{nxt}' (a back-reference or an octal escape)")
        known = {
            "w": "a word character",
            "W": "a non-word character",
            "s": "white space",
            "S": "non-space",
            "b": "a word boundary",
            "B": "a non-boundary",
            "A": "a start anchor",
            "Z": "an end anchor",
        }
        name = known.get(nxt, "an escape")
        self._refuse(f"'\\{nxt}' ({name}{' in a class' if in_class else ''})", "use \\d, [0-9] or \\+")

    def _literal(self, ch: str) -> frozenset[str]:
        if ch not in NUMBER_CHARS:
            self._refuse(f"{ch!r}, which no number has (only '+' and digits)")
        return frozenset(ch)

    _QUANTIFIER = re.compile(r"\{(\d*)(,(\d*))?\}")

    def _quantifier(self) -> str:
        ch = self._peek()
        if ch in ("*", "+", "?"):
            self.pos += 1
            out = ch
        elif ch == "{":
            found = self._QUANTIFIER.match(self.text, self.pos)
            if found is None or found.group(0) == "{}":
                self._refuse("a '{' that is not a repeat count (Python reads it as a letter)")
            assert found is not None
            low, comma, high = found.group(1), found.group(2), found.group(3)
            low_n = int(low or 0)
            high_n = int(high) if high else None
            for n in (low_n, high_n):
                if n is not None and n > MAX_REPEAT:
                    self._refuse(f"a repeat count of {n} (POSIX promises at most {MAX_REPEAT})")
            self.pos = found.end()
            out = f"{{{low_n}}}" if not comma else f"{{{low_n},{'' if high_n is None else high_n}}}"
        else:
            return ""
        after = self._peek()
        if after == "?":
            self.pos += 1  # lazy: the same whole-string matches as greedy
        elif after == "+":
            self._refuse("a possessive quantifier ('+' after a quantifier)")
        if self._peek() in ("*", "+", "?", "{"):  # re.compile refuses most of these already
            self._refuse("a quantifier right after another")
        return out

    def _peek(self) -> str:
        return self.text[self.pos] if self.pos < self.end else ""

    def _refuse(self, what: str, hint: str = "") -> NoReturn:
        message = (
            f"{what}, at character {self.mark + 1}: the dialplan guard checks numbers with Asterisk's "
            "REGEX() (POSIX), which cannot say the same"
        )
        raise PatternNotPortable(f"{message}; {hint}" if hint else message)


def _escaped_at(text: str, index: int) -> bool:
    """Whether the character at ``index`` is escaped (an odd run of backslashes before it)."""
    run = 0
    while index - run - 1 >= 0 and text[index - run - 1] == "\\":
        run += 1
    return run % 2 == 1


def _class_text(chars: frozenset[str]) -> str:
    """``chars`` (a subset of NUMBER_CHARS) in ERE: a digit alone, else a class of '+' and digit runs."""
    if len(chars) == 1 and chars <= _DIGITS:
        return next(iter(chars))
    digits = sorted(chars & _DIGITS)
    runs: list[str] = []
    i = 0
    while i < len(digits):
        j = i
        while j + 1 < len(digits) and int(digits[j + 1]) == int(digits[j]) + 1:
            j += 1
        runs.append(digits[i] if i == j else f"{digits[i]}{digits[j]}" if j == i + 1 else f"{digits[i]}-{digits[j]}")
        i = j + 1
    return "[" + ("+" if "+" in chars else "") + "".join(runs) + "]"
