"""Who may use the HTTP API: users, their roles, and what each role reaches.

Rules kept here:

- Users live in the configuration (a ``users`` section, any file), not in the
  database: signing in must work while PostgreSQL is down, a change is reviewed like
  any other configuration change, and a reload applies it at once (a removed user or
  token is refused on the next request; a session follows its user's new role).
- Three roles, each reaching more than the one before: an ``agent`` acts on its own
  agent (``agent``: an id under ``agents``); a ``supervisor`` on the agents, callers
  and callbacks of its teams' queues (``queues``) and on reports; an ``admin`` on
  everything, the configuration included.
- A user signs in with a password (``password_hash``: argon2id, made by
  ``ccqueue user hash-password``), or a machine presents a bearer token (``tokens``:
  SHA-256 hashes, made by ``ccqueue user new-token``). Neither is stored in clear.
"""

from __future__ import annotations

import enum
import re
from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator, model_validator

from ccqueue.config.base import Frozen, name_rule
from ccqueue.credentials import PASSWORD_HASH_PREFIX, TOKEN_HASH_PREFIX

__all__ = ["OPENABLE", "Openable", "Role", "User", "UserName"]


class Role(enum.Enum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def reaches(self, needed: Role) -> bool:
        """Whether this role may do what ``needed`` may (each role reaches the ones below)."""
        return self.rank >= needed.rank


_RANKS = {Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}

# Paths a setting may serve without sign-in (http.open).
Openable = Literal["healthz", "metrics", "wallboard", "openapi"]
OPENABLE: tuple[str, ...] = get_args(Openable)

UserName = Annotated[str, name_rule(r"[a-z0-9_.@-]+", "a user name uses only a-z, 0-9, '_', '.', '@' and '-'")]
_TOKEN_HASH = re.compile(re.escape(TOKEN_HASH_PREFIX) + r"[0-9a-f]{64}")
# A dial string: a channel technology, '/', and a resource with no character an AMI
# header or a dialplan application's arguments would read ('|', ',', ';', quotes, blanks).
_PHONE = re.compile(r"[A-Za-z][A-Za-z0-9]{0,15}/[A-Za-z0-9_.@:+\-]{1,80}")


class User(Frozen):
    role: Annotated[Role, Field(strict=False)]
    password_hash: str | None = None  # argon2id; None: signs in with a token only
    tokens: tuple[str, ...] = Field(default=(), strict=False)  # sha256:<hex> of each API token
    agent: str | None = None  # the agent an agent-role user is
    queues: tuple[str, ...] = Field(default=(), strict=False)  # a supervisor's teams
    phone: str | None = None  # a supervisor's or admin's own softphone (dial string) for listening in

    @field_validator("phone")
    @classmethod
    def _dial_string(cls, value: str | None) -> str | None:
        if value is not None and not _PHONE.fullmatch(value):
            raise ValueError(f"phone is a dial string such as 'PJSIP/sup1' (TECH/resource, no blanks or ',;|'), not {value!r}")
        return value

    @field_validator("password_hash")
    @classmethod
    def _argon2(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(PASSWORD_HASH_PREFIX):
            raise ValueError(
                f"password_hash is an argon2id hash ('{PASSWORD_HASH_PREFIX}...'), made by `ccqueue user hash-password`;"
                " never the password itself"
            )
        return value

    @field_validator("tokens")
    @classmethod
    def _token_hashes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            if not _TOKEN_HASH.fullmatch(item):
                raise ValueError(
                    f"a token is stored as '{TOKEN_HASH_PREFIX}' and 64 hex digits, made by `ccqueue user new-token`;"
                    " never the token itself"
                )
        if len(set(value)) != len(value):
            raise ValueError("a token hash is listed twice")
        return value

    @model_validator(mode="after")
    def _role_fields(self) -> User:
        if self.role is Role.AGENT and self.agent is None:
            raise ValueError("an agent user names its agent (agent: <id under agents>)")
        if self.role is not Role.AGENT and self.agent is not None:
            raise ValueError("only an agent user has an agent")
        if self.role is Role.SUPERVISOR and not self.queues:
            raise ValueError("a supervisor lists the queues of its teams (queues: [...])")
        if self.role is not Role.SUPERVISOR and self.queues:
            raise ValueError("only a supervisor has queues (an agent's are its agent's; an admin reaches all)")
        if self.role is Role.AGENT and self.phone is not None:
            raise ValueError("an agent user has no phone of its own here (its agent's endpoint is in agents)")
        if self.password_hash is None and not self.tokens:
            raise ValueError("a user has a password_hash, tokens, or both")
        return self
