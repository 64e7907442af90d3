"""POST /webhooks/<system> through the real Flask app and a real Redis: every answer a sender
can provoke, and what lands in the queue."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from redis import Redis
from rq.job import Job
from rq.serializers import JSONSerializer

from bridge.queue import get_queue
from bridge.sandbox.stack import Stack, post_zendesk_webhook, zendesk_signature
from bridge.web import create_app


def signed_headers(secret: str, raw: bytes, invocation: str = "inv-1", age_s: float = 0):
    ts = (datetime.now(UTC) - timedelta(seconds=age_s)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Invocation-Id": invocation,
        "X-Zendesk-Webhook-Signature-Timestamp": ts,
        "X-Zendesk-Webhook-Signature": zendesk_signature(secret, ts, raw),
    }


BODY = json.dumps({"ticket_id": "7", "current_user_id": "1", "event": "ticket_updated"}).encode()


def client(stack: Stack):  # type: ignore[no-untyped-def]
    return create_app(stack.config, stack.redis).test_client()


def test_signed_webhook_is_queued_with_its_job_id(stack: Stack) -> None:
    answer = client(stack).post(
        "/webhooks/helpdesk", data=BODY, headers=signed_headers(stack.secret, BODY)
    )
    assert answer.status_code == 202
    (job_id,) = answer.get_json()["jobs"]
    job = Job.fetch(job_id, connection=stack.redis, serializer=JSONSerializer)
    assert job.func_name == "bridge.jobs.sync_first_level"
    assert job.args[0:2] == ["acme", "7"]
    assert job.rate_limit_key == "tb:pair:acme:7"
    assert job.rate_limit_concurrency == 1
    assert job.retries_left == 3
    assert get_queue(stack.redis, stack.config).count == 1


def test_replayed_delivery_changes_nothing(stack: Stack) -> None:
    c = client(stack)
    headers = signed_headers(stack.secret, BODY, "same")
    assert c.post("/webhooks/helpdesk", data=BODY, headers=headers).status_code == 202
    again = c.post("/webhooks/helpdesk", data=BODY, headers=headers)
    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate", "detail": "delivery already received",
                                "jobs": []}  # fmt: skip
    assert get_queue(stack.redis, stack.config).count == 1


def test_wrong_signature_is_401(stack: Stack) -> None:
    answer = client(stack).post(
        "/webhooks/helpdesk", data=BODY, headers=signed_headers("not-the-secret", BODY)
    )
    assert answer.status_code == 401
    assert answer.get_json()["error"] == "SignatureError"
    assert get_queue(stack.redis, stack.config).count == 0


def test_missing_signature_is_401(stack: Stack) -> None:
    answer = client(stack).post(
        "/webhooks/helpdesk", data=BODY, headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 401
    assert "x-zendesk-webhook-signature" in answer.get_json()["detail"].lower()


def test_stale_signature_is_401(stack: Stack) -> None:
    answer = client(stack).post(
        "/webhooks/helpdesk", data=BODY, headers=signed_headers(stack.secret, BODY, age_s=400)
    )
    assert answer.status_code == 401
    assert "stale" in answer.get_json()["detail"].lower() or "old" in answer.get_json()["detail"]


def test_malformed_json_is_400_with_the_reason(stack: Stack) -> None:
    raw = b'{"ticket_id": '
    answer = client(stack).post(
        "/webhooks/helpdesk", data=raw, headers=signed_headers(stack.secret, raw)
    )
    assert answer.status_code == 400
    assert "not valid JSON" in answer.get_json()["detail"]


def test_json_without_ticket_is_400_with_the_reason(stack: Stack) -> None:
    raw = b'{"hello": "world"}'
    answer = client(stack).post(
        "/webhooks/helpdesk", data=raw, headers=signed_headers(stack.secret, raw)
    )
    assert answer.status_code == 400
    assert "ticket" in answer.get_json()["detail"]


def test_unknown_system_is_404(stack: Stack) -> None:
    answer = client(stack).post("/webhooks/jira", data=BODY)
    assert answer.status_code == 404
    assert answer.get_json()["detail"] == "unknown system 'jira'"


def test_system_without_webhooks_is_400(stack: Stack) -> None:
    answer = client(stack).post("/webhooks/vendor", data=BODY)
    assert answer.status_code == 400
    assert "polled" in answer.get_json()["detail"]


def test_oversized_body_is_413(stack: Stack) -> None:
    raw = b'{"ticket_id": "1", "pad": "' + b"x" * (stack.config.max_body_bytes + 10) + b'"}'
    answer = client(stack).post(
        "/webhooks/helpdesk", data=raw, headers=signed_headers(stack.secret, raw)
    )
    assert answer.status_code == 413
    assert "larger than" in answer.get_json()["detail"]


def test_healthz_reports_redis(stack: Stack) -> None:
    assert client(stack).get("/healthz").get_json() == {"status": "ok", "redis": "ok"}
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    answer = create_app(stack.config, dead).test_client().get("/healthz")
    assert answer.status_code == 503
    assert answer.get_json()["status"] == "unavailable"


def test_redis_down_answers_503_so_the_sender_retries(stack: Stack) -> None:
    dead = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)
    answer = (
        create_app(stack.config, dead)
        .test_client()
        .post("/webhooks/helpdesk", data=BODY, headers=signed_headers(stack.secret, BODY))
    )
    assert answer.status_code == 503


def test_live_server_accepts_a_real_delivery(stack: Stack) -> None:
    answer = post_zendesk_webhook(stack, {"ticket_id": "9"}, "live-1")
    assert answer.status_code == 202
    assert answer.json()["status"] == "queued"


def test_events_for_a_ticket_with_a_waiting_job_are_coalesced(stack: Stack) -> None:
    c = client(stack)
    first = c.post("/webhooks/helpdesk", data=BODY, headers=signed_headers(stack.secret, BODY, "a"))
    second = c.post(
        "/webhooks/helpdesk", data=BODY, headers=signed_headers(stack.secret, BODY, "b")
    )
    assert first.status_code == second.status_code == 202
    assert first.get_json()["jobs"] == second.get_json()["jobs"]
    assert get_queue(stack.redis, stack.config).count == 1


def test_a_running_job_does_not_swallow_later_events(stack: Stack) -> None:
    c = client(stack)
    first = c.post("/webhooks/helpdesk", data=BODY, headers=signed_headers(stack.secret, BODY, "a"))
    (job_id,) = first.get_json()["jobs"]
    job = Job.fetch(job_id, connection=stack.redis, serializer=JSONSerializer)
    job.set_status("started")  # the worker has begun reading: a later change needs a new job
    later = c.post("/webhooks/helpdesk", data=BODY, headers=signed_headers(stack.secret, BODY, "b"))
    (later_id,) = later.get_json()["jobs"]
    assert later_id != job_id
    assert Job.fetch(later_id, connection=stack.redis, serializer=JSONSerializer).get_status() in (
        "queued",
        "rate_limited",
    )


def test_a_webhook_after_redis_lost_its_scripts_is_still_queued(stack: Stack) -> None:
    """The intake skips SCRIPT EXISTS after the first time; a flushed script cache (a Redis
    restart) must not leave the job saved but never queued."""
    c = client(stack)
    first = c.post("/webhooks/helpdesk", data=BODY, headers=signed_headers(stack.secret, BODY))
    assert first.status_code == 202
    stack.redis.script_flush()
    body = json.dumps({"ticket_id": "8", "current_user_id": "1", "event": "ticket_updated"})
    raw = body.encode()
    answer = c.post("/webhooks/helpdesk", data=raw, headers=signed_headers(stack.secret, raw, "i2"))
    assert answer.status_code == 202
    (job_id,) = answer.get_json()["jobs"]
    job = Job.fetch(job_id, connection=stack.redis, serializer=JSONSerializer)
    assert job.get_status() == "queued"
    assert job_id in get_queue(stack.redis, stack.config).job_ids


def test_a_burst_of_new_tickets_leaves_one_queued_job_each(stack: Stack) -> None:
    c = client(stack)
    ids = []
    for n in range(20, 40):
        raw = json.dumps({"ticket_id": str(n), "current_user_id": "1", "event": "x"}).encode()
        answer = c.post("/webhooks/helpdesk", data=raw,
                        headers=signed_headers(stack.secret, raw, f"burst-{n}"))  # fmt: skip
        assert answer.status_code == 202
        ids += answer.get_json()["jobs"]
    queue = get_queue(stack.redis, stack.config)
    assert sorted(queue.job_ids) == sorted(ids)
    assert len(set(ids)) == 20
    received = stack.redis.hget("tb:metrics:events_received", json.dumps(["helpdesk", "webhook"]))
    assert received is not None and int(received) == 20
