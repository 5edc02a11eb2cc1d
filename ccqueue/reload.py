"""Live reload: a new configuration is checked first, then takes over atomically.

Rules kept here:

1. Nothing changes until the whole new configuration has loaded and validated; an
   invalid one is refused with every problem (file, line, key) and the running one
   stays.
2. The core takes the new settings inside its single task, between two events, or
   refuses them (``reload-refused``: a queue removed while callers wait in it, an
   agent removed while logged in) — again changing nothing.
3. Then, and only then, the rest follows: the IVR trees for new calls (a call already
   in an IVR keeps the tree it started with) and the callbacks settings.
4. Connections are not reopened: a change to ``asterisk``, ``http`` or ``database`` is
   reported as needing a restart and the old values stay in use.
5. Reloads are serialised: a second one waits for the first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from ccqueue.config import ConfigError, load_config
from ccqueue.config.running import RunningConfig, Snapshot
from ccqueue.config.to_core import acd_settings, ivr_trees
from ccqueue.core import events as ev
from ccqueue.core.errors import CcqueueError

log = structlog.get_logger("ccqueue.reload")

RESTART_SECTIONS = ("asterisk", "http", "database", "wallboard")


@dataclass(frozen=True, slots=True)
class ReloadResult:
    applied: bool
    problems: tuple[str, ...] = ()
    error_id: str | None = None
    needs_restart: tuple[str, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "status": "applied" if self.applied else "refused",
            "error": self.error_id,
            "problems": list(self.problems),
            "needs_restart": list(self.needs_restart),
        }


class Reloader:
    """Loads the configuration folder again and lets it take over (rules 1-5)."""

    def __init__(self, running: RunningConfig, *, ask: Callable[[ev.Event], Awaitable[object]]) -> None:
        self._running = running
        self._ask = ask
        self._lock = asyncio.Lock()  # rule 5

    async def reload(self) -> ReloadResult:
        async with self._lock:
            path = self._running.path
            try:
                new = await asyncio.to_thread(load_config, path)
            except ConfigError as exc:
                problems = tuple(str(p) for p in exc.problems)
                log.warning("reload_refused", error_id=exc.error_id, problems=list(problems))
                return ReloadResult(applied=False, problems=problems, error_id=exc.error_id)
            old = self._running.now.config
            restart = tuple(name for name in RESTART_SECTIONS if getattr(new, name) != getattr(old, name))
            if restart:
                new = new.model_copy(update={name: getattr(old, name) for name in restart})
            try:
                settings = acd_settings(new)
                trees = ivr_trees(new)
                await self._ask(ev.SettingsReplaced(settings=settings))
            except CcqueueError as exc:
                log.warning("reload_refused", error_id=exc.error_id, error=str(exc))
                return ReloadResult(applied=False, problems=(str(exc),), error_id=exc.error_id)
            self._running.replace(Snapshot(config=new, trees=trees))
            log.info("config_reloaded", path=str(path), files=list(new.files), needs_restart=list(restart))
            return ReloadResult(applied=True, needs_restart=restart)
