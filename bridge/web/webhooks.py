"""POST /webhooks/<system>: verify, parse, dedupe, enqueue, answer 202.

Ack fast and persist first: the only I/O here is Redis. If Redis is down the sender gets a 503
and retries, and the dedupe key is released so that retry is not mistaken for a duplicate.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from redis.client import Pipeline
from redis.exceptions import RedisError
from werkzeug.exceptions import RequestEntityTooLarge

from bridge.config import Config
from bridge.errors import WebhookError
from bridge.queue import Dispatched, dispatch_events
from bridge.stores.dedupe import PENDING_DELIVERY_TTL
from bridge.telemetry import hooks as telemetry  # metrics + logs
from bridge.telemetry import rejected

bp = Blueprint("webhooks", __name__)


def read_body() -> bytes:
    """The request body, refused with 413 when longer than MAX_CONTENT_LENGTH however framed.

    werkzeug refuses a Content-Length over the limit before reading, but a chunked body (no
    Content-Length; gunicorn and werkzeug's server set `wsgi.input_terminated`) is only cut:
    its LimitedStream stops reading at the limit without an error, and the cut body then
    fails its signature (401) or its JSON (400). So a streamed body that fills the limit is
    probed for one more byte on the server's stream; one more means it was too large.
    """
    raw = request.get_data(cache=False)
    limit = request.max_content_length
    streamed = request.content_length is None
    if (
        streamed
        and limit is not None
        and len(raw) >= limit
        and request.environ["wsgi.input"].read(1)
    ):
        raise RequestEntityTooLarge()
    return raw


def _keep_rejected(system: str, reason: str, detail: str, status: int, body: bytes) -> None:
    """For the console's list of refused webhooks (bridge.telemetry.rejected; it never raises)."""
    ext = current_app.extensions["bridge"]
    rejected.record(ext["redis"], system, reason, detail, status, request.remote_addr, body,
                    ext.get("ops_secrets", ()), datetime.now(UTC))  # fmt: skip


@bp.post("/webhooks/<system>")
def receive(system: str) -> Any:
    ext = current_app.extensions["bridge"]
    config: Config = ext["config"]
    connector = ext["connectors"].get(system)
    if connector is None:
        detail = f"unknown system {system!r}"
        _keep_rejected(system, "UnknownSystem", detail, 404, b"")
        return jsonify(error="Not Found", detail=detail), 404

    try:
        raw = read_body()
    except RequestEntityTooLarge:
        _keep_rejected(system, "BodyTooLarge", "body larger than the limit", 413, b"")
        raise
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        connector.verify_webhook(headers, raw)
        events = connector.parse_webhook(headers, raw)
    except WebhookError as exc:
        telemetry.webhook_rejected(ext["redis"], system, exc)
        _keep_rejected(system, type(exc).__name__, str(exc), exc.http_status, raw)
        return jsonify(error=type(exc).__name__, detail=str(exc)), exc.http_status

    if not config.routes_from(system) and not config.routes_to(system):
        return jsonify(status="ignored", detail="no route uses this system", jobs=[]), 202
    if not events:
        return jsonify(status="ignored", detail="no ticket event in the payload", jobs=[]), 202

    items = [
        (event, f"{event.delivery_id}:{index}" if len(events) > 1 else str(event.delivery_id))
        for index, event in enumerate(events)
    ]

    def count(pipe: Pipeline, results: list[Dispatched]) -> None:  # in the same round trip
        telemetry.webhook_counted(pipe, system, len(events), sum(r.duplicate for r in results))

    try:
        stores = ext["stores"]
        results = dispatch_events(
            items, config, stores.intake, stores.links, ext["queue"], also=count
        )
    except RedisError as exc:
        current_app.logger.error("webhook from %s not queued: %s", system, exc)
        return jsonify(error="Service Unavailable", detail="queue unavailable, retry"), 503
    jobs = [job for r in results for job in r.jobs]
    duplicates = sum(r.duplicate for r in results)
    if any(r.in_progress for r in results):
        # The same delivery is being queued by a request still in flight (or one that failed
        # half-way and whose reservation has not expired yet): not a duplicate until its jobs
        # exist. The sender's retry is answered by what that request committed.
        return (
            jsonify(error="Service Unavailable", detail="delivery is being queued, retry"),
            503,
            {"Retry-After": str(PENDING_DELIVERY_TTL)},
        )
    telemetry.webhook_received(system, events, jobs, duplicates)

    if jobs:
        return jsonify(status="queued", jobs=jobs, duplicates=duplicates), 202
    if duplicates:
        return jsonify(status="duplicate", detail="delivery already received", jobs=[]), 200
    return jsonify(status="ignored", detail="not linked to any escalated ticket", jobs=[]), 202
