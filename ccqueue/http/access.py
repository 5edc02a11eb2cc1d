"""Who may call which route: one table, read by the guard and by the OpenAPI description.

Rules kept here:

1. Every route the app serves has exactly one row here, keyed by method and aiohttp's
   canonical path (``/api/agents/{agent_id}/{action}``). A route without a row is
   refused to everyone (``internal``, logged): a new route is closed until someone
   decides who may call it. tests/unit/http/test_access.py proves table and router
   agree, in both directions.
2. A row names the least role that may call the route; a higher role may too
   (``Role.reaches``). ``PUBLIC`` routes (the sign-in page and sign-in itself) need no
   one. A route whose row names an ``openable`` key is served without sign-in when
   ``http.open`` lists that key.
3. ``agent`` names the path parameter holding an agent id the caller must reach: an
   agent its own, a supervisor the agents serving its queues, an admin every agent.
   Queues are checked the same way in handlers that learn the queue from the body or
   from a record (a callback's queue): ``Principal.reaches_queue``.
4. A ``page`` answers a browser that is not signed in with a redirect to the sign-in
   page instead of 401 JSON.
5. The rest of a row (summary, parameters, body, answers) is the OpenAPI description
   (ccqueue.http.openapi); there is no second list of routes to keep in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ccqueue.config.users import Role

__all__ = ["PUBLIC", "ROUTES", "Principal", "Route", "route_key"]

PUBLIC = None  # a route anyone may call


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request is from: a user, by password session or by token."""

    name: str
    role: Role
    via: str  # session or token
    agent: str | None = None  # an agent user's own agent
    queues: frozenset[str] | None = None  # a supervisor's teams; None: every queue (admin)

    def reaches_queue(self, queue: str) -> bool:
        if self.role is Role.ADMIN:
            return True
        return self.queues is not None and queue in self.queues

    def reaches_agent(self, agent_id: str, agent_queues: tuple[str, ...] | None) -> bool:
        """``agent_queues``: the queues the agent serves (None: no such agent)."""
        if self.role is Role.ADMIN:
            return True
        if self.role is Role.AGENT:
            return agent_id == self.agent
        return agent_queues is not None and any(self.reaches_queue(q) for q in agent_queues)


@dataclass(frozen=True, slots=True)
class Route:
    role: Role | None  # the least role that may call it; PUBLIC: anyone
    summary: str
    openable: str | None = None  # served without sign-in when http.open lists this
    agent: str | None = None  # path parameter naming an agent the caller must reach
    page: bool = False  # a browser page: redirect to /signin rather than 401
    params: Mapping[str, Any] = field(default_factory=dict)  # path parameter -> JSON schema
    query: Mapping[str, Any] = field(default_factory=dict)  # query parameter -> JSON schema
    body: Mapping[str, Any] | None = None  # JSON schema of the request body
    body_required: bool = False
    answers: Mapping[int, str] = field(default_factory=lambda: {200: "OK"})
    produces: str = "application/json"
    # The body's media type. Never one an HTML form can send (form encodings, text/plain):
    # that is what keeps another site's form from making the change (ccqueue.http.auth).
    consumes: str = "application/json"
    # Audited even when the method changes nothing (a recording played): who heard what.
    audited: bool = False

    def __post_init__(self) -> None:
        if self.consumes in ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain"):
            raise ValueError(f"{self.summary}: a body of {self.consumes} is what cross-site forms send")


def route_key(method: str, canonical: str) -> tuple[str, str]:
    return ("GET" if method == "HEAD" else method, canonical)


_AGENT_ID = {"agent_id": {"type": "string", "pattern": "^[a-z0-9_]+$"}}
_CALLBACK_ID = {"callback_id": {"type": "string"}}
_SIGN_IN = {
    "type": "object",
    "required": ["user", "password"],
    "additionalProperties": False,
    "properties": {"user": {"type": "string"}, "password": {"type": "string"}},
}
_PAUSE = {"type": "object", "properties": {"reason": {"type": "string", "maxLength": 64}}}
_CALLBACK = {
    "type": "object",
    "required": ["number", "queue"],
    "additionalProperties": False,
    "properties": {
        "number": {"type": "string"},
        "queue": {"type": "string", "maxLength": 64},
        "not_before": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
        "not_after": {"oneOf": [{"type": "string", "format": "date-time"}, {"type": "number"}]},
    },
}
_QUEUE_FILTER = {"queue": {"type": "string"}}
_CAMPAIGN = {"name": {"type": "string", "pattern": "^[a-z0-9_-]+$"}}
_DNC = {"type": "object", "required": ["number"], "properties": {"number": {"type": "string"}}}
_SIGNED_IN = {401: "not signed in", 403: "the role does not reach it"}
_SPY = {
    "type": "object",
    "required": ["mode"],
    "additionalProperties": False,
    "properties": {"mode": {"type": "string", "enum": ["listen", "whisper", "barge"]}},
}
_WRAPUP = {
    "type": "object",
    "required": ["disposition"],
    "additionalProperties": False,
    "properties": {
        "disposition": {"type": "string", "pattern": "^[a-z0-9_-]{1,64}$"},
        "note": {"type": "string", "maxLength": 4000},
    },
}
_RECORDING_ID = {"recording_id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}(\\.[0-9]{1,6})?$"}}
_ERASURE = {
    "type": "object",
    "required": ["number"],
    "additionalProperties": False,
    "properties": {"number": {"type": "string", "description": "E.164, e.g. +12025550123"}},
}

ROUTES: dict[tuple[str, str], Route] = {
    # Health and metrics: open by default (http.open), else a supervisor's.
    ("GET", "/healthz"): Route(
        Role.SUPERVISOR,
        "Health: 200 when Asterisk's AMI link is ready, else 503",
        openable="healthz",
        answers={200: "ready", 503: "degraded"},
    ),
    ("GET", "/metrics"): Route(
        Role.SUPERVISOR, "Prometheus exposition", openable="metrics", produces="text/plain", answers={200: "the metrics"}
    ),
    ("GET", "/api/openapi.json"): Route(Role.AGENT, "This description of the API (OpenAPI 3.1)", openable="openapi"),
    # Signing in and out.
    ("GET", "/signin"): Route(PUBLIC, "The sign-in page", page=True, produces="text/html"),
    ("POST", "/api/session"): Route(
        PUBLIC,
        "Sign in with a user's password: sets the session cookie and answers the CSRF token",
        body=_SIGN_IN,
        body_required=True,
        answers={200: "signed in", 401: "wrong user or password", 415: "not JSON", 429: "too many wrong passwords lately"},
    ),
    ("GET", "/api/session"): Route(
        Role.AGENT, "Who is signed in, and the session's CSRF token", answers={200: "OK", 401: "not signed in"}
    ),
    ("DELETE", "/api/session"): Route(
        Role.AGENT, "Sign out", answers={200: "signed out", 401: "not signed in", 403: "no CSRF token"}
    ),
    # Configuration.
    ("POST", "/api/config/reload"): Route(
        Role.ADMIN,
        "Reload the configuration: 200 applied, 422 invalid (every problem listed), 409 refused",
        answers={200: "applied", 409: "refused", 422: "invalid", **_SIGNED_IN},
    ),
    # Agents.
    ("GET", "/api/agents"): Route(
        Role.AGENT, "The agents the caller reaches, with their states", answers={200: "OK", **_SIGNED_IN}
    ),
    ("GET", "/api/agents/{agent_id}"): Route(
        Role.AGENT,
        "One agent's state",
        agent="agent_id",
        params=_AGENT_ID,
        answers={200: "OK", 404: "no such agent", **_SIGNED_IN},
    ),
    ("POST", "/api/agents/{agent_id}/{action}"): Route(
        Role.AGENT,
        "Log the agent in or out, pause (with a reason) or unpause it",
        agent="agent_id",
        params={**_AGENT_ID, "action": {"type": "string", "enum": ["login", "logout", "pause", "unpause"]}},
        body=_PAUSE,
        answers={200: "the agent's state", 404: "no such agent", 409: "not now", **_SIGNED_IN},
    ),
    ("GET", "/api/queues"): Route(
        Role.AGENT, "Callers waiting in the queues the caller reaches", answers={200: "OK", **_SIGNED_IN}
    ),
    # The wallboard.
    ("GET", "/wallboard"): Route(
        Role.SUPERVISOR, "The supervisors' wallboard", openable="wallboard", page=True, produces="text/html"
    ),
    ("GET", "/api/wallboard"): Route(
        Role.SUPERVISOR,
        "The wallboard's figures for the caller's queues",
        openable="wallboard",
        answers={200: "OK", **_SIGNED_IN},
    ),
    ("GET", "/api/wallboard/events"): Route(
        Role.SUPERVISOR,
        "The wallboard's figures as Server-Sent Events",
        openable="wallboard",
        produces="text/event-stream",
        answers={200: "the stream", **_SIGNED_IN},
    ),
    # Callbacks, in the supervisor's queues.
    ("POST", "/api/callbacks"): Route(
        Role.SUPERVISOR,
        "Ask for a callback",
        body=_CALLBACK,
        body_required=True,
        answers={200: "already pending", 201: "queued", 400: "bad request", 409: "refused", 422: "bad number", **_SIGNED_IN},
    ),
    ("GET", "/api/callbacks"): Route(Role.SUPERVISOR, "Open callbacks", query=_QUEUE_FILTER, answers={200: "OK", **_SIGNED_IN}),
    ("GET", "/api/callbacks/{callback_id}"): Route(
        Role.SUPERVISOR, "One open callback", params=_CALLBACK_ID, answers={200: "OK", 404: "no such open callback", **_SIGNED_IN}
    ),
    ("DELETE", "/api/callbacks/{callback_id}"): Route(
        Role.SUPERVISOR,
        "Cancel an open callback",
        params=_CALLBACK_ID,
        answers={200: "cancelled", 404: "no such open callback", **_SIGNED_IN},
    ),
    # Outbound campaigns: supervisors watch them and take do-not-call requests; admins run
    # them and load their lists.
    ("GET", "/api/campaigns"): Route(Role.SUPERVISOR, "Outbound campaigns and their figures", answers={200: "OK", **_SIGNED_IN}),
    ("GET", "/api/campaigns/{name}"): Route(
        Role.SUPERVISOR,
        "One outbound campaign and its figures",
        params=_CAMPAIGN,
        answers={200: "OK", 404: "no such campaign", **_SIGNED_IN},
    ),
    ("POST", "/api/campaigns/{name}/{action}"): Route(
        Role.ADMIN,
        "Start (or resume), pause or stop a campaign",
        params={**_CAMPAIGN, "action": {"type": "string", "enum": ["start", "pause", "stop"]}},
        answers={200: "the campaign's state", 404: "no such campaign", 409: "not from its state", **_SIGNED_IN},
    ),
    ("POST", "/api/campaigns/{name}/contacts"): Route(
        Role.ADMIN,
        "Import a contact list into a campaign (CSV, docs/contacts.md)",
        params=_CAMPAIGN,
        query={"skip_invalid": {"type": "string", "enum": ["0", "1"]}},
        body={"type": "string", "description": "CSV: number, name, tz and any extra columns"},
        body_required=True,
        consumes="text/csv",
        answers={201: "imported", 404: "no such campaign", 422: "nothing imported: every problem by line", **_SIGNED_IN},
    ),
    ("POST", "/api/dnc"): Route(
        Role.SUPERVISOR,
        "Put a number on the do-not-call list",
        body=_DNC,
        body_required=True,
        answers={200: "already listed", 201: "listed", 422: "not a number", **_SIGNED_IN},
    ),
    ("POST", "/api/campaigns/{name}/preview/{attempt_id}/{decision}"): Route(
        Role.AGENT,
        "A preview campaign: dial the contact shown, or skip it",
        params={**_CAMPAIGN, "attempt_id": {"type": "string"}, "decision": {"type": "string", "enum": ["dial", "skip"]}},
        answers={200: "done", 404: "no such preview", 409: "not now", **_SIGNED_IN},
    ),
    # The supervisor's screen, and listening in on its teams' agents from its own phone.
    ("GET", "/supervisor"): Route(Role.SUPERVISOR, "The supervisor's screen", page=True, produces="text/html"),
    ("POST", "/api/agents/{agent_id}/spy"): Route(
        Role.SUPERVISOR,
        "Listen to, whisper to or barge into the agent's call from the caller's own phone (users.<name>.phone)",
        agent="agent_id",
        params=_AGENT_ID,
        body=_SPY,
        body_required=True,
        answers={
            200: "the phone answered and is joined to the call in that mode",
            400: "bad request",
            404: "no such agent",
            409: "the agent is not on a call, the user has no phone, or the phone did not answer",
            **_SIGNED_IN,
        },
    ),
    # The agent's page: its screen-pop stream, the customer's history, the call's wrap-up.
    ("GET", "/agent"): Route(Role.AGENT, "The agent's page: state, screen-pop, wrap-up", page=True, produces="text/html"),
    ("GET", "/api/agents/{agent_id}/events"): Route(
        Role.AGENT,
        "The agent's screen-pops and state as Server-Sent Events (hello, pop, history, ended, state)",
        agent="agent_id",
        params=_AGENT_ID,
        produces="text/event-stream",
        answers={200: "the stream", 404: "no such agent", **_SIGNED_IN},
    ),
    ("GET", "/api/history"): Route(
        Role.AGENT,
        "A customer's history across channels, newest first (an agent: its current or last caller's only)",
        query={"number": {"type": "string", "maxLength": 32}},
        answers={200: "OK", 400: "no number", 503: "no database", **_SIGNED_IN},
    ),
    ("POST", "/api/agents/{agent_id}/calls/{call_id}/wrapup"): Route(
        Role.AGENT,
        "Wrap a call up: its disposition code and a note (stored with the call; a later save corrects it)",
        agent="agent_id",
        params={**_AGENT_ID, "call_id": {"type": "string"}},
        body=_WRAPUP,
        body_required=True,
        answers={
            200: "stored",
            400: "bad request",
            404: "no such call",
            422: "not a disposition of the call's queue",
            503: "no database",
            **_SIGNED_IN,
        },
    ),
    # Recordings: an admin, a supervisor of the recording's queue, or the agent who took
    # the call may play one (ccqueue.http.recordings); every playback is audited.
    ("GET", "/api/recordings/{recording_id}"): Route(
        Role.AGENT,
        "A recording's metadata",
        params=_RECORDING_ID,
        audited=True,
        answers={200: "OK", 404: "no such recording", **_SIGNED_IN},
    ),
    ("GET", "/api/recordings/{recording_id}/audio"): Route(
        Role.AGENT,
        "A recording's audio (WAV)",
        params=_RECORDING_ID,
        audited=True,
        produces="audio/wav",
        answers={200: "the file", 404: "no such recording, or its file is gone", **_SIGNED_IN},
    ),
    ("POST", "/api/agents/{agent_id}/recording/{action}"): Route(
        Role.AGENT,
        "Start (a queue that records on demand), pause or resume the recording of the agent's call",
        agent="agent_id",
        params={**_AGENT_ID, "action": {"type": "string", "enum": ["start", "pause", "resume"]}},
        answers={200: "done", 404: "no such agent", 409: "not now (no call, no recording, already in that state)", **_SIGNED_IN},
    ),
    ("POST", "/api/erasures"): Route(
        Role.ADMIN,
        "Erase a customer's personal data by number (calls, callbacks, campaigns, recordings)",
        body=_ERASURE,
        body_required=True,
        answers={
            200: "erased (files_failed lists files that could not be deleted)",
            422: "not a number, or not now",
            **_SIGNED_IN,
        },
    ),
}
