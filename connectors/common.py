"""Small pieces every connector's webhook and payload parsing needs, kept in one place."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bridge.errors import PayloadError


def normalise_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive; WSGI, proxies and tests all spell them differently."""
    return {str(k).lower(): str(v) for k, v in headers.items()}


def load_body(raw_body: bytes) -> dict[str, Any]:
    """Decode the body as a JSON object, with a PayloadError the sender's admin can act on."""
    if not raw_body or not raw_body.strip():
        raise PayloadError("body is empty: expected a JSON object")
    try:
        payload = json.loads(raw_body)
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not valid UTF-8: {exc.reason}") from exc
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(payload, dict):
        raise PayloadError(f"body must be a JSON object, got {type(payload).__name__}")
    return payload


def parse_utc(value: Any) -> datetime | None:
    """ISO-8601 ("...Z", milliseconds or more) as an aware UTC datetime; None when missing.

    Naive values are taken as UTC (Zendesk's and Zammad's APIs always mean UTC). Raises
    ValueError for text that is not a timestamp, so callers decide how strict to be.
    """
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)
