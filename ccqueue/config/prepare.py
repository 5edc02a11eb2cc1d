"""Steps between the raw YAML data and the typed models, where file and line are known.

Rules kept here:

- A section or a queue written with nothing under it (``hotlines:`` with every
  entry commented out, ``support:`` for an all-defaults queue) counts as empty.
- A queue's name is its key and an agent's id is its key; writing them again
  inside the entry is an unknown key.
- ``secret_env`` / ``dsn_env`` / ``password_env`` name an environment variable
  read now, at load time. Exactly one of the value and its ``_env`` form may be
  given; a named variable that is not set is an error on the ``_env`` line.
  Values read from the environment are never echoed in messages.
- References must resolve: a hotline's queue and each of an agent's queues must
  be defined under ``queues``, and an agent lists a queue once. These checks run
  before the models so that they are reported together with every other problem.

The functions change the data in place; it is the loader's fresh copy.
"""

from __future__ import annotations

from collections.abc import Mapping

from ccqueue.config.problems import Collector, describe_value, did_you_mean
from ccqueue.config.yamlfile import KeyPath

__all__ = ["prepare"]

# (path of the mapping, field, required): values that may come from the environment.
_STATIC_ENV_FIELDS: tuple[tuple[KeyPath, str, bool], ...] = (
    (("asterisk", "ami"), "secret", True),
    (("database",), "dsn", False),
)
_EMPTY_WHEN_NULL = ("asterisk", "http", "database", "hotlines", "queues", "agents", "schedules", "ivr")


def prepare(
    data: dict[str, object], env: Mapping[str, str], collector: Collector, *, check_references: bool = True
) -> None:
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
    env_field = f"{field}_env"
    env_path = path + (env_field,)
    if env_field not in entry:
        if required and field not in entry:
            message = f"missing required key '{field}' (or '{env_field}' naming an environment variable)"
            collector.add(path + (field,), message, at=path, at_key=True)
        return
    name = entry.pop(env_field)
    if field in entry:
        collector.add(env_path, f"give either '{field}' or '{env_field}', not both", at_key=True)
        return
    if not isinstance(name, str) or not name:
        collector.add(env_path, f"expected the name of an environment variable, got {describe_value(name)}")
    elif name not in env:
        collector.add(env_path, f"the environment variable '{name}' is not set")
    else:
        entry[field] = env[name]
        collector.locations.copy_subtree(env_path, path + (field,))
        return
    collector.mark_reported(path + (field,))  # no value: do not also report it as missing


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
