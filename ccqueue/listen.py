"""Listening sockets that a flood of connections cannot starve.

Rules kept here:

1. Every descriptor the daemon may hold is budgeted. At start-up the open-file limit is
   raised from its soft to its hard value (systemd's default soft limit is 1024); a
   reserve is kept for the daemon's own needs (AMI, PostgreSQL, spool files, CRM
   look-ups); HTTP gets at most a quarter of the rest, FastAGI everything else, so
   Asterisk's sessions are never starved by web clients.
2. The accept loops are our own, one connection at a time, so a listener at its cap
   never takes a burst of descriptors from the kernel's queue (asyncio's own loop takes
   up to a backlog's worth per wake-up).
3. An accept that fails (EMFILE, ENFILE, ENOBUFS...) pauses that listener briefly and is
   counted; the count is logged at most once a second, never once per connection, and
   the listener keeps running.
4. HTTP at its cap makes room by closing its oldest idle connection (nginx drains idle
   keep-alive connections the same way when it runs short); a request in progress is
   never cut. With no idle connection to close, the newcomer is closed at once.
"""

from __future__ import annotations

import asyncio
import collections
import errno
import resource
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("ccqueue.listen")

# Descriptors kept back from the listeners: the AMI link, PostgreSQL, spool segments,
# CRM look-ups, logs, the event loop's own. A daemon at rest holds about 20.
RESERVED_FDS = 64
# HTTP serves agents' pages, supervisors and Prometheus: a few hundred clients at most.
HTTP_MAX_CONNECTIONS = 1024
# When the kernel cannot give a descriptor, wait this long before trying again; asyncio
# waits 1 s, shorter keeps the listener responsive once a descriptor is free again.
ACCEPT_RETRY_S = 0.1
# Connections accepted in a row before the accept loop lets other tasks run (an accept
# of a ready connection does not yield by itself).
ACCEPT_BATCH = 64
SUMMARY_EVERY_S = 1.0
# setrlimit never goes above this even with an unlimited hard limit (Linux's nr_open).
OPEN_FILES_CEILING = 1 << 20


def raise_open_files_limit() -> tuple[int, int]:
    """Raise the soft open-file limit to the hard one; (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = OPEN_FILES_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):  # e.g. above the kernel's nr_open: keep what we have
            return soft, soft
        return soft, target
    return soft, soft


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionBudget:
    open_files: int
    http: int  # concurrent HTTP connections
    agi: int  # concurrent FastAGI sessions


def budget(open_files: int) -> ConnectionBudget:
    usable = max(open_files - RESERVED_FDS, 16)
    http = max(4, min(HTTP_MAX_CONNECTIONS, usable // 4))
    return ConnectionBudget(open_files=open_files, http=http, agi=max(4, usable - http))


class Tally:
    """Counts of one kind of trouble, logged as one line at most every second."""

    def __init__(self, event: str, *, level: str = "warning", **context: Any) -> None:
        self._event = event
        self._level = level
        self._context = context
        self._counts: collections.Counter[str] = collections.Counter()
        self._flush: asyncio.TimerHandle | None = None
        self.total = 0

    def add(self, reason: str) -> None:
        self.total += 1
        self._counts[reason] += 1
        if self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(SUMMARY_EVERY_S, self.flush)

    def flush(self) -> None:
        self._flush = None
        if self._counts:
            counts, self._counts = dict(self._counts), collections.Counter()
            getattr(log, self._level)(
                self._event, count=sum(counts.values()), reasons=counts, within_s=SUMMARY_EVERY_S, **self._context
            )

    def close(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
        self.flush()


# The listening socket itself is gone (closed at shutdown): the loop ends.
_LISTENER_GONE = {errno.EBADF, errno.EINVAL, errno.ENOTSOCK}


async def accept_forever(sock: socket.socket, admit: Callable[[socket.socket], Awaitable[None]], *, name: str) -> None:
    """Accept connections on ``sock`` one at a time and hand each to ``admit``."""
    loop = asyncio.get_running_loop()
    failures = Tally("accept_failed", level="error", listener=name, hint="out of descriptors? the listener keeps running")
    sock.setblocking(False)
    accepted = 0
    try:
        while True:
            accepted += 1
            if accepted % ACCEPT_BATCH == 0:  # a flood of ready connections never holds the loop
                await asyncio.sleep(0)
            try:
                conn, _address = await loop.sock_accept(sock)
            except OSError as exc:
                if exc.errno in _LISTENER_GONE:
                    return
                failures.add(exc.strerror or type(exc).__name__)
                await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            conn.setblocking(False)
            try:
                await admit(conn)
            except OSError as exc:  # the peer left before it was set up
                conn.close()
                failures.add(exc.strerror or type(exc).__name__)
    finally:
        failures.close()


def listening_socket(host: str, port: int, *, backlog: int = 128) -> socket.socket:
    """A bound, listening TCP socket (the address is reusable at once after a restart)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class HttpConnections:
    """The HTTP listener's cap, and which connections have a request in progress."""

    def __init__(self, limit: int = HTTP_MAX_CONNECTIONS) -> None:
        self.limit = limit
        self._busy: set[object] = set()  # aiohttp's per-connection protocol objects
        self._refused: Tally | None = None

    @web.middleware
    async def track(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        """Mark the connection busy while its request is handled (it is then never evicted)."""
        protocol = request.protocol
        self._busy.add(protocol)
        try:
            return await handler(request)
        finally:
            self._busy.discard(protocol)

    async def serve(self, sock: socket.socket, server: web.Server) -> None:
        self._refused = Tally("http_connections_shed", limit=self.limit)
        loop = asyncio.get_running_loop()

        async def admit(conn: socket.socket) -> None:
            if not self._make_room(server):
                conn.close()
                assert self._refused is not None
                self._refused.add("every connection busy")
                return
            await loop.connect_accepted_socket(server, conn)

        try:
            await accept_forever(sock, admit, name="http")
        finally:
            self._refused.close()

    def _make_room(self, server: web.Server) -> bool:
        # A connection already told to close (its transport is gone) no longer counts.
        live = [h for h in server.connections if h.transport is not None]
        if len(live) < self.limit:
            return True
        idle = next((h for h in live if h not in self._busy), None)
        if idle is None:
            return False
        idle.force_close()
        assert self._refused is not None
        self._refused.add("oldest idle connection closed")
        return True
