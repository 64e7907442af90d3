"""Liveness for load balancers and compose healthchecks: is Redis reachable?"""

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
        return jsonify(status="unavailable", redis=f"{type(exc).__name__}: {exc}"), 503
    return jsonify(status="ok", redis="ok")
