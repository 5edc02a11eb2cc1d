"""Steps between the raw YAML data and the typed models, where file and line are known.

Rules kept here:

- A section or a queue written with nothing under it (``hotlines:`` with every
  entry commented out, ``support:`` for an all-defaults queue) counts as empty.
- A queue's name is its key and an agent's id is its key; writing them again
  inside the entry is an unknown key.
- ``secret_env`` / ``dsn_env`` / ``password_env`` name an environment variable, and
  ``secret_file`` / ``dsn_file`` / ``password_file`` a file, read now, at load time.
  One of the value and its ``_env`` and ``_file`` forms may be given; a variable
  that is not set or a file that cannot be read is an error on that line.
  Values read from the environment are never echoed in messages.
- References must resolve: a hotline's queue and each of an agent's queues must
  be defined under ``queues``, and an agent lists a queue once; a user's agent is
  defined under ``agents`` and a supervisor's queues under ``queues``. These checks run
  before the models so that they are reported together with every other problem.

The functions change the data in place; it is the loader's fresh copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ccqueue.config.problems import Collector, describe_value, did_you_mean
from ccqueue.config.yamlfile import KeyPath

__all__ = ["prepare"]

# (path of the mapping, field, required): values that may come from the environment.
_STATIC_ENV_FIELDS: tuple[tuple[KeyPath, str, bool], ...] = (
    (("asterisk", "ami"), "secret", True),
    (("database",), "dsn", False),
)
_EMPTY_WHEN_NULL = (
    "asterisk",
    "http",
    "database",
    "hotlines",
    "queues",
    "agents",
    "schedules",
    "ivr",
    "users",
    "campaigns",
    "recordings",
)


def prepare(data: dict[str, object], env: Mapping[str, str], collector: Collector, *, check_references: bool = True) -> None:
    """Normalise `data` for the models, reporting problems to `collector`.

    `check_references` is false when the queues may be in a file that could not
    be read; every reference would then look dangling.
    """
    for section in _EMPTY_WHEN_NULL:
        if section in data and data[section] is None:
            data[section] = {}
    _name_entries(data, "queues", "name", collector)
    _name_entries(data, "agents", "id", collector)
    for path, field, required in _STATIC_ENV_FIELDS:
        _resolve_env(data, path, field, required, env, collector)
    agents = data.get("agents")
    if isinstance(agents, dict):
        for agent_id in agents:
            _resolve_env(data, ("agents", agent_id), "password", True, env, collector)
    if check_references:
        _check_queue_references(data, collector)
        _check_skill_references(data, collector)
        _check_user_references(data, collector)


def _lookup(data: object, path: KeyPath) -> object:
    for part in path:
        if not isinstance(data, dict) or part not in data:
            return None
        data = data[part]
    return data


def _name_entries(data: dict[str, object], section: str, field: str, collector: Collector) -> None:
    entries = data.get(section)
    if not isinstance(entries, dict):
        return
    for key, entry in entries.items():
        if entry is None and section == "queues":
            entry = entries[key] = {}
        if not isinstance(entry, dict):
            continue  # the models report the wrong type
        if field in entry:
            message = f"unknown key '{field}' (the {section[:-1]}'s {field} is its key, '{key}')"
            collector.add((section, key, field), message, at_key=True)
            del entry[field]
        entry[field] = key


def _resolve_env(
    data: dict[str, object],
    path: KeyPath,
    field: str,
    required: bool,
    env: Mapping[str, str],
    collector: Collector,
) -> None:
    entry = _lookup(data, path)
    if not isinstance(entry, dict):
        return  # missing or of the wrong type: the models say so
    env_field, file_field = f"{field}_env", f"{field}_file"
    given = [name for name in (field, env_field, file_field) if name in entry]
    if len(given) > 1:
        for name in given:
            if name != field:
                del entry[name]
        collector.add((*path, given[1]), f"give one of '{field}', '{env_field}' or '{file_field}', not several", at_key=True)
        collector.mark_reported((*path, field))
        return
    if not given or given[0] == field:
        if required and not given:
            message = (
                f"missing required key '{field}' (or '{env_field}' naming an environment variable, or '{file_field}' a file)"
            )
            collector.add((*path, field), message, at=path, at_key=True)
        return
    form = given[0]
    form_path = (*path, form)
    name = entry.pop(form)
    value = _env_value(name, env) if form == env_field else _file_value(name)
    if isinstance(value, str):
        entry[field] = value
        collector.locations.copy_subtree(form_path, (*path, field))
        return
    collector.add(form_path, value[0])
    collector.mark_reported((*path, field))  # no value: do not also report it as missing


def _env_value(name: object, env: Mapping[str, str]) -> str | tuple[str]:
    """The variable's value, or (the reason there is none,)."""
    if not isinstance(name, str) or not name:
        return (f"expected the name of an environment variable, got {describe_value(name)}",)
    if name not in env:
        return (f"the environment variable '{name}' is not set",)
    return env[name]


def _file_value(name: object) -> str | tuple[str]:
    """The file's text without its final line break (a secret file, e.g. Docker's or
    systemd's credentials), or (the reason there is none,)."""
    if not isinstance(name, str) or not name:
        return (f"expected the path of a file, got {describe_value(name)}",)
    try:
        text = Path(name).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return (f"cannot read the secret file: {exc.strerror if isinstance(exc, OSError) else 'not UTF-8 text'}",)
    value = text.removesuffix("\n").removesuffix("\r")
    if not value:
        return (f"the secret file '{name}' is empty",)
    return value


def _check_queue_references(data: dict[str, object], collector: Collector) -> None:
    queues = data.get("queues", {})
    if not isinstance(queues, dict):
        return  # the models report the section's type; nothing to check against
    known = sorted(queues)

    def unknown(name: str) -> str:
        return f"unknown queue '{name}'{did_you_mean(name, known)}"

    hotlines = data.get("hotlines")
    for number, hotline in hotlines.items() if isinstance(hotlines, dict) else ():
        queue = hotline.get("queue") if isinstance(hotline, dict) else None
        if isinstance(queue, str) and queue not in queues:
            collector.add(("hotlines", number, "queue"), unknown(queue))

    for name, queue_data in queues.items():
        overflow = queue_data.get("overflow") if isinstance(queue_data, dict) else None
        for reason, dest in overflow.items() if isinstance(overflow, dict) else ():
            target = dest.get("queue") if isinstance(dest, dict) else None
            if isinstance(target, str) and target not in queues:
                collector.add(("queues", name, "overflow", reason, "queue"), unknown(target))

    agents = data.get("agents")
    for agent_id, agent in agents.items() if isinstance(agents, dict) else ():
        listed = agent.get("queues") if isinstance(agent, dict) else None
        if not isinstance(listed, list):
            continue
        seen: set[str] = set()
        for index, queue in enumerate(listed):
            if not isinstance(queue, str):
                continue  # the models report the type
            path = ("agents", agent_id, "queues", index)
            if queue not in queues:
                collector.add(path, unknown(queue))
            elif queue in seen:
                collector.add(path, f"queue '{queue}' is listed twice")
            seen.add(queue)


def _check_skill_references(data: dict[str, object], collector: Collector) -> None:
    """A skill a queue requires that no agent holds is almost always a typo."""
    agents, queues = data.get("agents"), data.get("queues")
    if not isinstance(agents, dict) or not isinstance(queues, dict):
        return
    held: set[str] = set()
    for agent in agents.values():
        skills = agent.get("skills") if isinstance(agent, dict) else None
        if isinstance(skills, dict):
            held.update(k for k in skills if isinstance(k, str))
    known = sorted(held)
    for name, queue in queues.items():
        steps = queue.get("steps") if isinstance(queue, dict) else None
        for index, step in enumerate(steps if isinstance(steps, list) else ()):
            for group in ("require", "any_of"):
                skills = step.get(group) if isinstance(step, dict) else None
                for skill in skills if isinstance(skills, dict) else ():
                    if isinstance(skill, str) and skill not in held:
                        collector.add(
                            ("queues", name, "steps", index, group, skill),
                            f"no agent holds skill '{skill}'{did_you_mean(skill, known)}",
                            at_key=True,
                        )


def _check_user_references(data: dict[str, object], collector: Collector) -> None:
    users, agents, queues = data.get("users"), data.get("agents", {}), data.get("queues", {})
    if not isinstance(users, dict):
        return
    for name, user in users.items():
        if not isinstance(user, dict):
            continue  # the models report the type
        agent = user.get("agent")
        if isinstance(agent, str) and isinstance(agents, dict) and agent not in agents:
            collector.add(("users", name, "agent"), f"unknown agent '{agent}'{did_you_mean(agent, sorted(agents))}")
        listed = user.get("queues")
        for index, queue in enumerate(listed if isinstance(listed, list) else ()):
            if isinstance(queue, str) and isinstance(queues, dict) and queue not in queues:
                collector.add(("users", name, "queues", index), f"unknown queue '{queue}'{did_you_mean(queue, sorted(queues))}")
