"""Ports on 127.0.0.1 for the servers the tests and benches start."""

from __future__ import annotations

import random
import socket

# Linux hands out outgoing connections' ports from 32768 up (ip_local_port_range): a
# port picked above it at the start of a long run may be taken by a client's connection
# before the server that was to use it starts.
EPHEMERAL_FIRST = 32768


def free_block(size: int, *, first: int = 21000, last: int = EPHEMERAL_FIRST) -> int:
    """A base port such that base .. base+size-1 are free on 127.0.0.1 (TCP and UDP).

    The tests and benches may share the machine with a demo, a benchmark or another run
    of themselves, so their servers take ports nobody holds rather than fixed ones; by
    default below the range outgoing connections take theirs from.
    """
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(first, last - size)
        if all(_free(base + i) for i in range(size)):
            return base
    raise RuntimeError("no block of free ports on 127.0.0.1")


def _free(port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True
