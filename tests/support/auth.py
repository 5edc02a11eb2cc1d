"""Users for tests of the HTTP API: an admin, a supervisor and an agent, each with a
token (a token is checked in microseconds; a password costs ~0.1 s of argon2).

``ADMIN`` is the header set most tests send: the tests of a route's behaviour are not
about who may call it (tests/unit/http/test_auth.py is).
"""

from __future__ import annotations

from types import MappingProxyType

from ccqueue.config.users import Role, User
from ccqueue.credentials import hash_password, hash_token

ADMIN_TOKEN = "ccq_test-admin-token"
SUPERVISOR_TOKEN = "ccq_test-supervisor-token"
AGENT_TOKEN = "ccq_test-agent1-token"
SUPERVISOR_PASSWORD = "sam-signs-in-here"  # for the tests that sign in through a page

USERS = MappingProxyType(
    {
        "root": User(role=Role.ADMIN, tokens=(hash_token(ADMIN_TOKEN),)),
        "sam": User(
            role=Role.SUPERVISOR,
            queues=("support",),
            tokens=(hash_token(SUPERVISOR_TOKEN),),
            password_hash=hash_password(SUPERVISOR_PASSWORD),
        ),
        "alice": User(role=Role.AGENT, agent="agent1", tokens=(hash_token(AGENT_TOKEN),)),
    }
)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


ADMIN = bearer(ADMIN_TOKEN)
SUPERVISOR = bearer(SUPERVISOR_TOKEN)
AGENT = bearer(AGENT_TOKEN)
