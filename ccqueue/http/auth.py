"""Signing in, and the guard every request passes: who it is from, and whether they may.

Rules kept here:

1. A request is from a user by one of two means: a bearer token
   (``Authorization: Bearer ccq_...``, for machines) or the session cookie a browser
   got by signing in with a password. A presented token or cookie that is wrong,
   revoked or expired is refused (401); it never falls back to "anonymous".
2. Users are read from the running configuration on every request, so a reload takes
   effect at once: a user or token removed is refused, a changed role applies.
3. The session cookie is HttpOnly (page scripts cannot read it), SameSite=Strict (a
   browser does not send it with a request another site starts) and Secure when
   ``http.secure_cookies`` says so. The daemon keeps only each session id's SHA-256,
   in memory; a restart signs everyone out. Signing in issues a new id (no fixation).
4. CSRF: a request that changes something and rides on the cookie must carry the
   session's token in ``X-CSRF-Token`` (the page gets it from signing in or from
   ``GET /api/session``; another site can read neither). A request that changes
   something and has a body must say ``Content-Type: application/json``: an HTML
   form can send only form encodings and ``text/plain``, and a cross-site
   ``fetch`` with JSON needs a CORS preflight that ccqueue never grants. Tokens are
   not sent by browsers on their own, so token requests need no CSRF token.
5. The route table (ccqueue.http.access) decides; handlers that learn a queue from a
   body or a record check it with ``reaches_queue(request, queue)``.
6. Every request with a method that changes state (POST, PUT, PATCH, DELETE), and every
   request to a route whose row says ``audited`` (a recording played), is
   audited, accepted or refused, signing in included: an ``AuditRecord`` goes to the
   record writer, which spools it to disk while PostgreSQL is away.
7. A password check costs ~0.1 s of CPU and 64 MiB (argon2id): it runs in a thread,
   at most ``SIGN_IN_CONCURRENCY`` at a time, so a flood of sign-ins cannot starve
   the event loop or the memory.
8. Guessing is slowed per address: after ``SIGN_IN_FAILURES`` wrong passwords from one
   peer within ``SIGN_IN_WINDOW_S``, its sign-ins are refused unchecked
   (``sign-in-throttled``, 429) until the oldest failure leaves the window. Per address,
   not per user name, so nobody can lock a colleague out by typing wrong passwords
   under their name.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import structlog
from aiohttp import web

from ccqueue.config.models import Http
from ccqueue.config.users import Role, User
from ccqueue.core.errors import InternalError, RequestError
from ccqueue.core.records import AuditRecord
from ccqueue.credentials import hash_token, verify_password
from ccqueue.http.access import PUBLIC, ROUTES, Principal, Route, route_key

__all__ = [
    "COOKIE",
    "CSRF_HEADER",
    "ERROR_ID",
    "PRINCIPAL",
    "Auth",
    "CsrfRefused",
    "Forbidden",
    "MediaTypeRefused",
    "NotSignedIn",
    "SignInRefused",
    "SignInThrottled",
    "principal_of",
    "reaches_queue",
]

log = structlog.get_logger("ccqueue.http.auth")

COOKIE = "ccqueue_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SIGN_IN_CONCURRENCY = 2
# 10 failures in 5 minutes: a person mistyping does not get there; a guesser gets
# 120 tries an hour instead of the ~20 a second argon2 would allow. (OWASP's
# Authentication Cheat Sheet asks for some such throttle; GitHub answers 429 too.)
SIGN_IN_FAILURES = 10
SIGN_IN_WINDOW_S = 300.0
MAX_THROTTLED_PEERS = 10_000  # addresses remembered at most; the oldest go first
# Sessions held at most; the oldest go first. Each needs a correct password, so this
# bounds memory against a user signing in in a loop, not against strangers.
MAX_SESSIONS = 10_000
MAX_NAME_CHARS = 64
MAX_PASSWORD_CHARS = 1024  # argon2 takes any length; a megabyte "password" is an attack


# What the guard learns about a request, for the handlers and the audit.
PRINCIPAL = web.RequestKey("principal", Principal)
ROUTE = web.RequestKey("route", str)  # "POST /api/agents/{agent_id}/{action}"
CLAIMED = web.RequestKey("claimed", str)  # the user name a sign-in attempt gave
ERROR_ID = web.ResponseKey("error_id", str)  # set on every error answer


class NotSignedIn(RequestError):
    """No credentials, or credentials that are wrong, revoked or expired."""

    error_id = "not-signed-in"


class SignInRefused(RequestError):
    """Wrong user name or password (which of the two is not said)."""

    error_id = "sign-in-refused"


class SignInThrottled(RequestError):
    """Too many wrong passwords from this address lately."""

    error_id = "sign-in-throttled"


class Forbidden(RequestError):
    """Signed in, but the role does not reach this route, agent or queue."""

    error_id = "forbidden"


class CsrfRefused(RequestError):
    """A change riding on the session cookie without the session's CSRF token."""

    error_id = "csrf-refused"


class MediaTypeRefused(RequestError):
    """A body that is not declared JSON."""

    error_id = "unsupported-media-type"


@dataclass(slots=True)
class _Session:
    user: str
    csrf: str
    started: float
    seen: float


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def principal_of(request: web.Request) -> Principal:
    """The principal the guard admitted (only on routes that need one)."""
    principal = request.get(PRINCIPAL)
    if not isinstance(principal, Principal):
        raise InternalError(f"{request.method} {request.path} reached a handler without a principal")
    return principal


def _principal(name: str, user: User, via: str) -> Principal:
    return Principal(
        name=name,
        role=user.role,
        via=via,
        agent=user.agent,
        queues=None if user.role is Role.ADMIN else frozenset(user.queues),
    )


class Auth:
    """Sessions, the guard middleware, the audit middleware and the session routes."""

    def __init__(
        self,
        *,
        users: Callable[[], Mapping[str, User]],
        settings: Http,
        agent_queues: Callable[[str], tuple[str, ...] | None],
        audit: Callable[[AuditRecord], None] | None = None,
        clock: Callable[[], float] = time.time,
        routes: Mapping[tuple[str, str], Route] = ROUTES,
    ) -> None:
        self._users = users
        self._settings = settings
        self._agent_queues = agent_queues
        self._audit = audit
        self._clock = clock
        self._routes = routes
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._sign_ins = asyncio.Semaphore(SIGN_IN_CONCURRENCY)
        self._failures: OrderedDict[str, list[float]] = OrderedDict()  # peer -> times of wrong passwords
        self._token_index: tuple[Mapping[str, User] | None, dict[str, str]] = (None, {})

    # -- who is it -----------------------------------------------------------------------

    def _token_user(self, token: str) -> tuple[str, User] | None:
        users = self._users()
        if self._token_index[0] is not users:  # rebuilt once per configuration
            self._token_index = (users, {h: name for name, user in users.items() for h in user.tokens})
        name = self._token_index[1].get(hash_token(token))
        if name is None or name not in users:
            return None
        return name, users[name]

    def _session(self, request: web.Request) -> tuple[str, _Session] | None:
        raw = request.cookies.get(COOKIE)
        if not raw:
            return None
        key = _digest(raw)
        session = self._sessions.get(key)
        now = self._clock()
        if session is None:
            raise NotSignedIn("the session has ended; sign in again")
        if now - session.seen > self._settings.session_idle_s or now - session.started > self._settings.session_max_s:
            del self._sessions[key]
            raise NotSignedIn("the session has expired; sign in again")
        return key, session

    def _authenticate(self, request: web.Request) -> tuple[Principal, _Session | None] | None:
        header = request.headers.get("Authorization")
        if header is not None:
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise NotSignedIn("the Authorization header must be 'Bearer <token>'")
            found = self._token_user(token.strip())
            if found is None:
                raise NotSignedIn("the token is not valid (wrong or revoked)")
            return _principal(found[0], found[1], "token"), None
        held = self._session(request)
        if held is None:
            return None
        key, session = held
        user = self._users().get(session.user)
        if user is None:  # removed by a reload
            del self._sessions[key]
            raise NotSignedIn("the user no longer exists; sign in again")
        session.seen = self._clock()
        self._sessions.move_to_end(key)
        return _principal(session.user, user, "session"), session

    # -- the guard -------------------------------------------------------------------------

    @web.middleware
    async def guard(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        match = request.match_info
        if match.http_exception is not None:  # no such route, or wrong method: 404/405 as JSON
            return await handler(request)
        canonical = match.route.resource.canonical if match.route.resource is not None else request.path
        rule = self._routes.get(route_key(request.method, canonical))
        request[ROUTE] = f"{request.method} {canonical}"
        if rule is None:
            log.error("route_without_access_rule", method=request.method, route=canonical)
            raise InternalError(f"{request.method} {canonical} has no access rule")
        if rule.role is PUBLIC:
            self._check_media_type(request, rule.consumes)
            return await handler(request)
        if rule.openable is not None and rule.openable in self._settings.open:
            return await handler(request)
        try:
            found = self._authenticate(request)
        except NotSignedIn:
            if not rule.page:
                raise
            found = None  # an ended session: the page sends the browser to sign in again
        if found is None:
            if rule.page:
                raise web.HTTPSeeOther(location="/signin?next=" + quote(request.path, safe="/"))
            raise NotSignedIn(f"sign in (POST /api/session) or give 'Authorization: Bearer <token>' for {request.path}")
        principal, session = found
        request[PRINCIPAL] = principal
        if session is not None and request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                raise CsrfRefused(f"a change made with the session cookie needs the session's {CSRF_HEADER} header")
        self._check_media_type(request, rule.consumes)
        assert rule.role is not None
        if not principal.role.reaches(rule.role):
            raise Forbidden(
                f"{request.method} {canonical} needs the {rule.role.value} role; {principal.name} is {principal.role.value}"
            )
        if rule.agent is not None:
            agent_id = match[rule.agent]
            if not principal.reaches_agent(agent_id, self._agent_queues(agent_id)):
                raise Forbidden(f"{principal.name} ({principal.role.value}) does not act on agent {agent_id!r}")
        return await handler(request)

    @staticmethod
    def _check_media_type(request: web.Request, consumes: str) -> None:
        if request.method in SAFE_METHODS or not request.body_exists:
            return
        if request.content_type != consumes:
            raise MediaTypeRefused(f"the body must be {consumes} (Content-Type: {consumes}), not {request.content_type!r}")

    # -- the audit -----------------------------------------------------------------------------

    @web.middleware
    async def audited(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.method in SAFE_METHODS and not self._always_audited(request):
            return await handler(request)
        status: int = 500
        error: str | None = "internal"
        try:
            response = await handler(request)
            status, error = response.status, response.get(ERROR_ID)
            return response
        except web.HTTPException as exc:  # a redirect, or an error left to aiohttp
            status, error = exc.status, None if exc.status < 400 else f"http-{exc.status}"
            raise
        finally:
            self._write_audit(request, status, error)

    def _always_audited(self, request: web.Request) -> bool:
        """A route audited whatever its method (a recording played)."""
        match = request.match_info
        if match.http_exception is not None or match.route.resource is None:
            return False
        rule = self._routes.get(route_key(request.method, match.route.resource.canonical))
        return rule is not None and rule.audited

    def _write_audit(self, request: web.Request, status: int, error: str | None) -> None:
        if self._audit is None:
            return
        principal = request.get(PRINCIPAL)
        actor: str | None
        role: str | None
        if isinstance(principal, Principal):
            actor, role, via = principal.name, principal.role.value, principal.via
        else:
            actor, role, via = request.get(CLAIMED), None, "none"
        outcome = "accepted" if status < 400 else ("refused" if status < 500 else "failed")
        try:
            record = AuditRecord(
                audit_id=uuid.uuid4().hex,
                at=self._clock(),
                actor=actor,
                role=role,
                via=via,
                method=request.method[:16],
                path=request.path[:512],
                route=request.get(ROUTE),
                remote=request.remote,
                status=status,
                outcome=outcome,
                error=error,
            )
            self._audit(record)
        except Exception:  # the answer is already decided; the log keeps what the table could not
            log.exception("audit_not_recorded", method=request.method, path=request.path, status=status, error_id="internal")

    # -- the session routes -------------------------------------------------------------------------

    def routes(self) -> web.RouteTableDef:
        routes = web.RouteTableDef()

        @routes.post("/api/session")
        async def sign_in(request: web.Request) -> web.Response:
            name, password = await _credentials(request)
            request[CLAIMED] = name
            peer = request.remote or "-"
            self._check_throttle(peer)
            user = self._users().get(name)
            async with self._sign_ins:
                ok = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
            if not ok or user is None:
                self._failed(peer)
                log.warning("sign_in_refused", user=name, remote=request.remote)
                raise SignInRefused("wrong user name or password")
            old = request.cookies.get(COOKIE)
            if old:
                self._sessions.pop(_digest(old), None)
            session_id, now = secrets.token_urlsafe(32), self._clock()
            session = _Session(user=name, csrf=secrets.token_urlsafe(32), started=now, seen=now)
            self._sessions[_digest(session_id)] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
            principal = _principal(name, user, "session")
            request[PRINCIPAL] = principal
            log.info("signed_in", user=name, role=user.role.value, remote=request.remote)
            response = web.json_response(self._who(principal, session))
            response.set_cookie(
                COOKIE, session_id, httponly=True, samesite="Strict", secure=self._settings.secure_cookies, path="/"
            )
            return response

        @routes.get("/api/session")
        async def who_am_i(request: web.Request) -> web.Response:
            principal = principal_of(request)
            held = self._session(request) if principal.via == "session" else None
            return web.json_response(self._who(principal, held[1] if held else None))

        @routes.delete("/api/session")
        async def sign_out(request: web.Request) -> web.Response:
            raw = request.cookies.get(COOKIE)
            if raw:
                self._sessions.pop(_digest(raw), None)
            response = web.json_response({"signed_out": True})
            response.del_cookie(COOKIE, path="/")
            return response

        return routes

    def _recent_failures(self, peer: str) -> list[float]:
        horizon = self._clock() - SIGN_IN_WINDOW_S
        times = [t for t in self._failures.get(peer, ()) if t > horizon]
        if times:
            self._failures[peer] = times
        else:
            self._failures.pop(peer, None)
        return times

    def _check_throttle(self, peer: str) -> None:
        times = self._recent_failures(peer)
        if len(times) >= SIGN_IN_FAILURES:
            wait_s = max(1, round(times[0] + SIGN_IN_WINDOW_S - self._clock()))
            log.warning("sign_in_throttled", remote=peer, failures=len(times))
            raise SignInThrottled(f"too many wrong passwords from this address; try again in {wait_s} s")

    def _failed(self, peer: str) -> None:
        self._failures.setdefault(peer, []).append(self._clock())
        self._failures.move_to_end(peer)
        while len(self._failures) > MAX_THROTTLED_PEERS:
            self._failures.popitem(last=False)

    @staticmethod
    def _who(principal: Principal, session: _Session | None) -> dict[str, Any]:
        return {
            "user": principal.name,
            "role": principal.role.value,
            "agent": principal.agent,
            "queues": None if principal.queues is None else sorted(principal.queues),
            "via": principal.via,
            "csrf_token": session.csrf if session is not None else None,
        }


async def _credentials(request: web.Request) -> tuple[str, str]:
    example = '{"user": "sam", "password": "..."}'
    try:
        body = await request.json() if request.body_exists else None
    except (ValueError, RecursionError):
        raise RequestError(f"the body is not JSON; expected e.g. {example}") from None
    if not isinstance(body, dict) or set(body) != {"user", "password"}:
        raise RequestError(f"the body must be exactly {example}")
    name, password = body["user"], body["password"]
    if not isinstance(name, str) or not isinstance(password, str) or not name or not password:
        raise RequestError("'user' and 'password' must be non-empty strings")
    if len(name) > MAX_NAME_CHARS or len(password) > MAX_PASSWORD_CHARS:
        raise SignInRefused("wrong user name or password")
    return name, password


def reaches_queue(request: web.Request, queue: str) -> bool:
    """Whether the request's principal reaches ``queue``; a route the guard served
    without sign-in (``http.open``) has no principal and sees every queue."""
    principal = request.get(PRINCIPAL)
    return principal is None or bool(principal.reaches_queue(queue))
