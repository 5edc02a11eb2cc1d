"""The active/standby pair's rules, apart from PostgreSQL and asyncio (docs/standby.md).

Rules kept here:

1. PostgreSQL decides who is active: the process whose dedicated connection holds the
   pair's advisory lock. Nothing here elects anyone; these functions only say what a
   process does with what PostgreSQL told it.
2. A role moves by a table (``ROLE_TRANSITIONS``): a standby becomes active when it has
   taken the lock *and* raised the fencing epoch; an active becomes a standby the moment
   its lock connection is lost, before it tries to take the lock again. Anything else is
   an ``IllegalRoleTransition`` and changes nothing.
3. Fencing: every epoch belongs to one activation. A write made under epoch ``mine`` is
   allowed only while the database's epoch is still ``mine``; a newer epoch means a
   successor has rebuilt the state, and the old writer's word no longer counts.
4. Records an activation could not write (PostgreSQL away) wait in a spool folder of
   its epoch. The next activation of the same process may take them over only if its
   epoch directly follows (nobody else was active in between); any older folder is
   fenced and left on disk for a person to look at, never replayed.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from ccqueue.core.errors import ExternalError, InternalError

__all__ = [
    "ROLE_TRANSITIONS",
    "Fenced",
    "IllegalRoleTransition",
    "LeaseChange",
    "Role",
    "RoleState",
    "inherited_spool",
    "writable",
]


class Role(enum.Enum):
    STANDBY = "standby"
    ACTIVE = "active"


class LeaseChange(enum.Enum):
    TAKEN = "taken"  # the lock is ours and the epoch raised in the same transaction
    LOST = "lost"  # the lock connection closed, or stopped answering


ROLE_TRANSITIONS: dict[Role, dict[LeaseChange, Role]] = {
    Role.STANDBY: {LeaseChange.TAKEN: Role.ACTIVE},
    Role.ACTIVE: {LeaseChange.LOST: Role.STANDBY},
}


class IllegalRoleTransition(InternalError):
    error_id = "role-transition-illegal"

    def __init__(self, *, role: Role, change: LeaseChange) -> None:
        super().__init__(f"a {role.value} process cannot see its lease {change.value}", role=role.value, change=change.value)


class Fenced(ExternalError):
    """A write under an epoch that a newer active has replaced: refused, never retried."""

    error_id = "fenced"

    def __init__(self, *, mine: int, current: int) -> None:
        super().__init__(f"writes of epoch {mine} are fenced: epoch {current} is active", mine=mine, current=current)
        self.mine = mine
        self.current = current


@dataclass(slots=True)
class RoleState:
    """This process's role, its epoch while active, and how often it took over."""

    role: Role = Role.STANDBY
    epoch: int | None = None
    takeovers: int = 0

    def apply(self, change: LeaseChange, *, epoch: int | None = None) -> Role:
        target = ROLE_TRANSITIONS[self.role].get(change)
        if target is None:
            raise IllegalRoleTransition(role=self.role, change=change)
        if change is LeaseChange.TAKEN:
            if epoch is None or epoch < 1:
                raise ValueError(f"an activation needs the epoch it raised (>= 1), not {epoch!r}")
            self.epoch = epoch
            self.takeovers += 1
        else:
            self.epoch = None
        self.role = target
        return target

    @property
    def active(self) -> bool:
        return self.role is Role.ACTIVE


def writable(mine: int, current: int) -> bool:
    """Rule 3: a write of epoch ``mine`` may land while ``current`` is still ``mine``."""
    if current < mine:
        raise ValueError(f"the database's epoch {current} is behind this writer's {mine}: epochs only grow")
    return current == mine


def inherited_spool(epochs_on_disk: Iterable[int], new_epoch: int) -> int | None:
    """Rule 4: the epoch whose spooled records ``new_epoch`` may replay, if any."""
    previous = new_epoch - 1
    return previous if previous >= 1 and previous in set(epochs_on_disk) else None
