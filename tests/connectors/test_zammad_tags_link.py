"""Zammad: a refused tag read is "no tags" (with a warning), a dropped attribute is a warning.

Tags only feed the escalation rules, so a 403 on `GET /tags` must not park the whole sync;
and Zammad drops an attribute it does not know from a write without an error, so the bridge
says so when the answer lacks the attribute it sent (the link would otherwise be lost).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from bridge.errors import RetryableError
from bridge.models import TicketChanges
from bridge.protocol import SystemSettings
from connectors.zammad import ZammadConnector
from connectors.zammad.client import REST

URL = "https://zammad.acme.example"
API = f"{URL}/api/v1"
TICKET: dict[str, Any] = {
    "id": 7,
    "number": "31007",
    "title": "Checkout fails",
    "state": "open",
    "state_id": 2,
    "priority": "2 normal",
    "priority_id": 2,
    "group": "Users",
    "customer_id": None,
    "created_at": "2025-03-04T09:00:00.000Z",
    "updated_at": "2025-03-04T09:00:00.000Z",
    "customer_number": "40711",
}


def connector() -> ZammadConnector:
    settings = SystemSettings(
        name="helpdesk",
        type="zammad",
        url=URL,
        auth={"token": "t"},
        bridge_user="2",
        options={"external_id_field": "vendor_ticket"},
    )
    http = REST.client(settings, attempts=1, wait_max=0)
    return ZammadConnector(settings, http, clock=lambda: datetime(2025, 3, 4, 10, tzinfo=UTC))


def register_ticket(tags_status: int) -> None:
    responses.get(f"{API}/tickets/7", json=TICKET)
    responses.get(f"{API}/ticket_articles/by_ticket/7", json=[])
    if tags_status == 200:
        responses.get(f"{API}/tags", json={"tags": ["technical"]})
    else:
        responses.get(f"{API}/tags", status=tags_status, json={"error": "Not authorized"})


@responses.activate
def test_a_refused_tag_read_is_no_tags_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    register_ticket(403)
    with caplog.at_level(logging.WARNING, logger="connectors.zammad.connector"):
        ticket = connector().get_ticket("7")
    assert ticket.tags == ()
    assert ticket.fields["customer_number"] == "40711"  # the rest of the ticket is there
    assert "tags of ticket 7 not readable, going on without tags" in caplog.text


@responses.activate
def test_a_passing_fault_on_tags_is_still_retried() -> None:
    register_ticket(503)
    with pytest.raises(RetryableError):
        connector().get_ticket("7")


@responses.activate
def test_a_link_attribute_zammad_dropped_is_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    register_ticket(200)
    responses.put(f"{API}/tickets/7", json=TICKET)  # the answer has no vendor_ticket
    with caplog.at_level(logging.WARNING, logger="connectors.zammad.connector"):
        connector().update_ticket("7", TicketChanges(external_id="vendor:12"))
    assert "ticket 7 has no link attribute 'vendor_ticket'" in caplog.text
    assert "the value was not stored" in caplog.text

    caplog.clear()
    responses.replace(responses.PUT, f"{API}/tickets/7", json={**TICKET, "vendor_ticket": "v:12"})
    with caplog.at_level(logging.WARNING, logger="connectors.zammad.connector"):
        connector().update_ticket("7", TicketChanges(external_id="vendor:12"))
    assert "has no" not in caplog.text
