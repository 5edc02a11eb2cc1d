"""Load a configuration directory (or one file) into a validated `Config`.

Rules kept here:

- A configuration is a directory of ``*.yaml`` files, read in name order, or one
  file given by path. Hidden files (``.#queues.yaml``, an editor's lock) are skipped.
- Each file's top level is a mapping of sections: asterisk, http, database,
  hotlines, queues, agents, callbacks, schedules, ivr, outbound, campaigns. A section lives in one file only; a second one is
  an error naming both places. An unknown section is an error.
- Every problem is collected before anything is raised, so one `ConfigError`
  lists them all, each with file, line and dotted key, ordered by file and line.
- Loading reads files and the given environment and nothing else; it has no
  side effects, so a reload that fails leaves the running configuration as it was.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from ccqueue.config.campaigns import check_campaigns
from ccqueue.config.ivr_checks import SoundCatalog, check_ivr, default_sound_catalog
from ccqueue.config.models import Config
from ccqueue.config.prepare import prepare
from ccqueue.config.problems import Collector, ConfigError, Problem, closest
from ccqueue.config.translate import report_validation_error
from ccqueue.config.yamlfile import LocationMap, read_yaml_file

__all__ = ["SECTIONS", "load_config"]

SECTIONS: tuple[str, ...] = tuple(name for name in Config.model_fields if name != "files")


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None, sounds: SoundCatalog | None = None) -> Config:
    """Read, check and freeze the configuration at `path`.

    `env` is where ``*_env`` references are looked up (default: `os.environ`).
    `sounds` lists the sound files prompts may name (default: the project's
    ``sounds/en`` and Asterisk's sounds folder when it is found; see `ivr_checks`).
    Raises `ConfigError` listing every problem found.
    """
    root = Path(path)
    files, problems = _config_files(root)
    collector = Collector(LocationMap(str(root)))
    collector.problems.extend(problems)
    sections, all_read = _read_sections(files, collector)
    if not files or not all_read:
        # The missing sections may well be in the file that could not be read:
        # saying they are missing, or that references to them dangle, would mislead.
        for name in SECTIONS:
            if name not in sections:
                collector.mark_reported((name,))
    check_references = "queues" in sections or all_read
    environment = os.environ if env is None else env
    prepare(sections, environment, collector, check_references=check_references)
    catalog = default_sound_catalog(environment) if sounds is None else sounds
    check_ivr(sections, collector, sounds=catalog, complete=bool(files) and all_read)
    check_campaigns(sections, collector, complete=bool(files) and all_read)

    config: Config | None = None
    try:
        config = Config.model_validate({**sections, "files": tuple(str(file) for file in files)})
    except ValidationError as exc:
        report_validation_error(exc, collector)
    if config is None and not collector.problems:  # every error was a repeat; never raise an empty list
        collector.problems.append(Problem(str(root), None, "", "the configuration is not valid"))
    if collector.problems or config is None:
        raise ConfigError(_in_file_order(collector.problems, [str(root), *map(str, files)]))
    return config


def _config_files(root: Path) -> tuple[list[Path], list[Problem]]:
    if root.is_dir():
        files = sorted(p for p in root.glob("*.yaml") if not p.name.startswith(".") and p.is_file())
        if not files:
            return [], [Problem(str(root), None, "", "no *.yaml files in this directory")]
        return files, []
    if root.exists():
        return [root], []
    return [], [Problem(str(root), None, "", "no such file or directory")]


def _read_sections(files: list[Path], collector: Collector) -> tuple[dict[str, object], bool]:
    """Every file's sections in one mapping, and whether every file could be read.

    Duplicate and unknown sections are problems.
    """
    sections: dict[str, object] = {}
    defined_at: dict[str, str] = {}
    all_read = True
    meant: list[str] = []  # sections that misspelt ones were probably meant to be
    for file in files:
        parsed = read_yaml_file(file)
        collector.problems.extend(parsed.problems)
        if parsed.problems and not parsed.data:
            all_read = False
        for name, value in parsed.data.items():
            location = parsed.locations.get((name,))
            file_name, line = (location.file, location.key_line) if location else (str(file), None)
            place = f"{file_name}:{line}"
            if name not in SECTIONS:
                suggestion = closest(name, SECTIONS)
                hint = f"; did you mean '{suggestion}'?" if suggestion else ""
                collector.problems.append(Problem(file_name, line, name, f"unknown section '{name}'{hint}"))
                if suggestion:
                    meant.append(suggestion)
            elif name in defined_at:
                message = f"section '{name}' is already defined at {defined_at[name]}"
                collector.problems.append(Problem(file_name, line, name, message))
            else:
                sections[name] = value
                defined_at[name] = place
                collector.locations.adopt(parsed.locations, (name,))
                for path in parsed.unreadable:
                    if path[0] == name:
                        collector.mark_reported(path)
    for name in meant:
        if name not in sections:
            collector.mark_reported((name,))  # a misspelt section is not also "missing"
    return sections, all_read


def _in_file_order(problems: list[Problem], files: list[str]) -> list[Problem]:
    """Problems without repeats, by file (as read) then line; whole-file ones first."""
    rank = {file: index for index, file in enumerate(files)}
    unique = list(dict.fromkeys(problems))
    return sorted(unique, key=lambda p: (rank.get(p.file, len(rank)), p.line or 0))
