"""Builders for neutral tickets and the shipped mapping."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bridge.mapping import RouteMapping, load_mapping
from bridge.models import SystemRef, Ticket

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "mappings" / "zendesk-mantis.yaml"

COMPLETE_FIELDS = {
    "360001": "40711",
    "360002": "shop.example.com",
    "360003": "it@example.com",
    "360004": "kontakt_ja",
    "360005": "technik",
}


def shipped_mapping() -> RouteMapping:
    return load_mapping(SHIPPED)


def ticket(ticket_id: str = "1", **overrides: Any) -> Ticket:
    values: dict[str, Any] = {
        "ref": SystemRef("helpdesk", ticket_id),
        "subject": "Checkout fails",
        "description": "Since the update the checkout page shows error 500 for every order.",
        "status": "open",
        "priority": "high",
        "type": "problem",
        "tags": (),
        "fields": dict(COMPLETE_FIELDS),
        "requester_email": "anna@example.com",
        "requester_name": "Anna Example",
    }
    values.update(overrides)
    return Ticket(**values)
