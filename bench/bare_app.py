"""The comparison point for the intake benchmark: an endpoint that only enqueues.

No signature check, no parsing, no dedupe: the floor of "Flask + one RQ enqueue" on this
machine, measured in the same run as the bridge's real endpoint.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, jsonify, request
from redis import Redis
from rq import Queue
from rq.serializers import JSONSerializer

app = Flask(__name__)
_redis = Redis.from_url(os.environ["BRIDGE_REDIS_URL"])
_queue = Queue("bare", connection=_redis, serializer=JSONSerializer)


def noop(body: str) -> None:
    return None


@app.post("/webhooks/<system>")
def receive(system: str) -> Any:
    job = _queue.enqueue("bench.bare_app.noop", request.get_data(as_text=True))
    return jsonify(status="queued", jobs=[job.id]), 202


@app.get("/healthz")
def healthz() -> Any:
    return jsonify(status="ok")
