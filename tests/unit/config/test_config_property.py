"""ccqueue.config never fails in any way but `ConfigError`, and every problem it
reports is placed: a file always, a line unless the issue is a whole file or a
section that no file has."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ccqueue.config import SECTIONS, Config, ConfigError, load_config

REPO = Path(__file__).resolve().parents[3]

KNOWN_KEYS = [
    *SECTIONS,
    "ami", "agi", "agent_context", "host", "port", "username", "secret", "secret_env", "dsn", "dsn_env",
    "support", "sales", "100", "queue", "greeting", "strategy", "longest_idle", "ring_timeout_s", "wrapup_s",
    "missed_cooldown_s", "moh_class", "agent1", "name", "password", "password_env", "queues", "id", "<<",
]  # fmt: skip

keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(max_size=8))
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(KNOWN_KEYS),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)
documents = st.dictionaries(keys, values, max_size=6)
env = st.dictionaries(st.sampled_from(["AMI", "PW", "DSN", ""]), st.text(max_size=5), max_size=3)
# Fragments that YAML gives meaning to, to splice into otherwise valid text.
yaml_bits = st.sampled_from(
    ["&a ", "*a", "<<: ", "!!int ", "!x ", "- ", ": ", "{", "}", "[", "]", "\n", "  ", "'", '"', "#", "? ", "---\n",
     "%YAML 1.1\n", "|\n", ">\n", "\t", "\x00", "\ufeff", "2020-13-45", "0o17", "~", ".inf"]
)  # fmt: skip


def shipped_documents() -> list[dict[str, object]]:
    return [yaml.safe_load(path.read_text()) for path in sorted((REPO / "config").glob("*.yaml"))]


def assert_loads_or_explains(files: dict[str, str | bytes], environment: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        for name, content in files.items():
            if isinstance(content, bytes):
                (root / name).write_bytes(content)
            else:
                (root / name).write_text(content, encoding="utf-8", errors="surrogatepass")
        try:
            config = load_config(root, env=environment)
        except ConfigError as error:
            assert error.problems
            for problem in error.problems:
                assert isinstance(problem.file, str) and problem.file
                assert isinstance(problem.key, str) and isinstance(problem.message, str) and problem.message
                if problem.line is None:
                    assert "." not in problem.key, problem  # only a whole file or a whole section
                else:
                    assert isinstance(problem.line, int) and problem.line >= 1, problem
                assert str(problem)
            assert str(error)
        else:
            assert isinstance(config, Config)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.text(max_size=60), st.binary(max_size=40)), min_size=1, max_size=3), env)
def test_any_text_loads_or_raises_config_error(texts: list[str | bytes], environment: dict[str, str]) -> None:
    assert_loads_or_explains({f"f{i}.yaml": text for i, text in enumerate(texts)}, environment)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(documents, min_size=1, max_size=3), env)
def test_any_structure_loads_or_raises_config_error(docs: list[dict[str, object]], environment: dict[str, str]) -> None:
    assert_loads_or_explains({f"f{i}.yaml": yaml.safe_dump(doc) for i, doc in enumerate(docs)}, environment)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), env)
def test_mutated_shipped_config_loads_or_raises_config_error(data: st.DataObject, environment: dict[str, str]) -> None:
    docs = shipped_documents()
    for _ in range(data.draw(st.integers(0, 4))):
        doc = data.draw(st.sampled_from(docs))
        # Walk down to a random mapping or list, then replace, add or delete an entry.
        node: object = doc
        while True:
            children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))  # type: ignore[union-attr]
            containers = [(k, v) for k, v in children if isinstance(v, dict | list) and v]
            if not containers or data.draw(st.booleans()):
                break
            node = data.draw(st.sampled_from(containers))[1]
        if isinstance(node, dict):
            node[data.draw(st.sampled_from(sorted(node) or ["x"]) | keys)] = data.draw(values)
        elif node:
            node[data.draw(st.integers(0, len(node) - 1))] = data.draw(values)
    texts = [yaml.safe_dump(doc) for doc in docs]
    if data.draw(st.booleans()):
        index = data.draw(st.integers(0, len(texts) - 1))
        text = texts[index]
        cut = data.draw(st.integers(0, len(text)))
        texts[index] = text[:cut] + data.draw(yaml_bits) + text[cut:]
    assert_loads_or_explains({f"f{i}.yaml": text for i, text in enumerate(texts)}, environment)


def test_unmodified_shipped_documents_load() -> None:
    assert_loads_or_explains({f"f{i}.yaml": yaml.safe_dump(doc) for i, doc in enumerate(shipped_documents())}, {})
