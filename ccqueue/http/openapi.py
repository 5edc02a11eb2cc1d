"""The OpenAPI 3.1 description of the API, served at ``/api/openapi.json``.

It is made from the routes the app actually registered, each described by its row in
the access table (ccqueue.http.access.ROUTES): the summary, who may call it, its
parameters, body and answers. A registered route with no row is described as such
(``x-ccqueue-undescribed``) and fails tests/unit/http/test_access.py, as does a row
for a route that does not exist.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ccqueue.http.access import PUBLIC, ROUTES, Route, route_key
from ccqueue.http.auth import COOKIE, CSRF_HEADER

__all__ = ["openapi", "registered_routes"]

_PARAMETER = re.compile(r"\{([^}:]+)(?::[^}]*)?\}")
_ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {"error": {"type": "string", "description": "stable error id"}, "message": {"type": "string"}},
}


def registered_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, canonical path) of every route the app serves (HEAD folded into GET)."""
    found = {
        route_key(route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource is not None and route.method != "HEAD"
    }
    return sorted(found, key=lambda key: (key[1], key[0]))


def openapi(app: web.Application) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path in registered_routes(app):
        paths.setdefault(_PARAMETER.sub(r"{\1}", path), {})[method.lower()] = _operation(method, path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ccqueue",
            "version": "1",
            "description": "Call queues and ACD for Asterisk. Errors are JSON {error, message} with stable ids. "
            f"Sign in with POST /api/session (a cookie; changes then need the {CSRF_HEADER} header) "
            "or give 'Authorization: Bearer <token>'.",
        },
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": COOKIE},
                "token": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {"Error": _ERROR},
        },
        "paths": paths,
    }


# What the guard and the error middleware may answer on any route of a kind, whatever its
# row lists: a route that needs a user refuses the unsigned (401) and a role it does not
# reach or a change without the session's CSRF token (403); a route with a body refuses
# one that is not what it reads (400), too large (413) or of another media type (415).
_SIGNED_IN_ANSWERS = {401: "not signed in", 403: "the role does not reach it, or no CSRF token"}
_BODY_ANSWERS = {400: "the body is not what the route reads", 413: "the body is too large", 415: "the body is not JSON"}


def _answers(rule: Route) -> dict[int, str]:
    answers = dict(rule.answers)
    if rule.role is not PUBLIC:
        answers = {**_SIGNED_IN_ANSWERS, **answers}
    if rule.body is not None:
        body_answers = {**_BODY_ANSWERS, 415: f"the body is not {rule.consumes}"}
        answers = {**body_answers, **answers}
    return dict(sorted(answers.items()))


def _operation(method: str, path: str) -> dict[str, Any]:
    rule = ROUTES.get((method, path))
    if rule is None:
        return {"summary": "undescribed", "x-ccqueue-undescribed": True}
    operation: dict[str, Any] = {
        "summary": rule.summary,
        "x-ccqueue-role": None if rule.role is PUBLIC else rule.role.value,
        "parameters": [{"name": name, "in": "path", "required": True, "schema": schema} for name, schema in rule.params.items()]
        + [{"name": name, "in": "query", "required": False, "schema": schema} for name, schema in rule.query.items()],
        "responses": {
            str(status): {
                "description": text,
                "content": {rule.produces if status < 400 else "application/json": {"schema": {} if status < 400 else _ERROR}},
            }
            for status, text in _answers(rule).items()
        },
    }
    if rule.openable is not None:
        operation["x-ccqueue-openable"] = rule.openable  # served without sign-in when http.open lists it
    operation["security"] = [] if rule.role is PUBLIC else [{"session": []}, {"token": []}]
    if rule.body is not None:
        operation["requestBody"] = {
            "required": rule.body_required,
            "content": {rule.consumes: {"schema": rule.body}},
        }
    return operation
