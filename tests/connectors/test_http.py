"""The one HTTP path: error translation and which failures are retried inside the call."""

from __future__ import annotations

import pytest
import requests
import responses

from bridge.errors import PermanentError, RateLimited, RetryableError
from connectors.http import HttpClient
from connectors.transport import parse_retry_after

URL = "https://api.example/v1"


def client() -> HttpClient:
    return HttpClient(URL, attempts=3, wait_max=0)


@responses.activate
def test_get_read_timeout_is_retried_inline() -> None:
    responses.get(f"{URL}/x", body=requests.ReadTimeout("slow"))
    responses.get(f"{URL}/x", json={"ok": True})
    assert client().json("GET", "x") == {"ok": True}
    assert len(responses.calls) == 2


@responses.activate
def test_post_read_timeout_is_not_repeated_and_says_it_may_have_happened() -> None:
    responses.post(f"{URL}/x", body=requests.ReadTimeout("slow"))
    with pytest.raises(RetryableError) as err:
        client().json("POST", "x", json={})
    assert err.value.maybe_applied is True
    assert len(responses.calls) == 1


@responses.activate
def test_post_connection_refused_is_retried_inline() -> None:
    responses.post(f"{URL}/x", body=requests.ConnectionError("refused"))
    responses.post(f"{URL}/x", json={"id": 1}, status=201)
    assert client().json("POST", "x", json={}) == {"id": 1}
    assert len(responses.calls) == 2


@pytest.mark.parametrize(("status", "repeated"), [(503, True), (500, False), (502, False)])
@responses.activate
def test_post_5xx_is_repeated_only_when_nothing_happened(status: int, repeated: bool) -> None:
    responses.post(f"{URL}/x", status=status)
    responses.post(f"{URL}/x", json={"id": 1}, status=201)
    if repeated:
        assert client().json("POST", "x", json={}) == {"id": 1}
    else:
        with pytest.raises(RetryableError) as err:
            client().json("POST", "x", json={})
        assert err.value.maybe_applied
    assert len(responses.calls) == (2 if repeated else 1)


@responses.activate
def test_put_marked_non_idempotent_is_not_repeated() -> None:
    responses.put(f"{URL}/x", status=504)
    with pytest.raises(RetryableError):
        client().json("PUT", "x", idempotent=False, json={})
    assert len(responses.calls) == 1


@responses.activate
def test_long_retry_after_goes_up_to_the_job_layer() -> None:
    responses.get(f"{URL}/x", status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as err:
        client().json("GET", "x")
    assert err.value.retry_after == 30
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("status", "body", "needle"),
    [
        (401, {"error": "Couldn't authenticate you"}, "401 Unauthorized: Couldn't authenticate"),
        (404, {"message": "Issue #5 not found", "code": 1100}, "Issue #5 not found"),
        (422, {"error": "RecordInvalid", "description": "Record validation errors",
               "details": {"status": [{"description": "Status: invalid"}]}}, "status:"),
    ],
)  # fmt: skip
@responses.activate
def test_permanent_errors_carry_the_vendor_reason(status: int, body: dict, needle: str) -> None:  # type: ignore[type-arg]
    responses.get(f"{URL}/x", status=status, json=body)
    with pytest.raises(PermanentError) as err:
        client().json("GET", "x", "read x")
    assert err.value.status == status
    assert needle in str(err.value)
    assert str(err.value).startswith("read x failed: ")


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("12") == 12
    assert parse_retry_after(None, default=5) == 5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past
    assert parse_retry_after("soon", default=7) == 7
