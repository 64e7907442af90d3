"""Liveness for load balancers and compose healthchecks: is Redis reachable?

Anyone can call it, so the answer is a fixed word; the exception (which can name hosts,
ports or auth problems) goes to the log only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> Any:
    redis = current_app.extensions["bridge"]["redis"]
    try:
        redis.ping()
    except RedisError as exc:
        current_app.logger.warning("healthz: redis unreachable: %s: %s", type(exc).__name__, exc)
        return jsonify(status="unavailable", redis="unreachable"), 503
    return jsonify(status="ok", redis="ok")
