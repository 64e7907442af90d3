"""Reading a Zendesk ticket's comments through cursor pagination, oldest or newest first.

Comments are the one Zendesk read that pages (tickets come whole), and a sync reads them on
every run, so how far back a read goes is decided here, apart from the ticket reads and writes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bridge.errors import PermanentError
from bridge.models import Attachment, Comment
from connectors.http import HttpClient
from connectors.zendesk import webhook
from connectors.zendesk.client import ticket_path

PAGE_SIZE = 100  # the cursor-pagination maximum for ticket comments
# Newest first, a sync needs the few comments since its last read: a small first page keeps
# its answer small (a burst of comments just costs more pages).
RECENT_PAGE_SIZE = 20


def list_comments(
    http: HttpClient, base_url: str, ticket_id: str, since: datetime | None = None
) -> list[Comment]:
    """Comments oldest first: all of them, or those created after `since`.

    A full read follows cursor pagination oldest first to the end. With `since` the pages
    come newest first (`sort=-created_at`) and reading stops at the first page that
    reaches back to `since`, so a sync reads one page however long the ticket's history.
    """
    if since is None:
        params = {"page[size]": PAGE_SIZE, "include": "users"}
        return [c for page in pages(http, base_url, ticket_id, params) for c in page]
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    newer: list[Comment] = []
    newest_first, previous = True, None
    for page in pages(http, base_url, ticket_id, _recent(RECENT_PAGE_SIZE)):
        times = [c.created_at for c in page if c.created_at is not None]
        # A server that ignored the sort (an older API, a proxy) is read to the end.
        newest_first = newest_first and all(
            a >= b for a, b in zip([previous, *times], times, strict=False) if a is not None
        )
        previous = times[-1] if times else previous
        newer += [c for c in page if c.created_at is None or c.created_at > since]
        if newest_first and any(t <= since for t in times):
            break  # every later page is older still
    return sorted(newer, key=comment_order)


def recent_comments(http: HttpClient, base_url: str, ticket_id: str) -> Iterator[Comment]:
    """Comments newest first, one page at a time: a caller that stops early reads no
    older page (the bridge's own comment after a lost answer is among the newest)."""
    for page in pages(http, base_url, ticket_id, _recent(PAGE_SIZE)):
        yield from page


def pages(
    http: HttpClient, base_url: str, ticket_id: str, params: dict[str, Any]
) -> Iterator[list[Comment]]:
    """The comments page by page in the server's order, following the cursor pagination's
    next links. A repeated next link stops with an error instead of looping forever."""
    path: str = f"{ticket_path(ticket_id)}/comments"
    query: dict[str, Any] | None = params
    seen: set[str] = set()
    while True:
        data = http.json("GET", path, f"list comments of zendesk ticket {ticket_id}", params=query)
        if not isinstance(data, Mapping):
            raise PermanentError(f"zendesk ticket {ticket_id}: comments answer is not JSON")
        names = {
            str(u.get("id")): u.get("name")
            for u in data.get("users") or ()
            if isinstance(u, Mapping) and u.get("name")
        }
        yield [to_comment(raw, names) for raw in data.get("comments") or ()]
        meta, links = data.get("meta"), data.get("links")
        has_more = isinstance(meta, Mapping) and bool(meta.get("has_more"))
        next_url = links.get("next") if isinstance(links, Mapping) else None
        if not has_more or not next_url:
            return
        path, query = next_page(base_url, str(next_url), seen), None


def next_page(base_url: str, next_url: str, seen: set[str]) -> str:
    """The next page on the configured host, whatever host the link names.

    Only the path and query of `links.next` are used, so credentials never go to a host the
    response made up, and host-mapped accounts whose links name another domain still work.
    """
    ours, theirs = urlsplit(base_url), urlsplit(next_url)
    url = urlunsplit((ours.scheme, ours.netloc, theirs.path, theirs.query, ""))
    if url in seen:
        raise PermanentError(f"zendesk pagination repeats the same page: {url}")
    seen.add(url)
    return url


def _recent(page_size: int) -> dict[str, Any]:
    """The query of a newest-first read. Sideloaded users give each comment its author's
    name (for "Anna (helpdesk) wrote:"); the next links carry the sort on."""
    return {"page[size]": page_size, "include": "users", "sort": "-created_at"}


def time_of(value: Any) -> datetime | None:
    try:
        return webhook.parse_time(value)
    except ValueError as exc:
        raise PermanentError(f"zendesk sent an unreadable timestamp {value!r}") from exc


def to_comment(raw: Mapping[str, Any], names: Mapping[str, Any] | None = None) -> Comment:
    attachments = tuple(
        Attachment(
            filename=str(a.get("file_name") or ""),
            content_type=str(a.get("content_type") or "application/octet-stream"),
            size=a.get("size") if isinstance(a.get("size"), int) else None,
            url=a.get("content_url"),
            id=str(a["id"]) if a.get("id") is not None else None,
        )
        for a in raw.get("attachments") or ()
        if isinstance(a, Mapping)
    )
    # plain_body drops the HTML/Markdown rendering; older answers only carry `body`.
    body = raw.get("plain_body") or raw.get("body")
    author = raw.get("author_id")
    return Comment(
        id=str(raw.get("id")),
        body=str(body or ""),
        public=bool(raw.get("public", True)),
        author_id=str(author) if author is not None else None,
        author_name=(names or {}).get(str(author)),
        created_at=time_of(raw.get("created_at")),
        attachments=attachments,
    )


def comment_order(comment: Comment) -> tuple[datetime, int]:
    created = comment.created_at or datetime.min.replace(tzinfo=UTC)
    return created, int(comment.id) if comment.id.isdigit() else 0
