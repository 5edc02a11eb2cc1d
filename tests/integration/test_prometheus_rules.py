"""The shipped Prometheus rules and configuration, and the Grafana dashboard's queries,
checked by the real promtool; every alert has a unit test in rules_test.yml."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from ccqueue.config import load_config
from ccqueue.config.to_core import acd_settings
from ccqueue.core.acd import Acd
from ccqueue.metrics import Metrics, StateCollector
from tests.support.dashboard import DASHBOARD, RULES, panels, queries

PROMETHEUS = RULES.parent


def promtool(*args: str, cwd: Path = PROMETHEUS) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    assert binary, "promtool (Debian package prometheus) is needed; deploy/install-deps.sh installs it"
    return subprocess.run([binary, *args], cwd=cwd, check=False, capture_output=True, text=True, timeout=60)


def test_the_rules_pass_promtool_check() -> None:
    checked = promtool("check", "rules", "rules.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_rules_pass_their_unit_tests() -> None:
    tested = promtool("test", "rules", "rules_test.yml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_has_a_unit_test() -> None:
    rules = yaml.safe_load(RULES.read_text())
    alerts = {r["alert"] for group in rules["groups"] for r in group["rules"] if "alert" in r}
    recorded = {r["record"] for group in rules["groups"] for r in group["rules"] if "record" in r}
    tests = yaml.safe_load((PROMETHEUS / "rules_test.yml").read_text())["tests"]
    tested = {t["alertname"] for test in tests for t in test.get("alert_rule_test", []) if t.get("exp_alerts")}
    expressions = {t["expr"] for test in tests for t in test.get("promql_expr_test", [])}
    assert alerts and alerts <= tested, f"alerts never seen firing in rules_test.yml: {sorted(alerts - tested)}"
    assert recorded <= expressions, f"recording rules without a test: {sorted(recorded - expressions)}"


def test_the_example_configuration_passes_promtool_check() -> None:
    checked = promtool("check", "config", "prometheus.yml")
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses expressions in rule files: each query becomes a recording rule.
    found = queries()
    assert len({title for title, _ in found}) >= 15
    rules = {
        "groups": [{"name": "dashboard", "rules": [{"record": f"dashboard:q{i}", "expr": e} for i, (_, e) in enumerate(found)]}]
    }
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump(rules))
    checked = promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_dashboard_is_a_grafana_dashboard() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "ccqueue" and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "queue"} <= variables
    for panel in panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"] and all(t["expr"] and t["refId"] for t in panel["targets"]), panel["title"]
        assert panel.get("description"), panel["title"]


def test_the_dashboard_and_the_rules_name_only_metrics_ccqueue_exposes(tmp_path: Path) -> None:
    (tmp_path / "ccqueue.yaml").write_text(
        textwrap.dedent(
            """\
            asterisk:
              ami: {username: ccqueue, secret: s3cret}
            queues:
              support: {}
            """
        )
    )
    config = load_config(tmp_path / "ccqueue.yaml", env={})
    registry = CollectorRegistry()
    metrics = Metrics(registry, config=lambda: config)
    registry.register(StateCollector(Acd(acd_settings(config)).views, lambda: {"asterisk_ami": True}, dict, metrics=metrics))
    families = list(text_string_to_metric_families(generate_latest(registry).decode()))
    # A family with no sample yet (the service level of a queue with no call counted) is
    # still exposed: its HELP and TYPE are there.
    exposed = {f.name for f in families} | {sample.name for f in families for sample in f.samples}
    named = set(re.findall(r"(?<![:\w])ccqueue_[a-z_]+", DASHBOARD.read_text() + RULES.read_text()))
    assert named, "no ccqueue metric found in the dashboard and rules"
    assert named <= exposed, f"not exposed by ccqueue: {sorted(named - exposed)}"


@pytest.mark.parametrize("name", ["rules.yml", "rules_test.yml", "prometheus.yml"])
def test_the_shipped_files_are_yaml(name: str) -> None:
    assert yaml.safe_load((PROMETHEUS / name).read_text())
