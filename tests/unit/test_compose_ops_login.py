"""The console login in containers, the one documented way: docker/.env (from
bridge.example.env) holds the values, compose.yaml passes them to every role, and bridge.yaml's
`ops:` block (the one bridge.example.env and the README's Docker section both show) names them.
Read as files, with compose's own `${VAR:-default}` / `${VAR:?error}` substitution."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.config import Config, load_config
from bridge.errors import ConfigError
from bridge.web.ops_auth import check_credentials

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
ROLES = ("web", "worker", "cron")
FILLED_IN = {  # what an operator types into docker/.env
    "ZENDESK_API_TOKEN": "zd-token", "ZENDESK_WEBHOOK_SECRET": "zd-secret",
    "MANTIS_API_TOKEN": "mt-token", "BRIDGE_OPS_USERNAME": "oncall",
    "BRIDGE_OPS_PASSWORD": "correct horse battery", "BRIDGE_OPS_SECRET_KEY": "k" * 32,
}  # fmt: skip


def dot_env(filled: Mapping[str, str]) -> dict[str, str]:
    """docker/.env as `cp bridge.example.env .env` and filling in `filled` makes it."""
    env = {}
    for line in (DOCKER / "bridge.example.env").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    unknown = set(filled) - set(env)
    assert not unknown, f"not in bridge.example.env: {unknown}"
    return {**env, **filled}


def substitute(value: str, env: Mapping[str, str]) -> str:
    """Compose's interpolation of one value: ${VAR}, ${VAR:-default}, ${VAR:?error}."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        got = env.get(name, "")
        if op == ":?" and not got:
            raise AssertionError(f"compose refuses to start: {arg}")
        return got or (arg if op == ":-" else "")

    return re.sub(r"\$\{(\w+)(:[-?])?([^}]*)\}", one, value)


def container_env(role: str, filled: Mapping[str, str]) -> dict[str, str]:
    """The environment compose gives a role's container."""
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    env = dot_env(filled)
    raw = compose["services"][role]["environment"]
    return {name: substitute(str(value), env) for name, value in raw.items()}


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


def readme_ops_block() -> str:
    """The `ops:` block of the README's Docker section ("The console in containers")."""
    text = (ROOT / "README.md").read_text()
    part = text[text.index("**The console in containers.**") :]
    return part.split("```yaml\n", 1)[1].split("```", 1)[0]


def bridge_yaml(tmp_path: Path, with_token: bool) -> Path:
    """docker/bridge.yaml: the example config plus the documented block (its token line only
    when a token is set, as both documents say)."""
    block = documented_ops_block()
    if not with_token:
        block = "\n".join(line for line in block.splitlines() if "BRIDGE_OPS_TOKEN" not in line)
    path = tmp_path / "bridge.yaml"
    path.write_text((ROOT / "bridge" / "examples" / "config.yaml").read_text() + block + "\n")
    return path


def load_as(role: str, path: Path, filled: Mapping[str, str] = FILLED_IN) -> Config:
    """The config as the role's container loads it (compose's BRIDGE_CONFIG is the mount)."""
    env = container_env(role, filled)
    assert env["BRIDGE_CONFIG"] == "/etc/ticket-bridge/bridge.yaml"
    return load_config(path, env)


def test_the_env_example_and_the_readme_show_the_same_ops_block() -> None:
    documented: dict[str, Any] = yaml.safe_load(documented_ops_block())
    assert documented == yaml.safe_load(readme_ops_block())
    assert documented == {"ops": {
        "username": "${BRIDGE_OPS_USERNAME}", "password": "${BRIDGE_OPS_PASSWORD}",
        "secret_key": "${BRIDGE_OPS_SECRET_KEY}", "token": "${BRIDGE_OPS_TOKEN}",
    }}  # fmt: skip


@pytest.mark.parametrize("role", ROLES)
def test_every_role_loads_the_console_login_from_docker_env(role: str, tmp_path: Path) -> None:
    ops = load_as(role, bridge_yaml(tmp_path, with_token=False)).ops
    assert ops is not None  # the console is on
    assert (ops.username, ops.password) == ("oncall", "correct horse battery")
    assert ops.secret_key == "k" * 32 and ops.token is None
    assert check_credentials(ops, "oncall", "correct horse battery", "")
    assert not check_credentials(ops, "oncall", "wrong", "")


def test_a_token_too_when_it_is_set(tmp_path: Path) -> None:
    filled = {**FILLED_IN, "BRIDGE_OPS_TOKEN": "t" * 16}
    ops = load_as("web", bridge_yaml(tmp_path, with_token=True), filled).ops
    assert ops is not None and ops.token == "t" * 16
    assert check_credentials(ops, "", "", "t" * 16)


def test_a_named_key_left_empty_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"ops\.token: use 16\+ chars"):
        load_as("web", bridge_yaml(tmp_path, with_token=True))  # token named, .env empty
    unset = {**FILLED_IN, "BRIDGE_OPS_PASSWORD": ""}
    with pytest.raises(ConfigError, match=r"ops\.password"):
        load_as("web", bridge_yaml(tmp_path, with_token=False), unset)
