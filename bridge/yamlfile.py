"""Load YAML while remembering the line of every key, so errors can name file, line and field.

PyYAML's node tree carries marks, but marshmallow validates plain dicts; this keeps a side table
from key path to line that the config and mapping loaders use to point at the offending line.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from bridge.errors import ConfigError

KeyPath = tuple[str | int, ...]
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class LocatedYaml:
    """Parsed YAML plus the 1-based line of each key path."""

    def __init__(self, path: Path, data: Any, lines: dict[KeyPath, int]) -> None:
        self.path = path
        self.data = data
        self.lines = lines

    def line_of(self, key_path: KeyPath) -> int | None:
        """Line of the deepest known prefix of `key_path`."""
        for end in range(len(key_path), -1, -1):
            line = self.lines.get(tuple(key_path[:end]))
            if line is not None:
                return line
        return None

    def error(self, key_path: KeyPath, message: str) -> ConfigError:
        line = self.line_of(key_path)
        where = f"{self.path}" + (f", line {line}" if line else "")
        return ConfigError(f"{where}: {_dotted(key_path)}: {message}")


def _walk(
    node: yaml.Node, path: KeyPath, lines: dict[KeyPath, int], dupes: list[tuple[KeyPath, int]]
) -> Any:
    """Plain data from the node tree, recording each key's line and every repeated key.

    PyYAML keeps the last of two equal keys without a word, so a second `status:` block
    silently replaced the first; here a repeat is collected (its path and line) instead.
    """
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = yaml.safe_load(yaml.serialize(key_node))
            child = (*path, str(key))
            if str(key) in out:
                dupes.append((child, key_node.start_mark.line + 1))
                continue
            lines[child] = key_node.start_mark.line + 1
            out[str(key)] = _walk(value_node, child, lines, dupes)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_walk(item, (*path, i), lines, dupes) for i, item in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def load_located(path: Path) -> LocatedYaml:
    """Parse a YAML file; syntax errors become ConfigError with the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{line}: not valid YAML: {problem}") from exc
    lines: dict[KeyPath, int] = {}
    dupes: list[tuple[KeyPath, int]] = []
    data = _walk(node, (), lines, dupes) if node is not None else {}
    doc = LocatedYaml(path, data, lines)
    if dupes:
        raise ConfigError(
            "\n".join(
                f"{path}, line {line}: {_dotted(key_path)}: key given twice "
                f"(first on line {lines[key_path]}); remove one"
                for key_path, line in dupes
            )
        )
    return doc


def _dotted(key_path: KeyPath) -> str:
    return ".".join(str(p) for p in key_path) or "(top level)"


def interpolate_env(doc: LocatedYaml, env: Mapping[str, str] | None = None) -> Any:
    """Replace `${VAR}` and `${VAR:-default}` in string values; an unset VAR is an error.

    Every unset variable is listed in one error (file, line and key of each), so a new
    deployment learns all it must export in one try, not one per start.
    """
    environ = os.environ if env is None else env
    unset: list[str] = []

    def sub(value: Any, path: KeyPath) -> Any:
        if isinstance(value, dict):
            return {k: sub(v, (*path, k)) for k, v in value.items()}
        if isinstance(value, list):
            return [sub(v, (*path, i)) for i, v in enumerate(value)]
        if not isinstance(value, str) or "${" not in value:
            return value

        def one(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            unset.append(str(doc.error(path, f"environment variable {name} is not set")))
            return ""

        return _ENV.sub(one, value)

    data = sub(doc.data, ())
    if unset:
        raise ConfigError("\n".join(unset))
    return data


def flatten_messages(messages: Any, prefix: KeyPath = ()) -> list[tuple[KeyPath, str]]:
    """marshmallow's nested error dict -> [(key path, message)]."""
    out: list[tuple[KeyPath, str]] = []
    if isinstance(messages, dict):
        for key, value in messages.items():
            # marshmallow nests Dict errors under "key"/"value"; the user's path has neither.
            skip = key == "_schema" or (key in ("key", "value") and isinstance(value, (dict, list)))
            step: KeyPath = prefix if skip else (*prefix, key)
            out.extend(flatten_messages(value, step))
    elif isinstance(messages, list):
        if all(isinstance(m, str) for m in messages):
            out.append((prefix, " ".join(messages)))
        else:
            for item in messages:
                out.extend(flatten_messages(item, prefix))
    else:
        out.append((prefix, str(messages)))
    return out


def validation_error(doc: LocatedYaml, messages: Any) -> ConfigError:
    """One ConfigError listing every problem with its line, first problem first."""
    problems = flatten_messages(messages)
    errors = [str(doc.error(path, msg)) for path, msg in problems]
    return ConfigError("\n".join(errors) if errors else f"{doc.path}: invalid")
