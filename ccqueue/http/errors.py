"""Every error id → its HTTP status: the one table (``tests/unit/test_errors.py`` proves
that each error of the package has a row).

Grouped as the error tree is: the sender's fault (4xx), an administrator's file (422),
something ccqueue depends on (502/503/504), ccqueue's own fault (500).
"""

from __future__ import annotations

STATUS_BY_ERROR: dict[str, int] = {
    # the base of the tree: an error nobody classified is ours
    "ccqueue-error": 500,
    # a request's sender is at fault
    "bad-request": 400,
    "not-signed-in": 401,
    "sign-in-refused": 401,
    "forbidden": 403,
    "csrf-refused": 403,
    "sign-in-throttled": 429,
    "agent-unknown": 404,
    "agent-state-illegal": 409,
    "agent-not-on-call": 409,
    "spy-phone-missing": 409,
    "spy-not-answered": 409,
    "callback-unknown": 404,
    "callback-refused": 409,
    "callback-number-invalid": 422,
    "callback-number-not-allowed": 403,
    "reload-refused": 409,
    "campaign-unknown": 404,
    "campaign-state-illegal": 409,
    "preview-unknown": 404,
    "call-unknown": 404,
    "disposition-unknown": 422,
    "recording-refused": 409,
    "recording-unknown": 404,
    "erasure-refused": 422,
    "routing-refused": 409,
    "bad-time": 400,
    "bad-agent": 400,
    "bad-call": 400,
    "duplicate-queue": 409,
    "duplicate-call": 409,
    "queue-has-calls": 409,
    "unknown-agent": 404,
    "unknown-call": 404,
    "unknown-queue": 404,
    "clock-went-back": 409,
    "report-date-invalid": 400,
    "report-period-invalid": 400,
    "report-timezone-unknown": 400,
    # an administrator's file cannot be used
    "input-invalid": 422,
    "config-invalid": 422,
    "scenario-invalid": 422,
    "import-unreadable": 422,
    "pattern-not-portable": 422,
    "staffing-forecast-invalid": 422,
    "campaign-invalid": 422,
    "contacts-invalid": 422,
    # something ccqueue depends on failed or misbehaved
    "external": 503,
    "asterisk-misbehaved": 502,
    "ami-unavailable": 503,
    "history-unavailable": 503,
    "ami-startup-refused": 503,
    "ami-message-incomplete": 502,
    "ami-message-garbled": 502,
    "agi-headers-refused": 502,
    "agi-peer-silent": 504,
    "agi-reply-garbled": 502,
    "ami-session-failed": 502,
    "spool-busy": 503,
    "callbacks-not-restored": 503,
    "report-database-unavailable": 503,
    "report-schema-outdated": 503,
    "fenced": 503,
    "standby": 503,
    # ccqueue's own fault
    "internal": 500,
    "call-state-illegal": 500,
    "ivr-result-unexpected": 500,
    "dialogue-result-unexpected": 500,
    "record-invalid": 500,
    "ami-field-refused": 500,
    "agi-command-refused": 500,
    "role-transition-illegal": 500,
    # the HTTP layer's own (aiohttp's answers, turned into JSON)
    "not-found": 404,
    "method-not-allowed": 405,
    "request-timeout": 408,
    "body-too-large": 413,
    "unsupported-media-type": 415,
}

# aiohttp's own errors, by status (any other status answers "http-<status>").
ERROR_BY_STATUS: dict[int, str] = {
    400: "bad-request",
    404: "not-found",
    405: "method-not-allowed",
    408: "request-timeout",
    413: "body-too-large",
    415: "unsupported-media-type",
    500: "internal",
}


def status_of(error_id: str) -> int:
    """The HTTP status of an error id; an id missing from the table is a bug of ours."""
    return STATUS_BY_ERROR.get(error_id, 500)
