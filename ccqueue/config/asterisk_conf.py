"""Asterisk ``.conf`` text into plain sections: what the file says, setting by setting.

Rules kept here:

- Lines are read as Asterisk reads them: ``;`` ends a line, ``\\;`` is a semicolon,
  ``;--`` opens a block comment and ``--;`` closes one (they nest).
  ``#include`` and ``#tryinclude`` are followed relative to the including file
  (a pattern matches its files in name order), at most ten deep and never into a
  file being read; ``#exec`` is not run.
- Templates are resolved as Asterisk resolves them: a section starts with copies of
  its bases' settings, in the order the bases are listed, followed by its own;
  ``(!)`` marks a template, ``(+)`` adds to a section defined before it. Every value
  is kept in order: which one counts is for the caller to say.
- Nothing is dropped silently: what is not read (an ``#exec``, an unknown directive,
  an ``#include`` that cannot be read, a header that cannot be read, a line without
  ``=`` or before any section, a section defined twice, an unknown base) is a `Note`
  with file and line, and reading goes on. A file that is not UTF-8 is read as
  Latin-1, with a note.
- Every entry keeps where it was written (``file:line``) and the template it came
  from. Option names are in lower case, values stripped.
- Nothing here knows about ccqueue: the sections are Asterisk's, whatever the file
  configures.

pyst2's ``asterisk.config`` (0.5) groups lines into categories and splits
``name = value`` and ``name => value`` items, keeping line numbers; that is what it
is used for here. It does not handle template headers (``[name](!)``,
``[name](base)``, ``[name](+)``) nor ``#include``/``#tryinclude``/``#exec`` (each
raises ``ParseError``, which ends the parse), nor block comments (``;-- --;``),
escaped semicolons (``\\;``) or lines without ``=``; it reads only from a file name
and keeps the blank after ``=``. So this module prepares the lines first (comments,
directives, headers, bad lines become notes) and resolves template inheritance
itself.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asterisk.config  # type: ignore[import-untyped]  # pyst2 ships no type information

__all__ = ["ConfFile", "Entry", "Note", "Section", "parse"]

# Includes nest at most this deep (Asterisk itself stops runaway includes too).
_MAX_INCLUDE_DEPTH = 10

_ESCAPED_SEMICOLON = "\ue000"  # stands in for ``\;`` while pyst2 splits comments off
_IGNORED_SECTION = "\ue001ignored"  # lines under a header that could not be read


@dataclass(frozen=True, slots=True)
class Note:
    """Something in the file that could not be read as it stands."""

    where: str  # "queues.conf:12", or the file alone
    subject: str  # "file", "[support]"
    text: str

    def __str__(self) -> str:
        return f"{self.where}: {self.subject}: {self.text}"


@dataclass
class Entry:
    """One ``name = value`` (or ``name => value``) line of a section."""

    option: str  # lower case: app_queue compares option names without case
    value: str
    where: str
    template: str | None = None  # the base section it was inherited from


@dataclass
class Section:
    """A ``[name]`` and its entries: its bases' first, in the order listed, then its own."""

    name: str
    where: str
    template: bool
    entries: list[Entry]


@dataclass(frozen=True, slots=True)
class ConfFile:
    """A file read, its includes with it."""

    origin: str  # the main file's name, as the notes show it
    sections: list[Section]  # in file order, templates included (marked)
    notes: list[Note]  # in the order they were met


def parse(source: str | bytes, *, origin: str, include_dir: Path | None) -> ConfFile:
    """The sections of a ``.conf`` file's text (or bytes, read as UTF-8, else Latin-1).

    `origin` names the file in notes; its relative ``#include``s resolve in
    `include_dir`, and are not followed without one. Included files are named
    relative to `include_dir`.
    """
    notes: list[Note] = []
    text = _decode(source, notes, origin) if isinstance(source, bytes) else source
    lines = _Reader(notes, include_dir).lines(text, origin, include_dir, depth=0)
    return ConfFile(origin, _sections(lines, notes), notes)


@dataclass(frozen=True, slots=True)
class _Line:
    where: str  # "file:line"
    text: str  # comments removed; ``\;`` kept as _ESCAPED_SEMICOLON


_HEADER = re.compile(r"\[(?P<name>[^\[\]]*)\]\s*(?:\((?P<options>[^()]*)\))?")
_DIRECTIVE = re.compile(r"#\s*(?P<kind>include|tryinclude|exec)\b\s*(?P<arg>.*)", re.IGNORECASE)


def _read_text(path: Path, notes: list[Note], *, shown: str) -> str | None:
    """The file's text, or None when it cannot be read."""
    try:
        return _decode(path.read_bytes(), notes, shown)
    except OSError:
        return None


def _decode(data: bytes, notes: list[Note], shown: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        notes.append(Note(shown, "file", "not UTF-8; read as Latin-1 (check names with accents)"))
        return data.decode("latin-1")


class _Reader:
    """Lines of a file and its includes, with comments gone and headers plain."""

    def __init__(self, notes: list[Note], home: Path | None) -> None:
        self.notes = notes
        self.home = home  # the main file's folder; included files are named relative to it
        self._open: list[str] = []  # files being read (as shown), to refuse include cycles

    def lines(self, text: str, shown: str, base: Path | None, *, depth: int) -> list[_Line]:
        out: list[_Line] = []
        self._open.append(shown)
        level = 0  # nesting of ;-- --; block comments
        for number, raw in enumerate(text.splitlines(), 1):
            line, level = _uncomment(raw, level)
            line = line.strip()
            if not line:
                continue
            where = f"{shown}:{number}"
            if line.startswith("#"):
                out.extend(self._directive(line, where, base, depth))
            else:
                out.append(_Line(where, line))
        self._open.pop()
        return out

    def _directive(self, line: str, where: str, base: Path | None, depth: int) -> list[_Line]:
        match = _DIRECTIVE.fullmatch(line)
        if match is None:
            self.notes.append(Note(where, "file", f"'{line}' is not a directive Asterisk knows; ignored"))
            return []
        kind, arg = match["kind"].lower(), match["arg"].strip().strip('"<>').strip()
        if kind == "exec":
            self.notes.append(Note(where, "file", f"#exec {arg}: not run; add what it printed by hand"))
            return []
        if not arg:
            self.notes.append(Note(where, "file", f"#{kind} without a file name; ignored"))
            return []
        if not os.path.isabs(arg) and base is None:
            self.notes.append(Note(where, "file", f"#{kind} {arg}: not followed (no folder to look in)"))
            return []
        pattern = arg if os.path.isabs(arg) else str((base or Path()) / arg)
        found = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        out: list[_Line] = []
        for name in found:
            shown = self._shown(name)
            if shown in self._open or depth >= _MAX_INCLUDE_DEPTH:
                self.notes.append(Note(where, "file", f"#{kind} {shown}: includes itself; not followed again"))
                continue
            text = _read_text(Path(name), self.notes, shown=shown)
            if text is None:
                if kind == "include":  # #tryinclude exists for files that may be missing
                    self.notes.append(Note(where, "file", f"#include {shown}: cannot be read; its settings are missing"))
                continue
            out.extend(self.lines(text, shown, Path(name).parent, depth=depth + 1))
        return out

    def _shown(self, name: str) -> str:
        if self.home is None:
            return name
        relative = os.path.relpath(os.path.abspath(name), os.path.abspath(self.home))
        return name if relative.startswith("..") else relative


def _uncomment(line: str, level: int) -> tuple[str, int]:
    """`line` without comments, and the block-comment nesting after it.

    As Asterisk reads them: ``\\;`` is a semicolon, ``;--`` (not ``;---``) opens
    a block comment, ``--;`` closes one, and any other ``;`` outside a block
    ends the line.
    """
    kept: list[str] = []
    start = 0
    while True:
        at = line.find(";", start)
        if at < 0:
            if level == 0:
                kept.append(line[start:])
            return "".join(kept), level
        if at > start and line[at - 1] == "\\":
            if level == 0:
                kept.append(line[start : at - 1] + _ESCAPED_SEMICOLON)
        elif line[at + 1 : at + 3] == "--" and line[at + 3 : at + 4] != "-":
            if level == 0:
                kept.append(line[start:at])
            level += 1
            start = at + 3
            continue
        elif level and at - 2 >= start and line[at - 2 : at] == "--":
            level -= 1
        elif level == 0:
            kept.append(line[start:at])
            return "".join(kept), level
        start = at + 1


class _PystConfig(asterisk.config.Config):  # type: ignore[misc]
    """pyst2's parser fed with prepared lines rather than a file name."""

    def __init__(self, lines: list[str]) -> None:
        self.filename = None
        self.raw_lines = lines
        self.lines: list[Any] = []
        self.categories: list[Any] = []
        self.parse()


def _sections(lines: list[_Line], notes: list[Note]) -> list[Section]:
    """The sections in file order, templates resolved (templates included, marked)."""
    prepared: list[str] = []
    origins: list[_Line] = []
    headers: dict[int, str | None] = {}  # index in `prepared` -> the header's options
    seen_header = False
    for line in lines:
        if line.text.startswith("["):
            match = _HEADER.fullmatch(line.text)
            if match is None:
                notes.append(Note(line.where, "file", f"cannot read the section header '{line.text}'; section ignored"))
                text = f"[{_IGNORED_SECTION}]"
            else:
                text = f"[{match['name'].strip()}]"
                headers[len(prepared)] = match["options"]
            seen_header = True
        elif "=" not in line.text:
            notes.append(Note(line.where, "file", f"'{line.text}' has no '='; ignored"))
            continue
        elif not seen_header:
            notes.append(Note(line.where, "file", f"'{line.text}' comes before any [section]; ignored"))
            continue
        else:
            text = line.text
        prepared.append(text)
        origins.append(line)

    sections: dict[str, Section] = {}
    ordered: list[Section] = []
    for category in _PystConfig(prepared).categories:
        index = category.number - 1
        where, name = origins[index].where, category.name
        if name == _IGNORED_SECTION:
            continue
        own = [_entry(item, origins[item.number - 1].where) for item in category.items]
        options = [o.strip() for o in (headers.get(index) or "").split(",") if o.strip()]
        if "+" in options:
            if name in sections:
                sections[name].entries.extend(own)
                continue
            notes.append(Note(where, f"[{name}]", "(+) adds to a section not defined before it; read as a new section"))
        if name in sections:
            notes.append(Note(where, f"[{name}]", f"defined again (first at {sections[name].where}); ignored"))
            continue
        entries: list[Entry] = []
        for base in (o for o in options if o not in ("!", "+")):
            if base not in sections:
                notes.append(Note(where, f"[{name}]", f"template '{base}' is not defined before it; not inherited"))
                continue
            entries.extend(Entry(e.option, e.value, e.where, e.template or base) for e in sections[base].entries)
        section = Section(name, where, "!" in options, entries + own)
        sections[name] = section
        ordered.append(section)
    return ordered


def _entry(item: Any, where: str) -> Entry:
    value = str(item.value).strip().replace(_ESCAPED_SEMICOLON, ";")
    return Entry(str(item.name).strip().lower(), value, where)
