"""What one sync decision works with, and what it returns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bridge.mapping import RouteMapping
from bridge.protocol import Connector
from bridge.records import PairKey, PairStores


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RouteContext:
    """Everything one decision needs, passed in so tests can hand over fakes."""

    name: str
    mapping: RouteMapping
    language: str
    first: Connector
    second: Connector
    stores: PairStores
    claim_timeout: float = 900.0
    clock: Callable[[], datetime] = utc_now  # when an item was last refused, for instance
    notify_agent_after: float = 3600.0  # seconds a job may fail before the agent is told

    def pair(self, first_id: str) -> PairKey:
        """The pair this route keeps for a first-level ticket."""
        return PairKey(self.name, first_id)


@dataclass(frozen=True)
class Decision:
    """What the engine decided for one ticket, recorded in the sync log and the job result."""

    action: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"action": self.action, "reason": self.reason, **self.details}
