"""The configuration in force: one immutable snapshot, replaced whole on reload.

Whoever needs a setting that a reload may change (the callback key, a hotline's survey,
the IVR trees for new calls) holds the ``RunningConfig`` and reads ``.now`` when it needs
it. A reload builds a new ``Snapshot`` and swaps it in with one assignment, between two
awaits, so no reader ever sees half of one configuration and half of another.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ccqueue.config.models import Config
from ccqueue.core.ivr import IvrTree


@dataclass(frozen=True, slots=True)
class Snapshot:
    config: Config
    trees: Mapping[str, IvrTree]  # the IVR trees new calls start on


class RunningConfig:
    def __init__(self, snapshot: Snapshot, *, path: Path) -> None:
        self.path = path  # reloaded from here (SIGHUP, POST /api/config/reload)
        self._now = snapshot

    @property
    def now(self) -> Snapshot:
        return self._now

    def replace(self, snapshot: Snapshot) -> None:
        self._now = snapshot
