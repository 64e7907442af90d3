"""The metric names are one list: what /metrics exposes, README.md's table, the alert rules and
the Grafana dashboard. A rule or panel naming a metric that does not exist would never fire or
always stay empty, so every name they use is checked against the real collector."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client.core import Metric

from bridge.ops.metrics_scrape import registry_for
from bridge.sandbox.stack import Stack

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docker" / "prometheus" / "alerts.yml"
RULE_TESTS = ROOT / "docker" / "prometheus" / "alerts.test.yml"
DASHBOARD = ROOT / "docker" / "grafana" / "ticket-bridge.json"
NAME = re.compile(r"\bbridge_[a-z0-9_]+\b")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def families(stack: Stack) -> list[Metric]:
    return list(registry_for(stack.redis, stack.config, {}).collect())


def documented(family: Metric) -> str:
    """The name README.md lists a family under: counters with `_total`, others bare."""
    return family.name + ("_total" if family.type == "counter" else "")


def series_names(stack: Stack) -> set[str]:
    """Every sample name a query can use."""
    return {f.name + suffix for f in families(stack) for suffix in SUFFIXES[f.type]}


def readme_table() -> dict[str, str]:
    """README.md's metrics table: name -> type."""
    text = (ROOT / "README.md").read_text()
    rows = re.findall(r"^\| `(bridge_[a-z0-9_]+)` \| (\w+) \|", text, flags=re.MULTILINE)
    assert rows, "README.md has no metrics table"
    return dict(rows)


def rule_expressions() -> list[tuple[str, str]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rules = [rule for group in groups for rule in group["rules"]]
    assert rules and all({"alert", "expr", "labels", "annotations"} <= set(r) for r in rules)
    assert all(r["labels"]["severity"] in ("critical", "warning", "info") for r in rules)
    return [(str(rule["alert"]), str(rule["expr"])) for rule in rules]


def dashboard_expressions() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert panels and all(p.get("targets") for p in panels)
    return [(p["title"], t["expr"]) for p in panels for t in p["targets"]]


def test_the_readme_table_lists_every_metric_and_no_other(stack: Stack) -> None:
    exposed = {documented(f): f.type for f in families(stack)}
    assert readme_table() == exposed


@pytest.mark.parametrize("source", [rule_expressions, dashboard_expressions])
def test_alerts_and_dashboard_use_only_shipped_metric_names(stack: Stack, source) -> None:  # type: ignore[no-untyped-def]
    known = series_names(stack)
    used = {(where, name) for where, expr in source() for name in NAME.findall(expr)}
    assert used, "no metric named at all"
    unknown = sorted((where, name) for where, name in used if name not in known)
    assert not unknown


def test_every_alert_is_exercised_by_the_promtool_tests() -> None:
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert {name for name, _ in rule_expressions()} <= tested


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
def test_promtool_accepts_the_rules_and_their_tests_pass() -> None:
    checked = subprocess.run(
        ["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        ["promtool", "test", "rules", RULE_TESTS.name],
        cwd=RULE_TESTS.parent, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert tested.returncode == 0, tested.stdout + tested.stderr
