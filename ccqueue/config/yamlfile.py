"""Read one YAML file into plain data, remembering where every value was written.

Rules kept here:

- Every mapping entry and list item gets a `Location`: the file, the line of its
  key and the line of its value (1-based). Later stages map a key path such as
  ``("queues", "support", "ring_timeout_s")`` back to the line to fix.
- Mapping keys are names. A scalar key is read as the text written, so ``100:``
  and ``0100:`` are the hotlines "100" and "0100" (YAML 1.1 would make them the
  integers 100 and 64), and ``yes:`` is the name "yes", not ``True``.
- A key written twice in one mapping is an error (PyYAML silently keeps the last;
  for an administrator it is a typo). Merge keys (``<<: *defaults``) are allowed;
  the mapping's own keys win over merged ones, as the YAML merge spec says.
- Syntax errors, undecodable bytes, unknown tags, self-referencing aliases and
  alias bombs become `Problem`s with the file and, when known, the line. Nothing
  else escapes: a broken file yields problems, never an exception.
- Only the SafeLoader's scalar types are constructed (no Python objects).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ccqueue.config.problems import KeyPath, Problem, dotted

__all__ = ["KeyPath", "Location", "LocationMap", "ParsedFile", "read_yaml_file"]


_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"

# Aliases let a few lines expand into an exponential tree ("billion laughs").
# A real ccqueue config has a few thousand nodes; 100 000 leaves room for large
# agent lists while bounding the work a hostile or broken file can cause.
_MAX_NODES = 100_000


@dataclass(frozen=True, slots=True)
class Location:
    """Where a value was written: its file, the line of its key, the line of the value."""

    file: str
    key_line: int
    value_line: int


class LocationMap:
    """Key path -> `Location`, with look-ups that fall back to the nearest parent."""

    def __init__(self, default_file: str) -> None:
        self.default_file = default_file
        self._locations: dict[KeyPath, Location] = {}

    def record(self, path: KeyPath, location: Location) -> None:
        self._locations[path] = location

    def get(self, path: KeyPath) -> Location | None:
        return self._locations.get(path)

    def find(self, path: KeyPath, *, at_key: bool = False) -> tuple[str, int | None]:
        """(file, line) of `path`, or of its nearest recorded parent."""
        for end in range(len(path), 0, -1):
            location = self._locations.get(path[:end])
            if location is not None:
                use_key = at_key and end == len(path)
                return location.file, location.key_line if use_key else location.value_line
        return self.default_file, None

    def adopt(self, other: LocationMap, prefix: KeyPath) -> None:
        """Take `other`'s locations for `prefix` and everything under it."""
        n = len(prefix)
        for path, location in other._locations.items():
            if path[:n] == prefix:
                self._locations[path] = location

    def copy_subtree(self, source: KeyPath, target: KeyPath) -> None:
        """Make `target` and everything under it point where `source` does."""
        n = len(source)
        for path, location in list(self._locations.items()):
            if path[:n] == source:
                self._locations[target + path[n:]] = location


@dataclass(frozen=True, slots=True)
class ParsedFile:
    """One file read: its top-level mapping, where each value is, what went wrong.

    `unreadable` lists the key paths whose value could not be read (they hold
    ``None``); their problem is already in `problems`.
    """

    data: dict[str, object]
    locations: LocationMap
    problems: tuple[Problem, ...] = ()
    unreadable: tuple[KeyPath, ...] = ()


class _TooLargeError(Exception):
    """The node budget ran out (alias expansion)."""


class _Builder:
    """Turns a composed YAML node tree into dicts, lists and scalars."""

    def __init__(self, file: str, loader: yaml.SafeLoader, locations: LocationMap) -> None:
        self.file = file
        self.loader = loader
        self.locations = locations
        self.problems: list[Problem] = []
        self.unreadable: list[KeyPath] = []
        self._in_progress: set[int] = set()
        self._budget = _MAX_NODES

    def problem(self, path: KeyPath, node: Node, message: str) -> None:
        self.problems.append(Problem(self.file, node.start_mark.line + 1, dotted(path), message))

    def unreadable_value(self, path: KeyPath, node: Node, message: str) -> None:
        self.problem(path, node, message)
        self.unreadable.append(path)

    def value(self, node: Node, path: KeyPath) -> object:
        self._budget -= 1
        if self._budget < 0:
            raise _TooLargeError
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._in_progress:
            self.unreadable_value(path, node, "an alias refers to the value that contains it")
            return None
        self._in_progress.add(id(node))
        try:
            if isinstance(node, MappingNode) and node.tag == _MAP_TAG:
                return self.mapping(node, path)
            if isinstance(node, SequenceNode) and node.tag == _SEQ_TAG:
                return self._sequence(node, path)
            self.unreadable_value(path, node, f"unsupported YAML tag {node.tag!r}")
            return None
        finally:
            self._in_progress.discard(id(node))

    def _scalar(self, node: ScalarNode, path: KeyPath) -> object:
        try:
            return self.loader.construct_object(node, deep=True)
        # The constructors raise ConstructorError for unknown tags but plain
        # ValueError/OverflowError for values such as ``2020-13-45`` (a date that
        # does not exist) or ``!!int abc``; any failure here means an unreadable value.
        except Exception as exc:
            reason = getattr(exc, "problem", None) or str(exc) or type(exc).__name__
            self.unreadable_value(path, node, f"cannot read this value: {reason}")
            return None

    def _sequence(self, node: SequenceNode, path: KeyPath) -> list[object]:
        items: list[object] = []
        for index, item in enumerate(node.value):
            line = item.start_mark.line + 1
            self.locations.record((*path, index), Location(self.file, line, line))
            items.append(self.value(item, (*path, index)))
        return items

    def mapping(self, node: MappingNode, path: KeyPath) -> dict[str, object]:
        merge_sources: list[Node] = []
        own: list[tuple[str, ScalarNode, Node]] = []
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merge_sources.extend(self._merge_sources(value_node, path))
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(path, key_node, "a key must be a plain name, not a list or mapping")
                continue
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first_line:
                message = f"duplicate key '{key}' (first written at line {first_line[key]})"
                self.problem((*path, key), key_node, message)
                continue
            first_line[key] = line
            own.append((key, key_node, value_node))

        result: dict[str, object] = {}
        # The first merge source wins over later ones: walk them last to first.
        for source in reversed(merge_sources):
            merged = self.value(source, path)
            if isinstance(merged, dict):
                result.update(merged)
        for key, key_node, value_node in own:
            location = Location(self.file, key_node.start_mark.line + 1, value_node.start_mark.line + 1)
            self.locations.record((*path, key), location)
            result[key] = self.value(value_node, (*path, key))
        return result

    def _merge_sources(self, node: Node, path: KeyPath) -> list[Node]:
        if isinstance(node, MappingNode):
            return [node]
        if isinstance(node, SequenceNode) and all(isinstance(item, MappingNode) for item in node.value):
            return list(node.value)
        self.problem(path, node, "a merge key (<<) takes a mapping or a list of mappings")
        return []


def _decode(raw: bytes, file: str) -> tuple[str | None, Problem | None]:
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem(file, line, "", "the file is not UTF-8 text")


def _compose(text: str, file: str) -> tuple[yaml.SafeLoader | None, Node | None, Problem | None]:
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # checks the characters of `text` at once
        return loader, loader.get_single_node(), None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        reason = exc.problem or exc.context or "invalid YAML"
        problem = Problem(file, line, "", f"YAML syntax error: {reason}")
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        problem = Problem(file, line, "", f"character not allowed in YAML: {exc.character!r}")
    except yaml.YAMLError as exc:
        problem = Problem(file, None, "", f"YAML error: {exc}")
    except RecursionError:
        problem = Problem(file, None, "", "YAML nested too deeply")
    if loader is not None:
        loader.dispose()
    return None, None, problem


def read_yaml_file(path: Path) -> ParsedFile:
    """Read `path`; a broken file gives problems (and no data), never an exception."""
    file = str(path)
    locations = LocationMap(file)

    def failed(*problems: Problem | None) -> ParsedFile:
        return ParsedFile({}, locations, tuple(p for p in problems if p is not None))

    try:
        raw = path.read_bytes()
    except OSError as exc:
        return failed(Problem(file, None, "", f"cannot read the file: {exc.strerror or exc}"))
    text, problem = _decode(raw, file)
    if text is None:
        return failed(problem)
    loader, root, problem = _compose(text, file)
    if loader is None:
        return failed(problem)
    try:
        if root is None or (isinstance(root, ScalarNode) and root.tag == _NULL_TAG):
            return failed()  # an empty file (or only comments) defines no sections
        builder = _Builder(file, loader, locations)
        if not isinstance(root, MappingNode):
            return failed(Problem(file, root.start_mark.line + 1, "", "the top level must be a mapping of sections"))
        try:
            data = builder.value(root, ())
        except _TooLargeError:
            return failed(Problem(file, None, "", f"more than {_MAX_NODES} values once aliases are expanded"))
        except RecursionError:
            return failed(Problem(file, None, "", "YAML nested too deeply"))
        return ParsedFile(
            data if isinstance(data, dict) else {},
            locations,
            tuple(builder.problems),
            tuple(builder.unreadable),
        )
    finally:
        loader.dispose()
