"""Constants and small JSON helpers shared by the Zendesk sandbox modules."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Response, request

STATUSES = ("new", "open", "pending", "hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
TYPES = ("problem", "incident", "question", "task")
MAX_PAGE_SIZE = 100
DELIVERY_ATTEMPTS = 3
# Zendesk's documented attachment limit is 50 MB; configurable per sandbox.
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
EXPORT_MAX_PER_PAGE = 1000

# Seed helpers take custom fields as {id: value} or as Zendesk's own [{"id", "value"}] list.
FieldValues = Mapping[int, Any] | Mapping[str, Any] | Iterable[Mapping[str, Any]]


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error(status: int, error: str, description: str, **extra: Any) -> Response:
    body = {"error": error, "description": description, **extra}
    return Response(json.dumps(body), status=status, mimetype="application/json")


def ok(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, mimetype="application/json", headers=dict(headers or {})
    )


def not_found() -> Response:
    return error(404, "RecordNotFound", "Not found")


class Invalid(Exception):
    """A validation failure answered as Zendesk's 422 RecordInvalid."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description

    def response(self) -> Response:
        details = {self.field: [{"description": self.description, "error": "InvalidValue"}]}
        return error(422, "RecordInvalid", "Record validation errors", details=details)


def ticket_payload() -> dict[str, Any] | Response:
    payload = request.get_json(silent=True)
    if not isinstance(payload, dict) or not isinstance(payload.get("ticket"), dict):
        return error(400, "InvalidEndpoint", 'expected a JSON body {"ticket": {...}}')
    return dict(payload["ticket"])


def field_list(fields: FieldValues) -> list[dict[str, Any]]:
    if isinstance(fields, Mapping):
        return [{"id": int(k), "value": v} for k, v in fields.items()]
    return [dict(item) for item in fields]
