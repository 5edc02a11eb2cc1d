"""Every exception in the log carries a stable error id.

Whoever reads a traceback in the log goes next to the error's id: it is what the API
answered, what the documentation and the alerts name (the ids of ``ccqueue.core.errors``
and the HTTP table ``ccqueue.http.errors.STATUS_BY_ERROR``). Call sites name the id they
mean (``error_id=...``); this processor gives one to a record that carries an exception
and no id, whoever logged it (ccqueue's structlog events, and the standard library's
loggers that asyncio, aiohttp and asyncpg use): a ccqueue error's own id, else
``internal`` — an exception nobody classified is ours to look at.
"""

from __future__ import annotations

import sys
from typing import Any

from ccqueue.core.errors import CcqueueError, InternalError

__all__ = ["UNCLASSIFIED", "add_error_id"]

UNCLASSIFIED = InternalError.error_id


def add_error_id(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    """structlog processor, placed before the one that formats the exception."""
    exc_info = event_dict.get("exc_info")
    if not exc_info or event_dict.get("error_id"):
        return event_dict
    if isinstance(exc_info, BaseException):
        exc: BaseException | None = exc_info
    elif isinstance(exc_info, tuple):
        exc = exc_info[1]
    else:  # exc_info=True: the exception being handled
        exc = sys.exc_info()[1]
    if exc is not None:
        event_dict["error_id"] = exc.error_id if isinstance(exc, CcqueueError) else UNCLASSIFIED
    return event_dict
