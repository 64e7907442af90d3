"""GET /metrics: Prometheus exposition of the metrics every process keeps in Redis.

The registry is per app (never prometheus_client's global one) and holds one collector that
reads Redis at scrape time, so every web replica reports the same totals. Open by default, as
Prometheus scrapers expect; `ops.metrics_token` makes it want `Authorization: Bearer <that
token>`, and `ops.protect_metrics: true` also accepts the console's Bearer token or Basic login.
Wrong credentials count as failed logins of the client address (ops_limits).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from bridge.ops.metrics_scrape import registry_for
from bridge.web import ops_auth

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Any:
    ext = current_app.extensions["bridge"]
    ops = ext["config"].ops
    if not ops_auth.metrics_allowed(ops):
        challenge = 'Bearer realm="Ticket Bridge metrics"'
        if ops is not None and ops.protect_metrics:
            challenge = f"{challenge}, {ops_auth.REALM}"
        return Response("authentication required\n", 401, {"WWW-Authenticate": challenge})
    registry = ext.get("metrics_registry")
    if registry is None:
        registry = ext["metrics_registry"] = registry_for(
            ext["redis"], ext["config"], ext["connectors"]
        )
    headers = {"Content-Type": CONTENT_TYPE_LATEST, "X-Content-Type-Options": "nosniff"}
    return Response(generate_latest(registry), 200, headers)
