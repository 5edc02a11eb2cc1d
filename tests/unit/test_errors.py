"""One error tree: every error of the package is a ``CcqueueError`` with its own stable id."""

from __future__ import annotations

import importlib
import pkgutil

import ccqueue
from ccqueue.core.errors import CcqueueError, ExternalError, InputError, InternalError, RequestError

# Exceptions that end a control flow rather than report an error.
CONTROL_FLOW = {"ccqueue.asterisk.ivr_runner.CallerGone"}


def modules() -> list[str]:
    return [m.name for m in pkgutil.walk_packages(ccqueue.__path__, "ccqueue.") if not m.name.endswith("__main__")]


def all_errors() -> list[type[CcqueueError]]:
    for name in modules():
        importlib.import_module(name)
    found: list[type[CcqueueError]] = []
    todo = [CcqueueError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_every_error_names_its_own_stable_id() -> None:
    errors = all_errors()
    assert len(errors) > 20
    for cls in errors:
        assert "error_id" in vars(cls), f"{cls.__module__}.{cls.__qualname__} inherits its error_id"
    ids = [cls.error_id for cls in errors]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_every_error_says_who_is_at_fault() -> None:
    kinds = (RequestError, InputError, ExternalError, InternalError)
    for cls in all_errors():
        if cls is CcqueueError or cls in kinds:
            continue
        assert issubclass(cls, kinds), f"{cls.__qualname__} is under none of {[k.__name__ for k in kinds]}"


def test_exceptions_raised_on_purpose_are_in_the_tree() -> None:
    # Classes named like errors anywhere in the package derive from CcqueueError.
    strays = []
    for name in modules():
        if name.startswith("testbed"):
            continue  # tools around the product, not the product
        mod = importlib.import_module(name)
        for attr, value in vars(mod).items():
            if (
                isinstance(value, type)
                and issubclass(value, Exception)
                and value.__module__ == mod.__name__
                and not issubclass(value, CcqueueError)
                and not attr.startswith("_")
                and f"{mod.__name__}.{attr}" not in CONTROL_FLOW
            ):
                strays.append(f"{mod.__name__}.{attr}")
    assert strays == []


def test_the_http_table_has_a_status_for_every_error() -> None:
    from ccqueue.http.errors import ERROR_BY_STATUS, STATUS_BY_ERROR

    missing = sorted(cls.error_id for cls in all_errors() if cls.error_id not in STATUS_BY_ERROR)
    assert missing == []
    assert all(400 <= status <= 599 for status in STATUS_BY_ERROR.values())
    assert set(ERROR_BY_STATUS.values()) <= set(STATUS_BY_ERROR)
    # The sender's faults are 4xx, the rest 5xx (an administrator's file: 422 through the API).
    for cls in all_errors():
        status = STATUS_BY_ERROR[cls.error_id]
        if issubclass(cls, (RequestError, InputError)):
            assert 400 <= status < 500, cls
        elif cls is not CcqueueError:
            assert status >= 500, cls
