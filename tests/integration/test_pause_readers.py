"""The read-only commands in a maintenance window: `bridge dry-run` and `check-config --online`
send nothing to a paused system (the sandboxes' request logs say so), say one line per paused
system, and otherwise work."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from click.testing import CliRunner, Result

from bridge.cli import main
from bridge.pause import PauseStore, Scope, ScopeKind, fmt_when
from bridge.sandbox.stack import Stack
from tests.integration.ops_helpers import COMPLETE, DESCRIPTION

UPGRADE = "MantisBT upgrade to 2.27"


def bridge(config: Path, *args: str) -> Result:
    result = CliRunner().invoke(main, [*args, "--config", str(config)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def pause(stack: Stack, kind: ScopeKind, name: str, reason: str = UPGRADE) -> datetime:
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    PauseStore(stack.redis).pause(Scope(kind, name), reason, until, by="test")
    return until


def payload(stack: Stack, tmp_path: Path) -> Path:
    tid = stack.zendesk.create_ticket_as(stack.zd_customer, "Checkout broken", DESCRIPTION,
                                         custom_fields=COMPLETE)["id"]  # fmt: skip
    path = tmp_path / "payload.json"
    path.write_text(json.dumps({"ticket_id": str(tid), "current_user_id": "5", "status": "New"}))
    return path


def test_dry_run_leaves_a_paused_vendor_alone(stack: Stack, tmp_path: Path) -> None:
    sent = payload(stack, tmp_path)
    unpaused = bridge(stack.config_path, "dry-run", "helpdesk", str(sent))
    assert unpaused.exit_code == 0 and "escalate to vendor" in unpaused.output
    until = pause(stack, ScopeKind.SYSTEM, "vendor")
    stack.mantis.clear_log()
    read_before = len(stack.zendesk.request_log)

    result = bridge(stack.config_path, "dry-run", "helpdesk", str(sent))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"vendor: paused until {fmt_when(until)} ({UPGRADE}) — not contacted"
    assert (
        f"  route acme: held: system vendor is paused ({UPGRADE}) -> the sync would wait for "
        "the resume; nothing is read or planned"
    ) in lines
    assert "escalate to vendor" not in result.output
    assert stack.mantis.requests() == []  # nothing reached the paused system
    assert len(stack.zendesk.request_log) == read_before  # a held sync reads nothing either


def test_dry_run_of_a_paused_source_system_reads_nothing_there(
    stack: Stack, tmp_path: Path
) -> None:
    sent = payload(stack, tmp_path)
    PauseStore(stack.redis).pause(Scope(ScopeKind.SYSTEM, "helpdesk"), "", by="test")
    read_before = len(stack.zendesk.request_log)
    result = bridge(stack.config_path, "dry-run", "helpdesk", str(sent))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "helpdesk: paused until resumed — not contacted"
    assert "event ticket_" in result.output  # the payload is still read (it is local)
    assert "route acme: held: system helpdesk is paused -> " in result.output
    assert len(stack.zendesk.request_log) == read_before
    assert stack.mantis.requests() == []


def test_check_config_online_skips_a_paused_system(stack: Stack) -> None:
    # The stack's bridge user is only a developer on the vendor's project: a problem (exit 1).
    assert bridge(stack.config_path, "check-config", "--online").exit_code == 1
    until = pause(stack, ScopeKind.SYSTEM, "vendor")
    stack.mantis.clear_log()

    result = bridge(stack.config_path, "check-config", "--online")
    assert result.exit_code == 0, result.output  # the paused system is not judged
    assert f"  vendor: paused until {fmt_when(until)} ({UPGRADE}) — not contacted\n" in (
        result.output
    )
    assert "  helpdesk: OK\n" in result.output
    assert "PROBLEM" not in result.output and "Redis not reached" not in result.output
    assert stack.mantis.requests() == []


def test_check_config_online_without_redis_checks_every_system(
    stack: Stack, tmp_path: Path
) -> None:
    pause(stack, ScopeKind.SYSTEM, "vendor")  # in a Redis this config does not reach
    raw = yaml.safe_load(stack.config_path.read_text())
    raw["redis_url"] = "redis://127.0.0.1:1/0"
    config = tmp_path / "no-redis.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(
        main, ["check-config", "--online", "--config", str(config)], env={"BRIDGE_REDIS_URL": ""}
    )
    assert result.exit_code == 1, result.output  # vendor checked: the developer problem
    assert "  (Redis not reached: pauses are not known; every system is checked)" in result.output
    assert "  vendor: PROBLEMS" in result.output
    assert stack.mantis.requests() != []
