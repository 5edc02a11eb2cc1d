"""The pair's pure rules: the role table, the fencing comparison, which spool an
activation may take over."""

from __future__ import annotations

import pytest

from ccqueue.core.lease import (
    ROLE_TRANSITIONS,
    IllegalRoleTransition,
    LeaseChange,
    Role,
    RoleState,
    inherited_spool,
    writable,
)


def test_a_standby_becomes_active_with_its_epoch_and_counts_the_takeover() -> None:
    state = RoleState()
    assert state.apply(LeaseChange.TAKEN, epoch=7) is Role.ACTIVE
    assert (state.role, state.epoch, state.takeovers, state.active) == (Role.ACTIVE, 7, 1, True)


def test_losing_the_lease_makes_a_standby_and_forgets_the_epoch() -> None:
    state = RoleState()
    state.apply(LeaseChange.TAKEN, epoch=3)
    assert state.apply(LeaseChange.LOST) is Role.STANDBY
    assert (state.role, state.epoch, state.takeovers) == (Role.STANDBY, None, 1)
    state.apply(LeaseChange.TAKEN, epoch=5)
    assert (state.epoch, state.takeovers) == (5, 2)


@pytest.mark.parametrize(("role", "change"), [(Role.STANDBY, LeaseChange.LOST), (Role.ACTIVE, LeaseChange.TAKEN)])
def test_a_move_the_table_lacks_is_refused_and_changes_nothing(role: Role, change: LeaseChange) -> None:
    state = RoleState(role=role, epoch=4 if role is Role.ACTIVE else None, takeovers=1)
    with pytest.raises(IllegalRoleTransition) as raised:
        state.apply(change, epoch=9)
    assert raised.value.error_id == "role-transition-illegal"
    assert (state.role, state.epoch, state.takeovers) == (role, 4 if role is Role.ACTIVE else None, 1)


def test_the_table_has_exactly_one_way_in_and_one_way_out() -> None:
    assert ROLE_TRANSITIONS == {
        Role.STANDBY: {LeaseChange.TAKEN: Role.ACTIVE},
        Role.ACTIVE: {LeaseChange.LOST: Role.STANDBY},
    }


@pytest.mark.parametrize("epoch", [None, 0, -1])
def test_an_activation_needs_a_raised_epoch(epoch: int | None) -> None:
    state = RoleState()
    with pytest.raises(ValueError, match="epoch"):
        state.apply(LeaseChange.TAKEN, epoch=epoch)
    assert state.role is Role.STANDBY and state.takeovers == 0


@pytest.mark.parametrize(("mine", "current", "allowed"), [(3, 3, True), (3, 4, False), (3, 10, False), (1, 1, True)])
def test_a_write_lands_only_while_its_epoch_is_the_databases(mine: int, current: int, allowed: bool) -> None:
    assert writable(mine, current) is allowed


def test_an_epoch_behind_the_writers_is_a_broken_database_not_a_pass() -> None:
    with pytest.raises(ValueError, match="behind"):
        writable(5, 4)


@pytest.mark.parametrize(
    ("on_disk", "new", "taken"),
    [
        ([4], 5, 4),  # nobody else was active in between: replayed
        ([3], 5, None),  # epoch 4 was someone else's: fenced, left on disk
        ([2, 3, 4], 5, 4),
        ([], 5, None),
        ([5], 5, None),
        ([0], 1, None),
    ],
)
def test_only_the_directly_preceding_epochs_spool_is_taken_over(on_disk: list[int], new: int, taken: int | None) -> None:
    assert inherited_spool(on_disk, new) == taken
