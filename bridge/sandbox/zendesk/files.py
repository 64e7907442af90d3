"""Zendesk sandbox routes for files and polling: uploads, downloads, incremental export.

* `POST /uploads?filename=[&token=]` stores raw bytes (refusing more than `max_upload_bytes`)
  and hands out a `content_url` on the sandbox host, one download token per attachment;
* `GET /attachments/token/{token}/` serves the bytes back (with the API's auth, like an account
  with secure downloads on);
* `GET /incremental/tickets/cursor` pages tickets by `generated_timestamp` with
  `start_time`/`cursor`, `after_cursor` and `end_of_stream` (api-facts 1.2), leaves out the last
  `export_lag` (a minute, as Zendesk does), refuses a younger `start_time` and can rate-limit.
"""

from __future__ import annotations

import base64
import binascii
import copy
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, request

from bridge.sandbox.zendesk.common import EXPORT_MAX_PER_PAGE, error, ok
from bridge.sandbox.zendesk.store import ZendeskStore

EXPORT_PATH = "/incremental/tickets/cursor"


def register(app: Flask, store: ZendeskStore, route: Any) -> None:
    """Add the upload, download and export routes; `route` registers `/api/v2` paths."""

    @route("/uploads", ["POST"])
    def upload() -> Response:
        filename = request.args.get("filename")
        if not filename:
            return error(400, "InvalidParameter", "filename is required")
        limit = store.max_upload_bytes
        # Read before refusing: answering while the client still sends can reset the socket.
        content = request.get_data()
        if len(content) > limit:
            return _too_large(limit)
        content_type = request.content_type or "application/octet-stream"
        stored = store_upload(
            store, request.args.get("token"), filename, content_type, content, request.host_url
        )
        if stored is None:
            token = request.args.get("token")
            return error(422, "RecordInvalid", f"upload token {token!r} is unknown")
        token, attachment, attachments = stored
        body = {"upload": {"token": token, "attachment": attachment, "attachments": attachments}}
        return ok(body, 201)

    @app.get("/attachments/token/<token>/")
    def download(token: str) -> Response:
        found = stored_file(store, token)
        if found is None:
            return error(404, "RecordNotFound", "Not found")
        content, content_type = found
        return Response(content, status=200, content_type=content_type)

    @route(EXPORT_PATH, ["GET"])
    def incremental_tickets() -> Response:
        wait = export_allowed(store)
        if wait is not None:
            headers = {"Retry-After": str(int(wait))}
            return ok({"error": "APIRateLimitExceeded"}, 429, headers)
        try:
            per_page = int(request.args.get("per_page", EXPORT_MAX_PER_PAGE))
        except ValueError:
            per_page = 0
        if not 1 <= per_page <= EXPORT_MAX_PER_PAGE:
            return error(400, "InvalidPaginationParameter", "per_page must be 1..1000")
        cursor = request.args.get("cursor")
        start: int | None = None
        if cursor is None:
            text = request.args.get("start_time", "")
            if not text.lstrip("-").isdigit():
                return error(400, "InvalidValue", "start_time is required (Unix epoch seconds)")
            start = int(text)
            latest = store._clock() - store.export_lag
            if store.export_lag > timedelta(0) and start > latest.timestamp():
                return error(
                    422,
                    "InvalidValue",
                    "Too recent start_time. Use a start_time older than one minute.",
                )
        try:
            tickets, after, end = export(store, start, cursor, per_page)
        except ValueError:
            return error(400, "InvalidCursor", "cursor is invalid")
        base = f"{request.base_url}"
        return ok(
            {
                "tickets": tickets,
                "after_cursor": after,
                "after_url": f"{base}?cursor={quote(after)}",
                "before_cursor": None,
                "before_url": None,
                "end_of_stream": end,
            }
        )


def _too_large(limit: int) -> Response:
    """The sandbox's answer to an oversized upload ([unverified]: shape chosen, not observed)."""
    return error(413, "RequestEntityTooLarge", f"Attachments may not exceed {limit} bytes")


def store_upload(
    store: ZendeskStore,
    token: str | None,
    filename: str,
    content_type: str,
    content: bytes,
    host_url: str,
) -> tuple[str, dict[str, Any], list[dict[str, Any]]] | None:
    """Keep an uploaded file; None when `token` names no pending upload."""
    with store._lock:
        if token and token not in store._uploads:
            return None
        token = token or uuid.uuid4().hex[:25]
        attachment_id = next(store._attachment_ids)
        download = uuid.uuid4().hex[:24]
        store._files[attachment_id] = content
        store._download_tokens[download] = (attachment_id, content_type)
        attachment = {
            "id": attachment_id,
            "file_name": filename,
            "content_url": f"{host_url}attachments/token/{download}/?name={quote(filename)}",
            "mapped_content_url": None,
            "content_type": content_type,
            "size": len(content),
            "inline": False,
            "thumbnails": [],
        }
        attachments = store._uploads.setdefault(token, [])
        attachments.append(attachment)
        return token, copy.deepcopy(attachment), copy.deepcopy(attachments)


def stored_file(store: ZendeskStore, token: str) -> tuple[bytes, str] | None:
    """(content, content type) of the attachment behind a content_url token."""
    with store._lock:
        entry = store._download_tokens.get(token)
        if entry is None:
            return None
        attachment_id, content_type = entry
        return store._files[attachment_id], content_type


def export(
    store: ZendeskStore, start: int | None, cursor: str | None, per_page: int
) -> tuple[list[dict[str, Any]], str, bool]:
    """(tickets, after_cursor, end_of_stream), ordered by (generated_timestamp, id).

    The cursor encodes the position after the last ticket returned; tickets changed within
    `export_lag` are left out. Raises ValueError for a cursor this sandbox did not hand out.
    """
    with store._lock:
        position = decode_cursor(cursor) if cursor is not None else (int(start or 0), 0)
        horizon = (store._clock() - store.export_lag).timestamp()
        rows = sorted(
            (t["generated_timestamp"], t["id"])
            for t in store._tickets.values()
            if t["generated_timestamp"] <= horizon
        )
        rest = [row for row in rows if row >= position]
        page = rest[:per_page]
        tickets = [copy.deepcopy(store._tickets[ticket_id]) for _, ticket_id in page]
        after = (page[-1][0], page[-1][1] + 1) if page else position
        return tickets, encode_cursor(after), len(rest) <= per_page


def export_allowed(store: ZendeskStore) -> float | None:
    """None when another export request may run now, else the seconds to wait (429)."""
    with store._lock:
        if store.export_rate_limit is None:
            return None
        now = store._clock()
        window = [t for t in store._export_calls if now - t < timedelta(minutes=1)]
        store._export_calls = window
        if len(window) >= store.export_rate_limit:
            return max(1.0, 60 - (now - window[0]).total_seconds())
        window.append(now)
        return None


def encode_cursor(position: tuple[int, int]) -> str:
    return base64.urlsafe_b64encode(f"{position[0]}.{position[1]}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[int, int]:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(cursor) from exc
    stamp, _, ticket_id = text.partition(".")
    return int(stamp), int(ticket_id)
