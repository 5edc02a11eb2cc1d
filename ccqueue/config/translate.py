"""Turn the models' validation errors into problems with file, line and key.

Rules kept here:

- Each error's ``loc`` is a key path; it is placed at the line of that value, or
  of its nearest parent that was written (defaults are not written anywhere).
- An unknown key is placed on its own line and says so; when a known key is
  close, the message suggests it ("did you mean 'wrapup_s'?").
- A missing key is placed on the line of the mapping that lacks it.
- A bad mapping key (a queue name with capitals) is placed on the key's line.
- A value under a path that already has a problem is not reported again.
- The value of a secret, a password or a DSN is never shown; other values are,
  so that "expected an integer, got the string '15'" tells what to change.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from ccqueue.config.models import Agent, Config, Queue
from ccqueue.config.problems import Collector, closest, describe_value, did_you_mean
from ccqueue.config.yamlfile import KeyPath

__all__ = ["report_validation_error"]

# Fields the loader fills in; an administrator never writes them.
_NOT_WRITTEN = {(Queue, "name"), (Agent, "id"), (Config, "files")}
_SECRET_KEYS = {"secret", "password", "dsn"}
_EXPECTED = {
    "int_type": "an integer",
    "float_type": "a number",
    "string_type": "a string",
    "bool_type": "true or false",
    "model_type": "a mapping",
    "dict_type": "a mapping",
    "mapping_type": "a mapping",
    "list_type": "a list",
    "tuple_type": "a list",
}

_BOUNDS = {
    "greater_than": "must be more than {gt}",
    "greater_than_equal": "must be at least {ge}",
    "less_than": "must be less than {lt}",
    "less_than_equal": "must be at most {le}",
    "string_too_short": "must not be empty",
    "finite_number": "must be a finite number",
}


def report_validation_error(error: ValidationError, collector: Collector) -> None:
    """Add one problem per error in `error` to `collector`."""
    items = error.errors(include_url=False)
    suggested: set[KeyPath] = set()
    for item in items:
        if item["type"] == "extra_forbidden":
            path: KeyPath = tuple(item["loc"])
            suggestion = closest(str(path[-1]), known_keys(path[:-1]))
            if suggestion is not None:
                suggested.add((*path[:-1], suggestion))
    for item in items:
        # A misspelt key is reported as unknown, with a suggestion; the key it was
        # meant to be is then not also reported as missing.
        if item["type"] == "missing" and tuple(item["loc"]) in suggested:
            continue
        _report(item, collector)


def _report(item: ErrorDetails, collector: Collector) -> None:
    path: KeyPath = tuple(item["loc"])
    bad_key = bool(path) and path[-1] == "[key]"
    if bad_key:
        path = path[:-1]
    if collector.is_reported(path):
        return
    kind = item["type"]
    if kind == "missing":
        what = "section" if len(path) == 1 else "key"
        collector.add(path, f"missing required {what} '{path[-1]}'", at=path[:-1], at_key=True)
    elif kind == "extra_forbidden":
        name = str(path[-1])
        what = "section" if len(path) == 1 else "key"
        hint = did_you_mean(name, known_keys(path[:-1]))
        collector.add(path, f"unknown {what} '{name}'{hint}", at_key=True)
    else:
        collector.add(path, _message(item, path), at_key=bad_key)


def _message(item: ErrorDetails, path: KeyPath) -> str:
    reveal = not any(part in _SECRET_KEYS for part in path)
    value = item.get("input")
    kind = item["type"]
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe_value(value, reveal=reveal)}"
    ctx = item.get("ctx", {})
    if kind == "value_error":
        return str(ctx.get("error", item["msg"]))
    if kind in _BOUNDS:
        return f"{_BOUNDS[kind].format(**ctx)}, got {describe_value(value, reveal=reveal)}"
    if kind == "enum":
        return f"expected one of {ctx.get('expected', '?')}, got {describe_value(value, reveal=reveal)}"
    if isinstance(value, dict | list):
        return item["msg"]
    return f"{item['msg']} (got {describe_value(value, reveal=reveal)})"


def known_keys(path: KeyPath, *, root: type[BaseModel] = Config) -> tuple[str, ...]:
    """The keys an administrator may write in the mapping at `path` below `root`."""
    annotation: object = root
    for part in path:
        model = _model_in(annotation)
        if model is not None:
            field = model.model_fields.get(str(part))
            if field is None:
                return ()
            annotation = field.annotation
            continue
        origin = typing.get_origin(annotation)
        args = typing.get_args(annotation)
        if origin in (dict, Mapping) and len(args) == 2:
            annotation = args[1]
        elif origin in (tuple, list) and args:
            annotation = args[0]
        else:
            return ()
    model = _model_in(annotation)
    if model is None:
        return ()
    return tuple(name for name in model.model_fields if (model, name) not in _NOT_WRITTEN)


def _model_in(annotation: object) -> type[BaseModel] | None:
    """The model class `annotation` stands for, through ``Annotated`` and ``| None``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(annotation):
            model = _model_in(arg)
            if model is not None:
                return model
    return None
