"""/metrics after real jobs: counters live in Redis, so every process's work is counted."""

from __future__ import annotations

import dataclasses
import platform
import socket
import time
from datetime import datetime
from importlib.metadata import version

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rq.job import JobStatus
from rq.serializers import JSONSerializer

from bridge.errors import RetryableError
from bridge.job_names import SYNC_FIRST_LEVEL
from bridge.models import Event, EventKind, SystemRef
from bridge.polling import poll_status
from bridge.queue import enqueue_sync, get_queue
from bridge.registry import build_connector
from bridge.sandbox.stack import Stack, post_zendesk_webhook
from bridge.workers import BridgeWorker
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
    assert value(m, "bridge_jobs_total", route="acme", outcome="synced") == 1  # the escalation
    assert value(m, "bridge_jobs_total", route="acme", outcome="ignored") == 1  # replay: in step
    assert value(m, "bridge_jobs_total", route="acme", outcome="failed") == 0
    assert value(m, "bridge_queue_jobs", queue="bridge", state="parked") == 1
    assert value(m, "bridge_queue_jobs", queue="bridge", state="failed") == 0  # parked apart
    assert value(m, "bridge_queue_jobs", queue="bridge", state="queued") == 0
    done = 2  # synced + ignored: each was timed from its event's arrival
    assert value(m, "bridge_sync_latency_seconds_count", route="acme") == done
    assert value(m, "bridge_sync_latency_seconds_bucket", route="acme", le="+Inf") == done
    assert 0 < value(m, "bridge_sync_latency_seconds_sum", route="acme") < 60 * done
    last_ok = datetime.fromisoformat(poll_status(stack.redis, "vendor")["last_ok"]).timestamp()
    assert value(m, "bridge_poll_last_success_timestamp_seconds", system="vendor") == last_ok
    assert value(m, "bridge_source_last_seen_timestamp_seconds", system="vendor") > 0
    assert value(m, "bridge_source_silence_threshold_seconds", system="vendor") == 180
    assert value(m, "bridge_source_silent", system="vendor") == 0
    # The 403 that parked the escalation, then the create that worked.
    assert value(m, "bridge_remote_requests_total", system="vendor", method="POST",
                 status_class="4xx") == 1  # fmt: skip
    assert value(m, "bridge_remote_requests_total", system="vendor", method="POST",
                 status_class="2xx") == 1  # fmt: skip


def test_rate_limit_waits_and_retries_are_counted(stack: Stack) -> None:
    stack.mantis.fail_next(1, status=429, retry_after=3)
    stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                   custom_fields=COMPLETE)  # fmt: skip
    assert stack.settle(timeout=30)
    m = scrape(stack)
    assert value(m, "bridge_rate_limit_waits_total", route="acme") == 1
    assert value(m, "bridge_rate_limit_wait_seconds_total", route="acme") == 3
    assert value(m, "bridge_jobs_total", route="acme", outcome="retried") == 1
    # The 429, not retried inline: a 3 s wait is for the job layer.
    assert value(m, "bridge_remote_requests_total", system="vendor", method="POST",
                 status_class="4xx") == 1  # fmt: skip


def test_metrics_can_require_the_ops_credentials(stack: Stack) -> None:
    client = ops_app(stack, protect_metrics=True).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers=bearer()).status_code == 200


def _families(stack: Stack) -> dict[str, list[tuple[dict[str, str], float]]]:
    response = ops_app(stack).test_client().get("/metrics", headers=bearer())
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((sample.labels, sample.value))
    return out


def test_every_request_is_counted_by_status_class_and_timed(stack: Stack) -> None:
    stack.mantis.fail_next(2, status=503)  # two inline retries, then the issue is created
    stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                   custom_fields=COMPLETE)  # fmt: skip
    assert stack.settle()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    gone = dataclasses.replace(stack.config.systems["vendor"], url=f"http://127.0.0.1:{port}")
    with pytest.raises(RetryableError):
        build_connector(gone, stack.redis).get_ticket("1")  # refused: no answer at all

    m = scrape(stack)
    post = {"system": "vendor", "method": "POST"}
    assert value(m, "bridge_remote_requests_total", **post, status_class="5xx") == 2
    assert value(m, "bridge_remote_requests_total", **post, status_class="2xx") == 1
    get = {"system": "vendor", "method": "GET"}
    assert value(m, "bridge_remote_requests_total", **get, status_class="error") == 3  # 3 tries
    for labels in (post, get):
        sent = sum(value(m, "bridge_remote_requests_total", **labels, status_class=c)
                   for c in ("2xx", "3xx", "4xx", "5xx", "error"))  # fmt: skip
        assert value(m, "bridge_remote_request_duration_seconds_count", **labels) == sent
        assert value(m, "bridge_remote_request_duration_seconds_bucket", **labels,
                     le="+Inf") == sent  # fmt: skip
        assert value(m, "bridge_remote_request_duration_seconds_sum", **labels) > 0
    helpdesk = [labels for labels, _ in _families(stack)["bridge_remote_requests_total"]
                if labels["system"] == "helpdesk"]  # fmt: skip
    assert {labels["method"] for labels in helpdesk} >= {"GET", "PUT"}  # read, then marked


def test_timestamps_not_ages(stack: Stack) -> None:
    before = time.time()
    tid = stack.zendesk.create_ticket_as(stack.zd_customer, "Crash", DESCRIPTION,
                                         custom_fields=COMPLETE)["id"]  # fmt: skip
    assert stack.settle()
    after = time.time()
    m = scrape(stack)
    webhook = value(m, "bridge_webhook_last_received_timestamp_seconds", system="helpdesk")
    assert before <= webhook <= after
    finished = value(m, "bridge_job_last_finished_timestamp_seconds", route="acme",
                     outcome="synced")  # fmt: skip
    assert webhook <= finished <= after
    seen = value(m, "bridge_source_last_seen_timestamp_seconds", system="helpdesk")
    assert before <= seen <= after
    names = {name for name, _ in m}
    assert not any(name.endswith(("_lag_seconds", "_silence_seconds")) for name in names)
    assert ("bridge_poll_last_success_timestamp_seconds", (("system", "vendor"),)) not in m
    assert tid


def test_build_info_names_the_version_and_python(stack: Stack) -> None:
    labels = {"version": version("ticket-bridge"), "python": platform.python_version()}
    assert value(scrape(stack), "bridge_build_info", **labels) == 1


def test_queue_depth_counts_jobs_waiting_for_their_tickets_slot(stack: Stack) -> None:
    queue = get_queue(stack.redis, stack.config)
    route = stack.config.routes[0]
    event = Event(SystemRef("helpdesk", "77"), EventKind.OTHER)
    first = enqueue_sync(queue, stack.config, route, event, job_id="tb-acme-first")
    second = enqueue_sync(queue, stack.config, route, event, job_id="tb-acme-second")
    assert second.get_status() == JobStatus.RATE_LIMITED  # the first holds the ticket's slot
    m = scrape(stack)
    assert value(m, "bridge_queue_jobs", queue="bridge", state="queued") == 1
    assert value(m, "bridge_queue_jobs", queue="bridge", state="waiting_slot") == 1
    assert first.id != second.id


def test_an_unexpected_error_is_failed_not_parked(stack: Stack) -> None:
    """A job whose payload the code cannot read (a bug, or a job queued by another version)."""
    queue = get_queue(stack.redis, stack.config)
    job = queue.enqueue(
        SYNC_FIRST_LEVEL, args=("acme", "5"), kwargs={"event": {"kind": "comment_added"}},
        meta={"route": "acme", "system": "helpdesk", "ticket": "5"},
    )  # fmt: skip
    BridgeWorker([queue], connection=stack.redis, serializer=JSONSerializer).work(burst=True)
    assert job.get_status() == JobStatus.FAILED
    m = scrape(stack)
    assert value(m, "bridge_jobs_total", route="acme", outcome="failed") == 1
    assert value(m, "bridge_jobs_total", route="acme", outcome="parked") == 0
    assert value(m, "bridge_queue_jobs", queue="bridge", state="failed") == 1
    assert value(m, "bridge_queue_jobs", queue="bridge", state="parked") == 0
    assert value(m, "bridge_job_last_finished_timestamp_seconds", route="acme",
                 outcome="failed") > 0  # fmt: skip


def test_polls_are_counted_by_outcome(stack: Stack) -> None:
    from bridge.job_names import POLL_SYSTEM

    queue = get_queue(stack.redis, stack.config)
    worker = BridgeWorker([queue], connection=stack.redis, serializer=JSONSerializer)
    queue.enqueue(POLL_SYSTEM, args=("vendor",))
    worker.work(burst=True)
    stack.mantis.fail_next(10, status=503)
    queue.enqueue(POLL_SYSTEM, args=("vendor",))
    worker.work(burst=True)
    m = scrape(stack)
    assert value(m, "bridge_polls_total", system="vendor", outcome="ok") == 1
    assert value(m, "bridge_polls_total", system="vendor", outcome="failed") == 1
    assert value(m, "bridge_remote_requests_total", system="vendor", method="GET",
                 status_class="5xx") == 3  # fmt: skip


def test_outcomes_of_an_upgraded_bridge_are_read_under_their_new_names(stack: Stack) -> None:
    stack.redis.hset("tb:metrics:jobs", '["acme", "succeeded"]', 5)
    stack.redis.hset("tb:metrics:jobs", '["acme", "rescheduled"]', 2)
    m = scrape(stack)
    assert value(m, "bridge_jobs_total", route="acme", outcome="synced") == 5
    assert value(m, "bridge_jobs_total", route="acme", outcome="retried") == 2
    assert value(m, "bridge_jobs_total", route="acme", outcome="succeeded") == 0
