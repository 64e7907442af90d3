"""/metrics after real jobs: counters live in Redis, so every process's work is counted."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from bridge.sandbox.stack import Stack, post_zendesk_webhook
from tests.integration.ops_helpers import COMPLETE, DESCRIPTION, bearer, ops_app, park_an_escalation


def scrape(stack: Stack, **ops: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = ops_app(stack, **ops).test_client().get("/metrics", headers=bearer())
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    values = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def value(values: dict, name: str, **labels: str) -> float:  # type: ignore[type-arg]
    return values.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_what_really_happened(stack: Stack) -> None:
    park_an_escalation(stack)  # one job parked
    tid = stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                         custom_fields=COMPLETE)["id"]  # fmt: skip
    assert stack.settle()  # one escalation succeeded
    body = {"ticket_id": str(tid), "current_user_id": str(stack.zd_customer)}
    assert post_zendesk_webhook(stack, body, "replay-1").status_code == 202
    assert post_zendesk_webhook(stack, body, "replay-1").status_code == 200  # duplicate
    assert post_zendesk_webhook(stack, body, "forged", secret="wrong").status_code == 401
    stack.poll("vendor")
    assert stack.settle()

    m = scrape(stack)
    assert value(m, "bridge_redis_up") == 1
    assert value(m, "bridge_events_received_total", system="helpdesk", source="webhook") >= 4
    assert value(m, "bridge_events_deduped_total", system="helpdesk", source="webhook") == 1
    assert value(m, "bridge_events_rejected_total", system="helpdesk",
                 reason="SignatureError") == 1  # fmt: skip
    assert value(m, "bridge_jobs_total", route="acme", outcome="parked") == 1
    assert value(m, "bridge_jobs_total", route="acme", outcome="succeeded") >= 2
    assert value(m, "bridge_queue_jobs", queue="bridge", state="parked") == 1
    assert value(m, "bridge_queue_jobs", queue="bridge", state="queued") == 0
    succeeded = value(m, "bridge_jobs_total", route="acme", outcome="succeeded")
    assert value(m, "bridge_sync_latency_seconds_count", route="acme") == succeeded
    assert value(m, "bridge_sync_latency_seconds_bucket", route="acme", le="+Inf") == succeeded
    assert 0 < value(m, "bridge_sync_latency_seconds_sum", route="acme") < 60 * succeeded
    assert 0 <= value(m, "bridge_poll_lag_seconds", system="vendor") < 60
    assert value(m, "bridge_source_silent", system="vendor") == 0


def test_rate_limit_waits_and_retries_are_counted(stack: Stack) -> None:
    stack.mantis.fail_next(1, status=429, retry_after=3)
    stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                   custom_fields=COMPLETE)  # fmt: skip
    assert stack.settle(timeout=30)
    m = scrape(stack)
    assert value(m, "bridge_rate_limit_waits_total", route="acme") == 1
    assert value(m, "bridge_rate_limit_wait_seconds_total", route="acme") == 3
    assert value(m, "bridge_jobs_total", route="acme", outcome="rescheduled") == 1


def test_metrics_can_require_the_ops_credentials(stack: Stack) -> None:
    client = ops_app(stack, protect_metrics=True).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer()).status_code == 200
