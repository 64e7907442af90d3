"""Connector registry keyed by system type.

The engine never imports connectors; the wiring layers (web, jobs, CLI) build them here from the
validated settings. Imports are lazy so a deployment only loads the vendors it configures.
"""

from __future__ import annotations

import importlib

from redis import Redis

from bridge.budget import RequestBudget
from bridge.errors import ConfigError
from bridge.ops.metrics import request_recorder
from bridge.protocol import Connector, SystemSettings

CONNECTORS: dict[str, str] = {
    "zendesk": "connectors.zendesk:ZendeskConnector",
    "mantis": "connectors.mantis:MantisConnector",
    "zammad": "connectors.zammad:ZammadConnector",
}


def build_connector(settings: SystemSettings, redis: Redis | None = None) -> Connector:
    """Build a system's connector; with Redis, its requests share the system's budget and
    are counted and timed in the metrics (bridge.ops.metrics).

    `options.requests_per_minute` (e.g. the Zendesk plan limit, minus a margin for other
    integrations) is enforced across all workers through Redis.
    """
    target = CONNECTORS.get(settings.type)
    if target is None:
        raise ConfigError(f"system {settings.name}: no connector for type {settings.type!r}")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    connector: Connector = cls(settings)
    if redis is not None:
        # Every connector sends through one connectors.http.HttpClient, kept as `.http`.
        connector.http.observe = request_recorder(redis)  # type: ignore[attr-defined]
    per_minute = settings.options.get("requests_per_minute")
    if redis is not None and per_minute:
        budget = RequestBudget(
            redis, settings.name, float(per_minute), int(settings.options.get("burst", 1))
        )
        connector.http.before_request = budget.acquire  # type: ignore[attr-defined]
    return connector
