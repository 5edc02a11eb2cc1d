"""What is wrong with a configuration, said so an administrator can fix it.

Rules kept here:

- A `Problem` names the file, the line (1-based; ``None`` only when the issue is
  the whole file or a section no file has), the dotted key path and a message.
- `ConfigError` carries every problem found, not just the first: an administrator
  fixes a whole file in one pass.
- Messages never repeat a secret's value (callers decide what is secret; the
  helpers here only describe what they are given).
- A `Collector` remembers which key paths already have a problem, so a later
  stage does not report the same value again in other words.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ccqueue.core.errors import InputError

# Where a value sits in the YAML: keys and list indexes from the top.
KeyPath = tuple[str | int, ...]


class Locations(Protocol):
    """Where each key path was read (``yamlfile.LocationMap``)."""

    def find(self, path: KeyPath, *, at_key: bool = False) -> tuple[str, int | None]: ...


__all__ = ["Collector", "ConfigError", "Problem", "closest", "describe_value", "did_you_mean", "dotted"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with the configuration, at one place."""

    file: str
    line: int | None
    key: str
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        if self.key:
            return f"{where}: {self.key}: {self.message}"
        return f"{where}: {self.message}"


class ConfigError(InputError):
    """The configuration cannot be used; `problems` lists every reason."""

    error_id = "config-invalid"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__(self.problems)

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)


def closest(word: str, known: Iterable[str]) -> str | None:
    """The known word `word` was most likely meant to be, if any is close.

    Close means similar spelling (difflib's ratio of at least 0.6), or a known
    word that `word` begins (``moh`` for ``moh_class``).
    """
    candidates = list(known)
    close = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if close:
        return close[0]
    if len(word) >= 3:
        for candidate in candidates:
            if candidate.startswith(word):
                return candidate
    return None


def did_you_mean(word: str, known: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` when a known word is close to `word`, else ``""``."""
    suggestion = closest(word, known)
    return f"; did you mean '{suggestion}'?" if suggestion else ""


# Long values are cut so one bad line cannot flood a report; 60 characters keep
# a typical DSN or file name readable.
_MAX_SHOWN = 60


def describe_value(value: object, *, reveal: bool = True) -> str:
    """Name what YAML produced, in the words an administrator wrote it with."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}" if reveal else "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    kind = {str: "string", int: "integer", float: "number"}.get(type(value), type(value).__name__)
    if not reveal:
        return f"a {kind}" if kind[0] not in "aeiou" else f"an {kind}"
    shown = repr(value)
    if len(shown) > _MAX_SHOWN:
        shown = shown[: _MAX_SHOWN - 3] + "..."
    return f"the {kind} {shown}"


def dotted(path: KeyPath) -> str:
    """``("queues", "support", "wrapup_s")`` -> ``"queues.support.wrapup_s"``."""
    return ".".join(str(part) for part in path)


class Collector:
    """Problems found so far, placed by key path through a `LocationMap`."""

    def __init__(self, locations: Locations) -> None:
        self.locations = locations
        self.problems: list[Problem] = []
        self._reported: set[KeyPath] = set()

    def add(self, path: KeyPath, message: str, *, at: KeyPath | None = None, at_key: bool = False) -> None:
        """Report `message` for `path`, placed at the line of `at` (default: `path` itself).

        `at_key` places it on the line of the key rather than of the value, which
        differ for a block mapping (``ami:`` on one line, its entries below).
        """
        file, line = self.locations.find(path if at is None else at, at_key=at_key)
        self.problems.append(Problem(file, line, dotted(path), message))
        self._reported.add(path)

    def mark_reported(self, path: KeyPath) -> None:
        self._reported.add(path)

    def is_reported(self, path: KeyPath) -> bool:
        """True when `path` or one of its parents already has a problem."""
        return any(path[:end] in self._reported for end in range(1, len(path) + 1))
