"""The contract every connector passes, whatever vendor it speaks.

One parametrized module, one adapter per connector (tests/contract/cases.py) that serves the
vendor's documented shapes through `responses`. The questions are the ones the engine and the
job layer rely on: which error class a failure becomes (and whether a write may have happened),
that pagination and polling end, that times are UTC-aware, that a write already true is not
sent, and that webhooks with a wrong or missing signature are refused.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses

from bridge.errors import (
    PermanentError,
    RateLimited,
    RetryableError,
    SignatureError,
    WebhookError,
)
from bridge.models import Attachment, Ticket, TicketChanges
from bridge.protocol import Capability, Connector
from connectors.http import REQUEST_DEADLINE
from connectors.transport import ForeignHost
from tests.contract.cases import ContractCase

T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)


def assert_utc(moment: datetime | None) -> None:
    assert moment is not None
    assert moment.tzinfo is not None and moment.utcoffset() == timedelta(0)


def add(rsps: responses.RequestsMock, call: tuple[str, str], status: int, body: Any) -> None:
    method, url = call
    if body is None:
        rsps.add(method, url, status=status, body=b"")
    else:
        rsps.add(method, url, status=status, json=body)


# ----------------------------------------------------------------------------- identity


def test_satisfies_the_connector_protocol(case: ContractCase) -> None:
    connector = case.connector()
    assert isinstance(connector, Connector)
    assert connector.kind == case.name
    assert all(isinstance(c, Capability) for c in connector.capabilities)


# --------------------------------------------------------------------- error translation


@pytest.mark.parametrize("status", [401, 403, 404, 422])
def test_client_errors_are_permanent_with_status(
    case: ContractCase, rsps: responses.RequestsMock, status: int
) -> None:
    add(rsps, case.first_read("17"), status, case.error_body(status))
    with pytest.raises(PermanentError) as info:
        case.connector().get_ticket("17")
    assert info.value.status == status


@pytest.mark.parametrize("status", [409, 500, 502, 503, 504])
def test_conflicts_and_server_errors_are_retryable(
    case: ContractCase, rsps: responses.RequestsMock, status: int
) -> None:
    add(rsps, case.first_read("17"), status, case.error_body(status))
    with pytest.raises(RetryableError) as info:
        case.connector().get_ticket("17")
    assert not isinstance(info.value, RateLimited)


@pytest.mark.parametrize("fault", [requests.ReadTimeout, requests.ConnectTimeout])
def test_timeouts_are_retryable(
    case: ContractCase, rsps: responses.RequestsMock, fault: type[Exception]
) -> None:
    method, url = case.first_read("17")
    rsps.add(method, url, body=fault("slow"))
    with pytest.raises(RetryableError):
        case.connector().get_ticket("17")


def test_429_with_retry_after_is_rate_limited(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    method, url = case.first_read("17")
    rsps.add(method, url, status=429, headers={"Retry-After": "37"}, json=case.error_body(429))
    with pytest.raises(RateLimited) as info:
        case.connector().get_ticket("17")
    assert info.value.retry_after == 37


@pytest.mark.parametrize(
    ("fault", "maybe_applied"),
    [
        (500, True),  # the server may have created it before failing
        (502, True),
        (503, False),  # unavailable: nothing was done
        (409, False),
        (requests.ReadTimeout("sent, no answer"), True),
        (requests.ConnectionError("refused"), False),
    ],
    ids=["500", "502", "503", "409", "read-timeout", "connect-error"],
)
def test_failed_creates_say_whether_they_may_have_happened(
    case: ContractCase, rsps: responses.RequestsMock, fault: Any, maybe_applied: bool
) -> None:
    case.mock_before_create(rsps)
    method, url = case.create_call()
    if isinstance(fault, int):
        rsps.add(method, url, status=fault, json=case.error_body(fault))
    else:
        rsps.add(method, url, body=fault)
    with pytest.raises(RetryableError) as info:
        case.connector().create_ticket(case.draft())
    assert info.value.maybe_applied is maybe_applied
    assert [c.request.method for c in rsps.calls].count(method) == 1  # never resent inline


# ------------------------------------------------------------------- deadlines, downloads


class Clock:
    """A monotonic clock that stands still until a fake server says time has passed."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def slow_answer(clock: Clock, seconds: float, body: Any) -> Any:
    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        clock.now += seconds  # the server took this long
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    return answer


def test_a_read_over_its_deadline_is_retryable_and_names_the_call(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    clock = Clock()
    method, url = case.first_read("17")
    rsps.add_callback(method, url, slow_answer(clock, REQUEST_DEADLINE + 1, {}))
    connector = case.connector(monotonic=clock)
    with pytest.raises(RetryableError) as info:
        connector.get_ticket("17")
    message = str(info.value)
    assert f"{connector.settings.name}: {method} {url} took longer" in message
    assert f"{REQUEST_DEADLINE:g} s deadline" in message
    assert info.value.maybe_applied is False  # a read changes nothing
    assert len(rsps.calls) == 1


def test_a_create_over_its_deadline_may_have_happened(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    clock = Clock()
    case.mock_before_create(rsps)
    method, url = case.create_call()
    rsps.add_callback(method, url, slow_answer(clock, REQUEST_DEADLINE + 1, {}))
    with pytest.raises(RetryableError, match="deadline") as info:
        case.connector(monotonic=clock).create_ticket(case.draft())
    assert info.value.maybe_applied is True
    assert [c.request.method for c in rsps.calls].count(method) == 1


class CutOff(io.RawIOBase):
    """A body that breaks after `good`, as a connection reset mid-transfer does."""

    def __init__(self, good: bytes) -> None:
        self.good = good
        self.sent = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.sent >= len(self.good):
            raise ConnectionResetError(104, "Connection reset by peer")
        piece = self.good[self.sent : self.sent + len(buffer)]
        buffer[: len(piece)] = piece
        self.sent += len(piece)
        return len(piece)


HALF_A_FILE = b'{"files": [{"id": 31, "content": "' + b"QUJD" * 4096


@pytest.mark.parametrize("fault", ["reset", "short"])
def test_a_download_cut_off_mid_body_is_retryable(
    case: ContractCase, rsps: responses.RequestsMock, fault: str
) -> None:
    url = case.file_url()
    if fault == "reset":
        body: Any = io.BufferedReader(CutOff(HALF_A_FILE))
        rsps.get(url, body=body, auto_calculate_content_length=False)
    else:  # the server closes after half of its Content-Length
        length = str(2 * len(HALF_A_FILE))
        rsps.get(url, body=HALF_A_FILE, headers={"Content-Length": length})
    with pytest.raises(RetryableError) as info:
        case.connector().fetch_attachment(Attachment("trace.log", url=url), io.BytesIO(), 1 << 20)
    assert not isinstance(info.value, RateLimited)
    assert info.value.maybe_applied is False  # a download can simply be repeated
    assert url.split("?")[0] in str(info.value)


FOREIGN = "https://files.elsewhere.example/31/trace.log"


@pytest.mark.parametrize("how", ["direct", "redirect", "downgrade"])
def test_credentials_never_go_to_another_host(
    case: ContractCase, rsps: responses.RequestsMock, how: str
) -> None:
    own, foreign = case.file_url(), FOREIGN
    if how == "direct":
        url = foreign
    elif how == "redirect":
        url = own
        rsps.get(own, status=302, headers={"Location": foreign})
    else:  # same host over plain http: the token would travel in clear
        url = foreign = own.replace("https://", "http://")
    rsps.get(foreign, body=b"payload")
    connector = case.connector()
    attachment = Attachment("trace.log", url=url)
    if case.foreign_files is ForeignHost.REFUSE:
        with pytest.raises(PermanentError, match=r"refusing to send \w+ credentials"):
            connector.fetch_attachment(attachment, io.BytesIO(), 1 << 20)
        assert [c.request.url for c in rsps.calls] == ([own] if how == "redirect" else [])
    else:
        dest = io.BytesIO()
        assert connector.fetch_attachment(attachment, dest, 1 << 20) == len(b"payload")
        assert "Authorization" not in rsps.calls[-1].request.headers
        if how == "redirect":
            assert "Authorization" in rsps.calls[0].request.headers  # our host: credentials


# ------------------------------------------------------------------------------ reading


def test_ticket_times_are_utc_aware(case: ContractCase, rsps: responses.RequestsMock) -> None:
    case.mock_ticket(rsps, "17", case.status)
    ticket = case.connector().get_ticket("17")
    assert isinstance(ticket, Ticket)
    assert ticket.ref.id == "17" and ticket.status == case.status
    assert_utc(ticket.created_at)
    assert_utc(ticket.updated_at)


def comment_pages() -> list[list[tuple[int, datetime]]]:
    return [
        [(101, T0), (102, T0 + timedelta(minutes=1))],
        [(103, T0 + timedelta(minutes=2)), (104, T0 + timedelta(minutes=3))],
        [(105, T0 + timedelta(minutes=4))],
    ]


def test_list_comments_reads_every_page_in_order(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    case.mock_comments(rsps, "17", comment_pages(), repeat_last=False)
    comments = case.connector().list_comments("17")
    assert [c.id for c in comments] == ["101", "102", "103", "104", "105"]
    for comment in comments:
        assert_utc(comment.created_at)
    later = case.connector().list_comments("17", since=T0 + timedelta(minutes=2))
    assert [c.id for c in later] == ["104", "105"]


def test_list_comments_terminates_when_the_server_repeats_its_last_page(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    case.mock_comments(rsps, "17", comment_pages(), repeat_last=True)
    try:
        comments = case.connector().list_comments("17")
    except PermanentError:
        pass
    else:
        ids = [c.id for c in comments]
        assert len(ids) == len(set(ids)), "a repeated page must not duplicate comments"
    assert len(rsps.calls) <= len(comment_pages()) + 2


# ------------------------------------------------------------------------------ polling


def updated_items() -> list[tuple[int, datetime]]:
    return [
        (1, T0 - timedelta(hours=2)),
        (2, T0 - timedelta(seconds=1)),
        (3, T0),
        (4, T0 + timedelta(minutes=5)),
        (5, T0 + timedelta(minutes=9)),
    ]


def test_changes_since_returns_what_changed_with_utc_times(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    connector = case.connector()
    if not hasattr(connector, "changes_since"):
        pytest.skip(f"{case.name} does not poll")
    case.mock_changes(rsps, updated_items(), repeat=False)
    events = connector.changes_since(T0)
    assert sorted(int(e.ref.id) for e in events) == [3, 4, 5]
    for event in events:
        assert_utc(event.occurred_at)
        assert event.occurred_at is not None and event.occurred_at >= T0
        assert event.delivery_id == f"poll:{event.ref.id}:{event.occurred_at.isoformat()}"
    assert len({e.delivery_id for e in events}) == len(events)


def test_changes_since_terminates_against_an_endless_server(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    connector = case.connector()
    if not hasattr(connector, "changes_since"):
        pytest.skip(f"{case.name} does not poll")
    recent = [(n, T0 + timedelta(minutes=n)) for n in range(1, 5)]
    case.mock_changes(rsps, recent, repeat=True)
    try:
        events = connector.changes_since(T0)
    except PermanentError:
        pass
    else:
        assert len({e.delivery_id for e in events}) == len(events)
    assert len(rsps.calls) <= 10


# ------------------------------------------------------------------------------ writing


def test_writing_the_current_status_sends_no_write(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    case.mock_ticket(rsps, "17", case.status)
    ticket = case.connector().update_ticket("17", TicketChanges(status=case.status))
    assert ticket.status == case.status
    assert rsps.calls, "the connector must re-read before deciding"
    assert {c.request.method for c in rsps.calls} == {"GET"}


# ----------------------------------------------------------------------------- webhooks


def test_webhook_signatures_are_enforced(case: ContractCase) -> None:
    connector = case.connector()
    if Capability.WEBHOOKS not in connector.capabilities:
        with pytest.raises(WebhookError):
            connector.verify_webhook({}, b"{}")
        return
    headers, body = case.signed_webhook(case.secret)
    connector.verify_webhook(headers, body)
    assert connector.parse_webhook(headers, body)

    forged, _ = case.signed_webhook("not-the-secret")
    with pytest.raises(SignatureError):
        connector.verify_webhook(forged, body)

    missing = {k: v for k, v in headers.items() if k.lower() != case.signature_header.lower()}
    with pytest.raises(SignatureError):
        connector.verify_webhook(missing, body)


def test_a_read_since_a_time_reads_no_page_before_it(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    """A sync reads from its cursor: a vendor that pages serves the newest pages only."""
    case.mock_comments(rsps, "17", comment_pages(), repeat_last=False)
    case.connector().list_comments("17")
    full = len(rsps.calls)
    later = case.connector().list_comments("17", since=T0 + timedelta(minutes=3))
    assert [c.id for c in later] == ["105"]
    since = len(rsps.calls) - full
    assert since <= full
    if full > 1:  # a vendor that pages
        assert since < full


def test_recent_comments_come_newest_first_and_stop_when_the_caller_does(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    case.mock_comments(rsps, "17", comment_pages(), repeat_last=False)
    assert [c.id for c in case.connector().recent_comments("17")] == [
        "105", "104", "103", "102", "101"
    ]  # fmt: skip
    every = len(rsps.calls)
    newest = next(iter(case.connector().recent_comments("17")))
    assert newest.id == "105"
    assert len(rsps.calls) - every == 1  # one request, whatever the history


def test_a_ticket_read_with_its_comments_reads_from_a_time_too(
    case: ContractCase, rsps: responses.RequestsMock
) -> None:
    connector = case.connector()
    if Capability.READS_TOGETHER not in connector.capabilities:
        pytest.skip(f"{case.name} reads a ticket and its comments apart")
    case.mock_comments(rsps, "17", comment_pages(), repeat_last=False)
    _, every = connector.get_ticket_and_comments("17")
    _, later = connector.get_ticket_and_comments("17", since=T0 + timedelta(minutes=2))
    assert [c.id for c in every] == ["101", "102", "103", "104", "105"]
    assert [c.id for c in later] == ["104", "105"]
