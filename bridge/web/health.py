"""Alive and ready, for load balancers, compose healthchecks and deploy scripts.

- `/healthz`: this web process answers and reaches Redis, so webhooks are accepted and queued
  (intake needs nothing else). 200 or 503.
- `/readyz`: the whole bridge would sync a ticket now: Redis answering, a live worker, the
  cron alive and a first successful poll or sweep of every polled system (bridge.healthcheck).
  200 or 503, each check named with its state.

Anyone can call them, so every answer is fixed words; an exception (which can name hosts,
ports or auth problems) goes to the log only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify
from redis.exceptions import RedisError

from bridge.healthcheck import readiness

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


@bp.get("/readyz")
def readyz() -> Any:
    bridge = current_app.extensions["bridge"]
    report = readiness(bridge["redis"], bridge["config"], bridge["connectors"])
    answer = jsonify(report.as_dict())
    answer.headers["Cache-Control"] = "no-store"  # a cached "ready" would hide a dead worker
    return answer, 200 if report.ready else 503
