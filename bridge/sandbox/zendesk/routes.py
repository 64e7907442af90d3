"""The Zendesk sandbox's REST routes under `/api/v2`: tickets, comments, users.

Uploads, attachment downloads and the incremental export live in `files`; both work on the
account state in `store`.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask, Response, g, request

from bridge.sandbox.faults import trickle
from bridge.sandbox.zendesk import files
from bridge.sandbox.zendesk.common import (
    MAX_PAGE_SIZE,
    Invalid,
    error,
    not_found,
    ok,
    ticket_payload,
)
from bridge.sandbox.zendesk.store import ZendeskStore

Route = Callable[[str, list[str]], Callable[[Callable[..., Response]], Any]]


def build_app(store: ZendeskStore) -> Flask:
    """The Flask app answering like `https://{subdomain}.zendesk.com`."""
    app = Flask("zendesk_sandbox")
    app.url_map.strict_slashes = False

    def route(rule: str, methods: list[str]) -> Callable[[Callable[..., Response]], Any]:
        """Register `/api/v2<rule>` and `/api/v2<rule>.json`: the suffix is optional."""

        def register(view: Callable[..., Response]) -> Callable[..., Response]:
            app.add_url_rule(f"/api/v2{rule}", view.__name__, view, methods=methods)
            app.add_url_rule(f"/api/v2{rule}.json", view.__name__ + "_json", view, methods=methods)
            return view

        return register

    @app.before_request
    def authenticate() -> Response | None:
        g.user_id = None
        g.json_body = None
        with store._lock:
            fault = store._fail.pop(0) if store._fail else None
            g.trickle = store._trickle.pop(0) if store._trickle and fault is None else None
        if fault is not None:
            status, retry_after = fault
            headers = {"Retry-After": str(int(retry_after))} if retry_after is not None else {}
            return ok({"error": "Injected fault", "description": "fail_next"}, status, headers)
        user_id = store._authenticate(request.headers.get("Authorization", ""))
        if user_id is None:
            return ok({"error": "Couldn't authenticate you"}, 401)
        g.user_id = user_id
        return None

    @app.after_request
    def log(response: Response) -> Response:
        body: Any = None
        if request.mimetype == "application/json":
            body = request.get_json(silent=True)
        with store._lock:
            store._log.append(
                {
                    "method": request.method,
                    "path": request.path,
                    "query": request.args.to_dict(flat=True),
                    "content_type": request.content_type,
                    "user_id": g.get("user_id"),
                    "status": response.status_code,
                    "json": body,
                    "size": request.content_length,
                }
            )
        if g.get("trickle") is not None:
            return trickle(response, g.trickle)
        return response

    @route("/tickets/<int:ticket_id>", ["GET"])
    def show_ticket(ticket_id: int) -> Response:
        with store._lock:
            ticket = store._tickets.get(ticket_id)
            if ticket is None:
                return not_found()
            body: dict[str, Any] = {"ticket": copy.deepcopy(ticket)}
            if "users" in request.args.get("include", "").split(","):
                ids = {ticket["requester_id"], ticket["submitter_id"], ticket["assignee_id"]}
                body["users"] = [copy.deepcopy(store._users[i]) for i in ids if i in store._users]
        return ok(body)

    @route("/tickets/<int:ticket_id>", ["PUT"])
    def update_ticket(ticket_id: int) -> Response:
        payload = ticket_payload()
        if isinstance(payload, Response):
            return payload
        try:
            ticket, audit = store._update(int(g.user_id), ticket_id, payload)
        except KeyError:
            return not_found()
        except Invalid as exc:
            return exc.response()
        return ok({"ticket": ticket, "audit": audit})

    @route("/tickets", ["POST"])
    def create_ticket() -> Response:
        payload = ticket_payload()
        if isinstance(payload, Response):
            return payload
        try:
            ticket, audit = store._create(int(g.user_id), payload)
        except Invalid as exc:
            return exc.response()
        location = f"{request.host_url}api/v2/tickets/{ticket['id']}.json"
        return ok({"ticket": ticket, "audit": audit}, 201, {"Location": location})

    @route("/tickets/<int:ticket_id>/comments", ["GET"])
    def list_comments(ticket_id: int) -> Response:
        with store._lock:
            if ticket_id not in store._comments:
                return not_found()
            comments = list(store._comments[ticket_id])  # copied page by page, below
        # Cursor pagination sorts by `created_at` (the default) or newest first; the next link
        # carries the sort on, as Zendesk's does.
        sort = request.args.get("sort", "created_at")
        if sort not in ("created_at", "-created_at"):
            return error(
                400, "InvalidPaginationParameter", "sort must be created_at or -created_at"
            )
        comments.sort(key=lambda c: (c["created_at"], c["id"]), reverse=sort == "-created_at")
        size_text = request.args.get("page[size]")
        if size_text is None:
            with store._lock:
                comments = copy.deepcopy(comments)
            return ok(
                {
                    "comments": comments,
                    "next_page": None,
                    "previous_page": None,
                    "count": len(comments),
                }
            )
        try:
            size = int(size_text)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            return error(
                400, "InvalidPaginationParameter", f"page[size] must be 1..{MAX_PAGE_SIZE}"
            )
        start = 0
        after = request.args.get("page[after]")
        if after:
            try:
                after_id = int(base64.urlsafe_b64decode(after.encode()).decode())
            except (ValueError, binascii.Error):
                return error(400, "InvalidPaginationParameter", "page[after] is invalid")
            ids = [c["id"] for c in comments]
            start = ids.index(after_id) + 1 if after_id in ids else len(ids)
        with store._lock:  # only the page: a long ticket costs a page's work, as on Zendesk
            page = copy.deepcopy(comments[start : start + size])
        has_more = start + size < len(comments)

        def cursor(comment: Mapping[str, Any]) -> str:
            return base64.urlsafe_b64encode(str(comment["id"]).encode()).decode()

        after_cursor = cursor(page[-1]) if page else None
        base = f"{request.base_url}?page[size]={size}"
        if sort != "created_at":
            base += f"&sort={sort}"
        sideload: dict[str, Any] = {}
        if "users" in request.args.get("include", "").split(","):
            base += "&include=users"
            with store._lock:
                authors = {c["author_id"] for c in page}
                sideload["users"] = [copy.deepcopy(store._users[i]) for i in authors
                                     if i in store._users]  # fmt: skip
        return ok(
            {
                **sideload,
                "comments": page,
                "meta": {
                    "has_more": has_more,
                    "after_cursor": after_cursor,
                    "before_cursor": cursor(page[0]) if page else None,
                },
                "links": {
                    "next": f"{base}&page[after]={after_cursor}" if has_more else None,
                    "prev": None,
                },
            }
        )

    @route("/users/me", ["GET"])
    def show_me() -> Response:
        """The caller; a request without valid credentials never gets here (401 above)."""
        with store._lock:
            return ok({"user": copy.deepcopy(store._users[g.user_id])})

    @route("/ticket_fields", ["GET"])
    def list_fields() -> Response:
        with store._lock:
            fields = [copy.deepcopy(f) for _, f in sorted(store._fields.items())]
        return ok({"ticket_fields": fields, "next_page": None, "previous_page": None,
                   "count": len(fields)})  # fmt: skip

    @route("/users/<int:user_id>", ["GET"])
    def show_user(user_id: int) -> Response:
        with store._lock:
            user = store._users.get(user_id)
            if user is None:
                return not_found()
            return ok({"user": copy.deepcopy(user)})

    files.register(app, store, route)
    return app
