"""The JSON Schema for editors: up to date, complete, and in step with the loader.

Documents are checked with a small validator of the draft-07 keywords the schema
uses (below), and also with the `jsonschema` package where it is installed; the
project does not depend on it.
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from ccqueue.config import ConfigError, load_config, models
from ccqueue.config.campaigns import CampaignName
from ccqueue.config.import_asterisk import convert
from ccqueue.config.schema import DRAFT, NAME_PATTERNS, config_schema, main, render
from ccqueue.config.yamlfile import read_yaml_file

REPO = Path(__file__).resolve().parents[3]
SHIPPED_SCHEMA = REPO / "docs" / "config-schema.json"
CONFIGURATION_DOC = REPO / "docs" / "configuration.md"
SCHEMA = config_schema()

try:  # optional: a second, independent validator
    import jsonschema
except ImportError:  # pragma: no cover - depends on the environment
    jsonschema = None


# --- a small validator for the keywords the schema uses -----------------------------

ANNOTATIONS = {"$schema", "$defs", "title", "description", "default", "format", "writeOnly"}
_JSON_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _resolve(ref: str) -> dict[str, Any]:
    assert ref.startswith("#/"), ref
    node: Any = SCHEMA
    for part in ref[2:].split("/"):
        node = node[part]
    return dict(node)


def _checks(schema: dict[str, Any], value: Any, at: str) -> list[str]:
    errors: list[str] = []
    if "$ref" in schema:
        errors += _checks(_resolve(schema["$ref"]), value, at)
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(_JSON_TYPES[t](value) for t in types):
            return [*errors, f"{at}: not of type {schema['type']}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{at}: not one of {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{at}: too short")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            errors.append(f"{at}: does not match {schema['pattern']}")
    if _JSON_TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{at}: below the minimum")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{at}: above the maximum")
        if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
            errors.append(f"{at}: not above the exclusive minimum")
        if "exclusiveMaximum" in schema and value >= schema["exclusiveMaximum"]:
            errors.append(f"{at}: not below the exclusive maximum")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{at}: too few items")
        if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) < len(value):
            errors.append(f"{at}: items repeat")
        for index, item in enumerate(value):
            errors += _checks(schema.get("items", {}), item, f"{at}[{index}]")
    if isinstance(value, dict):
        errors += [f"{at}: '{key}' is required" for key in schema.get("required", []) if key not in value]
        properties = schema.get("properties", {})
        for key, item in value.items():
            if "propertyNames" in schema:
                errors += _checks(schema["propertyNames"], key, f"{at}.{key} (name)")
            if key in properties:
                errors += _checks(properties[key], item, f"{at}.{key}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{at}: '{key}' is not allowed")
            elif isinstance(schema.get("additionalProperties"), dict):
                errors += _checks(schema["additionalProperties"], item, f"{at}.{key}")
    if "allOf" in schema:
        for sub in schema["allOf"]:
            errors += _checks(sub, value, at)
    if "anyOf" in schema and all(_checks(sub, value, at) for sub in schema["anyOf"]):
        errors.append(f"{at}: matches none of anyOf")
    if "oneOf" in schema and sum(not _checks(sub, value, at) for sub in schema["oneOf"]) != 1:
        errors.append(f"{at}: does not match exactly one of oneOf")
    if "not" in schema and not _checks(schema["not"], value, at):
        errors.append(f"{at}: matches what 'not' forbids")
    return errors


KNOWN_KEYWORDS = ANNOTATIONS | {
    "$ref", "type", "enum", "minLength", "pattern", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems",
    "uniqueItems", "items", "required", "properties", "propertyNames", "additionalProperties", "allOf", "anyOf",
    "oneOf", "not",
}  # fmt: skip


def schema_errors(document: Any) -> list[str]:
    """Every way `document` breaks the schema; both validators must agree on whether it does."""
    errors = _checks(SCHEMA, document, "$")
    if jsonschema is not None:
        other = sorted(e.message for e in jsonschema.Draft7Validator(SCHEMA).iter_errors(document))
        assert bool(other) == bool(errors), (errors, other)
    return errors


def read(text: str, tmp_path: Path, name: str = "config.yaml") -> Any:
    """`text` as the loader reads it (hotline keys stay text), written to `tmp_path/name`."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    parsed = read_yaml_file(path)
    assert not parsed.problems, parsed.problems
    return parsed.data


# --- the shipped files --------------------------------------------------------------


def test_the_shipped_schema_is_what_the_models_generate() -> None:
    assert SHIPPED_SCHEMA.read_text(encoding="utf-8") == render(), (
        "docs/config-schema.json is out of date: python -m ccqueue.config.schema --out docs/config-schema.json"
    )


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "config").glob("*.yaml")))
def test_the_shipped_configuration_files_validate(name: str) -> None:
    parsed = read_yaml_file(REPO / "config" / name)
    assert schema_errors(parsed.data) == []


def test_imported_asterisk_queues_validate(tmp_path: Path) -> None:
    result = convert("[support]\nstrategy = linear\nmember => PJSIP/alice,0,Alice\nmember => PJSIP/bob,1\n")
    for name, text in result.yaml_files.items():
        assert schema_errors(read(text, tmp_path, name)) == [], name


# --- in step with the loader ----------------------------------------------------------

BASE = """\
asterisk:
  ami: {username: ccqueue, secret: s3cret}
"""
ENV = {"CCQUEUE_AMI_SECRET": "s", "CCQUEUE_DSN": "postgresql://x", "SIP_ALICE": "pw"}

GOOD = {
    "base alone": BASE,
    "every section": BASE
    + textwrap.dedent("""\
    http: {host: 0.0.0.0, port: 8081}
    database: {dsn: "postgresql://ccqueue@db/ccqueue"}
    hotlines:
      "100": {queue: support}
      "+4930123#": {queue: sales, greeting: custom/hello}
    queues:
      support:
        strategy: best_skill
        ring_timeout_s: 20.5
        wrapup_s: 0
        priority: -1
        weight: 2
        steps:
          - {require: {billing: 4}, duration_s: 30}
          - {any_of: {billing: 1, english-uk: 2}}
        returning_customer: {window_s: 600, wait_s: 0}
        auto_pause: {after_misses: 2}
      sales:
    agents:
      alice:
        name: Alice
        password_env: SIP_ALICE
        queues: [support, sales]
        skills: {billing: 5, english-uk: 3}
        order: 2
        wrapup_s: 3
        endpoint: PJSIP/alice-desk
    """),
    "secret from the environment": "asterisk:\n  ami: {username: u, secret_env: CCQUEUE_AMI_SECRET}\n",
    "dsn from the environment": BASE + "database: {dsn_env: CCQUEUE_DSN}\n",
    "empty sections": BASE + "http:\ndatabase:\nhotlines:\nqueues:\nagents:\n",
    "null optional settings": BASE + "queues:\n  q: {returning_customer: null, auto_pause: null}\n",
    "an IVR tree and a schedule": BASE
    + textwrap.dedent("""\
    queues: {q: }
    hotlines:
      "300": {ivr: main, language: ru}
    schedules:
      office:
        time_zone: Europe/Berlin
        hours: {mon: ["09:00-18:00"], fri: ["22:00-02:00"]}
        holidays: [{date: "2025-12-25"}, {date: "2025-12-24", hours: ["09:00-12:00"], name: Eve}]
    ivr:
      main:
        entry: start
        max_visits: 20
        transfer_allowed: ['2\\d{3}']
        nodes:
          start: {branch: {conditions: [{schedule_closed: office, goto: bye}], otherwise: menu}}
          menu: {menu: {prompt: beep, keys: {"1": q, "2": desk}, on_exhausted: bye}}
          q: {queue: {name: q, priority: 2}}
          desk: {transfer: {to: "2001"}}
          bye: {hangup:}
    """),
    "campaigns and the outbound trunk": BASE
    + textwrap.dedent("""    queues: {sales: }
    schedules:
      office: {time_zone: America/New_York, holidays: [{date: "2026-12-25"}]}
    outbound: {dial: "PJSIP/{digits}@trunk", region: US, allowed: ['\\+1\\d{10}'], max_channels: 8}
    campaigns:
      reminders:
        mode: predictive
        queues: [sales]
        caller_id: "+12125550100"
        time_zone: America/Chicago
        ring_timeout_s: 20
        retry: {busy: {after_s: 300, max_tries: 5}, machine: null}
        window: {hours: "09:00-20:00", days: [mon, fri], holidays: office}
        abandon_ceiling: 0.02
      notice:
        mode: broadcast
        caller_id: "+12125550100"
        broadcast_message: ccqueue/notice
        on_machine: leave_message
        machine_message: ccqueue/notice
        opt_out_key: "#"
    """),
}

BAD = {
    "unknown section": BASE + "queue: {}\n",
    "unknown queue key": BASE + "queues:\n  q: {wrapup: 3}\n",
    "secret and secret_env": "asterisk:\n  ami: {username: u, secret: s, secret_env: CCQUEUE_AMI_SECRET}\n",
    "neither secret nor secret_env": "asterisk:\n  ami: {username: u}\n",
    "empty secret": "asterisk:\n  ami: {username: u, secret: ''}\n",
    "dsn and dsn_env": BASE + "database: {dsn: postgresql://x, dsn_env: CCQUEUE_DSN}\n",
    "queue name in capitals": BASE + "queues:\n  Support: {}\n",
    "agent id with a dash": BASE + "queues: {q: }\nagents:\n  agent-1: {name: A, password: p, queues: [q]}\n",
    "hotline pattern": BASE + "queues: {q: }\nhotlines:\n  _X.: {queue: q}\n",
    "skill level 6": BASE + "queues: {q: }\nagents:\n  a: {name: A, password: p, skills: {x: 6}}\n",
    "skill name in capitals": BASE + "queues: {q: }\nagents:\n  a: {name: A, password: p, skills: {X: 2}}\n",
    "unknown strategy": BASE + "queues:\n  q: {strategy: fastest}\n",
    "seconds as a string": BASE + "queues:\n  q: {ring_timeout_s: '15'}\n",
    "zero ring timeout": BASE + "queues:\n  q: {ring_timeout_s: 0}\n",
    "priority as a boolean": BASE + "queues:\n  q: {priority: true}\n",
    "port out of range": BASE + "http: {port: 70000}\n",
    "queue listed twice": BASE + "queues: {q: }\nagents:\n  a: {name: A, password: p, queues: [q, q]}\n",
    "queue name written inside": BASE + "queues:\n  q: {name: q}\n",
    "agent id written inside": BASE + "queues: {q: }\nagents:\n  a: {id: a, name: A, password: p}\n",
    "agent without password": BASE + "agents:\n  a: {name: A}\n",
    "no steps": BASE + "queues:\n  q: {steps: []}\n",
    "null agent": BASE + "agents:\n  a:\n",
    "asterisk without ami": "asterisk: {agi: {port: 4573}}\n",
    "hotline with a queue and an ivr": BASE + "queues: {q: }\nhotlines:\n  '1': {queue: q, ivr: t}\n",
    "hotline with neither": BASE + "hotlines:\n  '1': {language: en}\n",
    "unknown node type": BASE + "ivr:\n  t: {entry: a, nodes: {a: {hangupp: {}}}}\n",
    "schedule without a time zone": BASE + "schedules:\n  s: {hours: {mon: ['09:00-10:00']}}\n",
    "unknown language": BASE + "queues: {q: }\nhotlines:\n  '1': {queue: q, language: de}\n",
    "unknown campaign mode": BASE + "campaigns:\n  c: {mode: sometimes, caller_id: '+12125550100'}\n",
    "campaign without a caller id": BASE + "campaigns:\n  c: {mode: broadcast, broadcast_message: m}\n",
    "abandon ceiling of 1": BASE + "campaigns:\n  c: {mode: broadcast, caller_id: '+12125550100', abandon_ceiling: 1}\n",
    "unknown campaign key": BASE + "campaigns:\n  c: {mode: broadcast, caller_id: '+12125550100', moode: x}\n",
    "campaign name in capitals": BASE + "campaigns:\n  C: {mode: broadcast, caller_id: '+12125550100'}\n",
    "calling day twice": BASE + "campaigns:\n  c: {mode: broadcast, caller_id: '+1', window: {days: [mon, mon]}}\n",
    "outbound without allowed": BASE + "outbound: {dial: 'PJSIP/{digits}@t', region: US}\n",
}


@pytest.mark.parametrize("case", GOOD)
def test_what_the_loader_accepts_the_schema_accepts(case: str, tmp_path: Path) -> None:
    data = read(GOOD[case], tmp_path)
    load_config(tmp_path / "config.yaml", env=ENV)
    assert schema_errors(data) == []


@pytest.mark.parametrize("case", BAD)
def test_what_the_schema_refuses_the_loader_refuses(case: str, tmp_path: Path) -> None:
    data = read(BAD[case], tmp_path)
    with pytest.raises(ConfigError):
        load_config(tmp_path / "config.yaml", env=ENV)
    assert schema_errors(data) != []


def test_any_one_file_validates_on_its_own(tmp_path: Path) -> None:
    assert schema_errors(read("agents:\n  a: {name: A, password: p, queues: [elsewhere]}\n", tmp_path)) == []
    assert schema_errors(read("", tmp_path)) == []


NAMES = ["support", "sales-eu", "agent_1", "a", "9", "Support", "agent-1", "", "x y", "é", "100", "+49#*", "_X.", "a\n"]


@pytest.mark.parametrize(
    ("kind", "annotation"),
    [
        ("queue", models.QueueName),
        ("agent", models.AgentId),
        ("hotline", models.HotlineNumber),
        ("skill", models.SkillName),
        ("campaign", CampaignName),
    ],
)
def test_name_patterns_agree_with_the_models(kind: str, annotation: Any) -> None:
    adapter = TypeAdapter(annotation)
    for name in NAMES:
        try:
            adapter.validate_python(name)
            valid = True
        except ValidationError:
            valid = False
        # JSON Schema's "$" also matches before a final newline; editors never see one in a key.
        if not name.endswith("\n"):
            assert bool(re.search(NAME_PATTERNS[kind], name)) is valid, (kind, name)


# --- complete ---------------------------------------------------------------------------


def _walk(node: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    found: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        found.append((path, node))
        for key, value in node.items():
            if key not in ("default", "enum"):
                found += _walk(value, f"{path}.{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _walk(value, f"{path}[{index}]")
    return found


def _schemas() -> list[tuple[str, dict[str, Any]]]:
    """Every subschema (not the property maps holding them)."""
    return [(path, node) for path, node in _walk(SCHEMA) if not path.endswith((".properties", ".$defs"))]


def test_the_schema_uses_only_keywords_the_small_validator_knows() -> None:
    used = {key for _, node in _schemas() for key in node}
    assert used <= KNOWN_KEYWORDS, used - KNOWN_KEYWORDS


def test_the_schema_is_draft_07() -> None:
    assert SCHEMA["$schema"] == DRAFT
    if jsonschema is not None:
        jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_every_model_field_is_in_the_schema_with_a_description() -> None:
    filled_in = {("Queue", "name"), ("Agent", "id")}
    for model in (
        models.Asterisk,
        models.Ami,
        models.Agi,
        models.Http,
        models.Database,
        models.Hotline,
        models.Queue,
        models.RoutingStep,
        models.ReturningCustomer,
        models.AutoPause,
        models.Agent,
    ):
        properties = SCHEMA["$defs"][model.__name__]["properties"]
        fields = {f for f in model.model_fields if (model.__name__, f) not in filled_in}
        assert fields <= set(properties), (model.__name__, fields - set(properties))
        for field, spec in properties.items():
            assert spec.get("description"), (model.__name__, field)
    sections = set(models.Config.model_fields) - {"files"}
    assert set(SCHEMA["properties"]) == sections
    assert all(spec["description"] for spec in SCHEMA["properties"].values())


def test_the_configuration_guide_names_every_key() -> None:
    guide = CONFIGURATION_DOC.read_text(encoding="utf-8")
    keys = set(SCHEMA["properties"])
    for model in SCHEMA["$defs"].values():
        keys |= set(model.get("properties", {}))
    missing = sorted(key for key in keys if f"`{key}`" not in guide)
    assert missing == []
    for strategy in models.Strategy:
        assert f"`{strategy.value}`" in guide


# --- the command ------------------------------------------------------------------------


def test_command_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 0
    assert json.loads(capsys.readouterr().out) == SCHEMA


def test_command_writes_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    assert main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == render()
    assert main(["--out", str(tmp_path / "missing" / "schema.json")]) == 1
