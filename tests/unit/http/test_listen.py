"""The listeners' descriptor budget, accept-error summaries and HTTP's connection cap,
over real loopback sockets (an accept failure is provoked by a stand-in ``sock_accept``)."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import AsyncIterator

import pytest
import structlog
from aiohttp import web

from ccqueue import listen
from ccqueue.listen import HttpConnections, accept_forever, budget, listening_socket


def test_http_never_takes_the_descriptors_fastagi_needs() -> None:
    for limit in (256, 1024, 65536):
        shares = budget(limit)
        assert shares.http + shares.agi + listen.RESERVED_FDS <= limit
        assert shares.agi >= 3 * shares.http or shares.http == listen.HTTP_MAX_CONNECTIONS
    assert budget(1024).http == 240 and budget(1 << 20).http == listen.HTTP_MAX_CONNECTIONS


async def test_accept_failures_are_one_summary_a_second_and_the_listener_keeps_running(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    real_accept = loop.sock_accept
    failures = {"left": 30}

    async def accept(sock: socket.socket) -> tuple[socket.socket, object]:
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError(errno.EMFILE, "Too many open files")
        return await real_accept(sock)

    monkeypatch.setattr(loop, "sock_accept", accept)
    monkeypatch.setattr(listen, "ACCEPT_RETRY_S", 0.01)
    accepted: list[socket.socket] = []

    async def admit(conn: socket.socket) -> None:
        accepted.append(conn)

    sock = listening_socket("127.0.0.1", 0)
    with structlog.testing.capture_logs() as logs:
        task = asyncio.create_task(accept_forever(sock, admit, name="test"))
        client = socket.create_connection(sock.getsockname(), timeout=2)
        async with asyncio.timeout(5):
            while not accepted:
                await asyncio.sleep(0.01)
        await asyncio.sleep(1.1)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    client.close()
    sock.close()
    for conn in accepted:
        conn.close()
    summaries = [e for e in logs if e["event"] == "accept_failed"]
    assert sum(e["count"] for e in summaries) == 30
    assert 1 <= len(summaries) <= 2  # a line a second at most, not one per failure
    assert summaries[0]["reasons"] == {"Too many open files": summaries[0]["count"]}


@pytest.fixture
async def http() -> AsyncIterator[tuple[int, HttpConnections]]:
    connections = HttpConnections(limit=3)
    app = web.Application(middlewares=[connections.track])

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app.router.add_get("/healthz", ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    assert runner.server is not None
    sock = listening_socket("127.0.0.1", 0)
    task = asyncio.create_task(connections.serve(sock, runner.server))
    try:
        yield sock.getsockname()[1], connections
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        sock.close()
        await runner.cleanup()


async def _get(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    async with asyncio.timeout(3):
        answer = await reader.read()
    writer.close()
    return answer


async def test_http_at_its_cap_closes_the_oldest_idle_connection_for_a_new_one(http: tuple[int, HttpConnections]) -> None:
    port, _ = http
    idle = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    idle[1][1].write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
    await asyncio.sleep(0.1)
    assert (await _get(port)).startswith(b"HTTP/1.1 200")
    async with asyncio.timeout(3):
        assert await idle[0][0].read() == b""  # the oldest was closed to make room
    for _, writer in idle:
        writer.close()
