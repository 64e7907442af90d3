"""What an online check found, in neutral words, and what the mappings use of one system.

Each connector's `check` module (connectors/<type>/check.py) reads its live system and answers
with findings; `bridge check-config --online` prints them and worker start warns with them.
Kept free of config and mapping imports so connectors can depend on it like on bridge.models.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class Level(enum.Enum):
    """How bad a finding is: only PROBLEM makes `check-config --online` fail."""

    OK = "ok"
    WARNING = "warning"  # could not be verified, or works with a limitation worth knowing
    PROBLEM = "problem"  # the bridge would fail (or corrupt data) at runtime


@dataclass(frozen=True)
class Finding:
    level: Level
    text: str  # one sentence a support lead can act on

    @classmethod
    def ok(cls, text: str) -> Finding:
        return cls(Level.OK, text)

    @classmethod
    def warning(cls, text: str) -> Finding:
        return cls(Level.WARNING, text)

    @classmethod
    def problem(cls, text: str) -> Finding:
        return cls(Level.PROBLEM, text)


@dataclass
class Usage:
    """The names the routes' mappings (and the system's options) use on one system.

    Each value maps a name to where it comes from ("route acme: sync.status.to_second"), so a
    finding can say which line of which mapping to fix. `link_attribute` is the field the
    bridge writes the other side's reference into (None: the system's own external id).
    """

    statuses: dict[str, str] = field(default_factory=dict)
    priorities: dict[str, str] = field(default_factory=dict)
    severities: dict[str, str] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)  # second level: where issues go
    categories: dict[str, str] = field(default_factory=dict)
    custom_fields: dict[str, str] = field(default_factory=dict)  # written (by name or id)
    read_fields: dict[str, str] = field(default_factory=dict)  # read (by name or id)
    link_attributes: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def add(table: dict[str, str], name: object, where: str) -> None:
        """Remember a name once (the first place it is used); empty names are skipped."""
        text = str(name).strip() if name is not None else ""
        if text and text not in table:
            table[text] = where


def worst(findings: list[Finding]) -> Level:
    levels = {f.level for f in findings}
    for level in (Level.PROBLEM, Level.WARNING):
        if level in levels:
            return level
    return Level.OK


def identity(user_id: object, label: str, bridge_user: str | None) -> Finding:
    """Whom the credentials belong to, against the configured `bridge_user`.

    A mismatch means the bridge would not recognise its own writes and copy them back.
    """
    if user_id is None:
        return Finding.problem("answered as an anonymous user: the credentials are not accepted")
    if bridge_user and str(user_id) != str(bridge_user):
        return Finding.problem(
            f"the credentials belong to {label} (id {user_id}), but bridge_user is "
            f"{bridge_user}: the bridge would copy its own writes back"
        )
    return Finding.ok(f"credentials of {label} (id {user_id}), the configured bridge_user")


def unknown_names(
    kind: str, used: dict[str, str], known: list[str], consequence: str, fold: bool = False
) -> list[Finding]:
    """One finding per used name the system does not have (`fold`: compare ignoring case)."""

    def key(name: str) -> str:
        return name.strip().lower() if fold else name.strip()

    have = {key(k) for k in known}
    out = []
    for name, where in used.items():
        if key(name) not in have:
            out.append(
                Finding.problem(
                    f"{kind} {name!r} ({where}) does not exist here (known: "
                    f"{', '.join(known) or 'none'}): {consequence}"
                )
            )
    if used and not out:
        out.append(Finding.ok(f"{kind}: {', '.join(sorted(used))} (all exist)"))
    return out
