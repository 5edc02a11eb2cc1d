"""The shipped Grafana dashboard's queries, as Prometheus runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "deploy" / "grafana" / "ccqueue.json"
RULES = REPO / "deploy" / "prometheus" / "rules.yml"

# Grafana's template variables, as "All" selects them.
VARIABLES = {"$queue": ".*"}


def panels(dashboard: Path = DASHBOARD) -> list[dict[str, Any]]:
    """Every panel that queries (rows left out), nested rows' panels included."""
    found: list[dict[str, Any]] = []
    for panel in json.loads(dashboard.read_text(encoding="utf-8"))["panels"]:
        if panel["type"] == "row":
            found.extend(panel.get("panels", []))
        else:
            found.append(panel)
    return found


def queries(dashboard: Path = DASHBOARD) -> list[tuple[str, str]]:
    """(panel title, PromQL with the variables filled in) for every target of every panel."""
    result = []
    for panel in panels(dashboard):
        for target in panel["targets"]:
            expr = target["expr"]
            for name, value in VARIABLES.items():
                expr = expr.replace(name, value)
            result.append((panel["title"], expr))
    return result
