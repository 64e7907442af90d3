"""The inputs a security review measured as 500s on signed webhooks, replayed through the real
app and a real Redis: each is now a 4xx with a reason, and nothing is queued or logged as a
crash. Also the body limit for chunked requests, through the test client and a real server."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from flask.testing import FlaskClient
from redis import Redis
from werkzeug.serving import make_server

from bridge.queue import get_queue
from bridge.sandbox.signing import zammad_signature, zendesk_signature
from bridge.sandbox.stack import Stack
from bridge.web import create_app

FAR = "9999-12-31T23:59:59-14:00"  # valid ISO-8601, but year 10000 once in UTC
TOO_LARGE = {"error": "Request Entity Too Large"}


@pytest.fixture()
def stack(tmp_path: Path, redis: Redis, redis_url: str) -> Iterator[Stack]:
    """Zendesk as the helpdesk and Zammad as the vendor: both kinds of signed endpoint."""
    with Stack(tmp_path, redis_url=redis_url, worker_process=False, route="zendesk-zammad") as s:
        yield s


@pytest.fixture()
def client(stack: Stack) -> FlaskClient:
    return create_app(stack.config, stack.redis).test_client()


def now_stamp() -> str:
    # The app's Zendesk connector checks the signature's age on the wall clock; signing with
    # the wall clock keeps the request inside its five-minute window.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def zendesk_headers(stack: Stack, raw: bytes, timestamp: str | None = None) -> dict[str, str]:
    stamp = timestamp or now_stamp()
    return {
        "Content-Type": "application/json",
        "X-Zendesk-Webhook-Invocation-Id": "inv-limits",
        "X-Zendesk-Webhook-Signature-Timestamp": stamp,
        "X-Zendesk-Webhook-Signature": zendesk_signature(stack.secrets["helpdesk"], stamp, raw),
    }


def zammad_headers(stack: Stack, raw: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Zammad-Delivery": "delivery-limits",
        "X-Hub-Signature": zammad_signature(stack.secrets["vendor"], raw),
    }


def post(client: FlaskClient, stack: Stack, system: str, raw: bytes, **kw: Any) -> Any:
    sign = zendesk_headers if system == "helpdesk" else zammad_headers
    headers = {**sign(stack, raw), **kw.pop("headers", {})}
    return client.post(f"/webhooks/{system}", data=raw, headers=headers, **kw)


def assert_refused(answer: Any, status: int, error: str, detail: str, stack: Stack) -> None:
    assert answer.status_code == status, answer.get_json()
    body = answer.get_json()
    assert body["error"] == error
    assert detail in body["detail"]
    assert get_queue(stack.redis, stack.config).count == 0


@pytest.fixture(autouse=True)
def no_crash_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert "unhandled error" not in caplog.text
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


# ------------------------------------------------------------------------ out-of-range times


def test_out_of_range_signature_timestamp_is_401(client: FlaskClient, stack: Stack) -> None:
    raw = b'{"ticket_id": "7"}'
    answer = client.post(
        "/webhooks/helpdesk", data=raw, headers=zendesk_headers(stack, raw, timestamp=FAR)
    )
    assert_refused(
        answer,
        401,
        "SignatureError",
        f"x-zendesk-webhook-signature-timestamp '{FAR}' is out of range: "
        "it falls outside the years 1 to 9999 in UTC",
        stack,
    )


def test_out_of_range_updated_at_is_400(client: FlaskClient, stack: Stack) -> None:
    raw = json.dumps({"ticket_id": "7", "updated_at": FAR}).encode()
    answer = post(client, stack, "helpdesk", raw)
    assert_refused(answer, 400, "PayloadError", f'updated_at "{FAR}" is out of range', stack)


def test_out_of_range_event_time_is_400(client: FlaskClient, stack: Stack) -> None:
    event = {"type": "zen:event-type:ticket.created", "detail": {"id": "7"}, "time": FAR}
    answer = post(client, stack, "helpdesk", json.dumps(event).encode())
    assert_refused(answer, 400, "PayloadError", f'time "{FAR}" is out of range', stack)


def test_out_of_range_zammad_updated_at_is_400(client: FlaskClient, stack: Stack) -> None:
    raw = json.dumps({"ticket": {"id": 19, "updated_at": FAR}, "article": {}}).encode()
    answer = post(client, stack, "vendor", raw)
    assert_refused(answer, 400, "PayloadError", f'ticket.updated_at "{FAR}" is out of range', stack)


# ------------------------------------------------------------------ nesting and number size


@pytest.mark.parametrize("system", ["helpdesk", "vendor"])
@pytest.mark.parametrize("levels", [999, 1000, 100_000])
def test_deep_nesting_is_400(client: FlaskClient, stack: Stack, system: str, levels: int) -> None:
    raw = b'{"ticket": ' + b"[" * levels + b"]" * levels + b"}"
    answer = post(client, stack, system, raw)
    assert_refused(answer, 400, "PayloadError", "body is nested deeper than 64 levels", stack)


@pytest.mark.parametrize("system", ["helpdesk", "vendor"])
def test_a_number_over_4300_digits_is_400(client: FlaskClient, stack: Stack, system: str) -> None:
    raw = b'{"ticket_id": ' + b"7" * 4301 + b', "ticket": {"id": 1}}'
    answer = post(client, stack, system, raw)
    assert_refused(
        answer,
        400,
        "PayloadError",
        "body has a number of 4301 characters (77777777777777777777...); at most 64 are accepted",
        stack,
    )


def test_a_digit_string_over_4300_digits_is_400(client: FlaskClient, stack: Stack) -> None:
    raw = json.dumps({"ticket_id": "7" * 4301}).encode()
    answer = post(client, stack, "helpdesk", raw)
    assert_refused(answer, 400, "PayloadError", "ticket_id", stack)
    assert "is out of range (1 to 9223372036854775807)" in answer.get_json()["detail"]


# ------------------------------------------------------------------------- field types


@pytest.mark.parametrize("value", ["-1", "true", "1.5"])
def test_zammad_article_ids_of_the_wrong_type_are_400(
    client: FlaskClient, stack: Stack, value: str
) -> None:
    raw = b'{"ticket": {"id": 19, "article_ids": %s}, "article": {"id": 32}}' % value.encode()
    answer = post(client, stack, "vendor", raw)
    assert_refused(
        answer, 400, "PayloadError", f"ticket.article_ids {value} is not a list of ids", stack
    )


# ------------------------------------------------------------------------- chunked bodies


def chunked(client: FlaskClient, stack: Stack, raw: bytes) -> Any:
    """What gunicorn or werkzeug's server hand the app for `Transfer-Encoding: chunked`: no
    Content-Length, and `wsgi.input_terminated` set because the server ends the stream."""
    headers = {**zendesk_headers(stack, raw), "Transfer-Encoding": "chunked"}
    return client.post(
        "/webhooks/helpdesk",
        data=raw,
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},
    )


def padded(size: int) -> bytes:
    """A valid trigger body of exactly `size` bytes."""
    head, tail = b'{"ticket_id": "7", "pad": "', b'"}'
    return head + b"x" * (size - len(head) - len(tail)) + tail


def test_chunked_body_over_the_limit_is_413_like_content_length(
    client: FlaskClient, stack: Stack
) -> None:
    limit = stack.config.max_body_bytes
    raw = padded(limit + 1)
    by_length = client.post("/webhooks/helpdesk", data=raw, headers=zendesk_headers(stack, raw))
    by_chunks = chunked(client, stack, raw)
    assert by_length.status_code == by_chunks.status_code == 413
    assert (
        by_chunks.get_json()
        == by_length.get_json()
        == {
            **TOO_LARGE,
            "detail": f"body larger than {limit} bytes",
        }
    )
    assert get_queue(stack.redis, stack.config).count == 0


def test_chunked_body_of_exactly_the_limit_is_accepted(client: FlaskClient, stack: Stack) -> None:
    answer = chunked(client, stack, padded(stack.config.max_body_bytes))
    assert answer.status_code == 202
    assert answer.get_json()["status"] == "queued"


def test_chunked_body_over_the_limit_is_413_on_a_real_server(stack: Stack) -> None:
    """werkzeug's own server dechunks and sets wsgi.input_terminated, as gunicorn does."""
    app = create_app(stack.config, stack.redis)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.port}/webhooks/helpdesk"
        limit = stack.config.max_body_bytes
        raw = padded(limit + 1)
        # A generator body makes requests send Transfer-Encoding: chunked.
        chunks = (raw[i : i + 65536] for i in range(0, len(raw), 65536))
        answer = requests.post(url, data=chunks, headers=zendesk_headers(stack, raw), timeout=10)
        assert answer.status_code == 413
        assert answer.json() == {**TOO_LARGE, "detail": f"body larger than {limit} bytes"}
        small = b'{"ticket_id": "7"}'
        headers = zendesk_headers(stack, small)
        ok = requests.post(url, data=iter([small]), headers=headers, timeout=10)
        assert ok.status_code == 202
    finally:
        server.shutdown()
        thread.join(timeout=5)
