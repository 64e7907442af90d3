"""GET /metrics: Prometheus exposition of the counters workers keep in Redis.

The registry is per app (never prometheus_client's global one) and holds one collector that
reads Redis at scrape time, so every web replica reports the same totals. With
`ops.protect_metrics: true` the endpoint wants the console's Bearer token or Basic login.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.ops.metrics import registry_for
from bridge.web import ops_auth

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Any:
    ext = current_app.extensions["bridge"]
    ops = ext["config"].ops
    if ops is not None and ops.protect_metrics and ops_auth.header_user(ops) is None:
        return Response("authentication required\n", 401, {"WWW-Authenticate": ops_auth.REALM})
    registry = ext.get("metrics_registry")
    if registry is None:
        registry = ext["metrics_registry"] = registry_for(
            ext["redis"], ext["config"], ext["connectors"]
        )
    return Response(generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST})
