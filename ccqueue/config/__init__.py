"""Configuration: YAML files in, one validated, frozen `Config` out.

Rules kept here (details in each module):

- `load_config` reads a directory of ``*.yaml`` files (or one file), and either
  returns a `Config` or raises `ConfigError` listing every `Problem` at once,
  each with file, line and dotted key (``queues.support.ring_timeout_s``).
- Unknown keys, wrong types, dangling references and duplicate keys are errors;
  nothing is silently coerced, nothing is silently ignored.
- A `Config` is immutable and safe to share; secrets print as stars.

Modules: `yamlfile` (YAML -> data + locations), `prepare` (env references,
names, cross-references), `models` (the typed objects), `translate` (validation
errors -> problems), `loader` (files and sections), `problems` (the error types).
"""

from ccqueue.config.loader import SECTIONS, load_config
from ccqueue.config.models import (
    Agent,
    Agi,
    Ami,
    Asterisk,
    Config,
    Database,
    Hotline,
    Http,
    Queue,
    Strategy,
)
from ccqueue.config.problems import ConfigError, Problem

__all__ = [
    "SECTIONS",
    "Agent",
    "Agi",
    "Ami",
    "Asterisk",
    "Config",
    "ConfigError",
    "Database",
    "Hotline",
    "Http",
    "Problem",
    "Queue",
    "Strategy",
    "load_config",
]
