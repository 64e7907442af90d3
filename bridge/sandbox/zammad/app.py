"""The Zammad sandbox's Flask app: `/api/v1` routes answering like Zammad's controllers.

Every route runs under the sandbox's lock, so the state seen by one request is consistent, and
every request is logged (method, path, query, headers, JSON body, user, status) for tests.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Protocol

from flask import Flask, Response, g, request

from bridge.sandbox.zammad import render
from bridge.sandbox.zammad.model import ApiError, ZammadModel, not_found

API = "/api/v1"


class Served(Protocol):
    """What the routes need of the sandbox that serves them (ZammadSandbox passes itself); named
    here so the app sits below the sandbox instead of importing it back."""

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    @property
    def model(self) -> ZammadModel: ...

    def notify(self, actor: int, ticket_id: int, article_id: int | None) -> None: ...

    def log_request(self, entry: dict[str, Any], host_url: str) -> None: ...

    def take_fault(self) -> tuple[int, float | None] | None: ...


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body), status=status, mimetype="application/json", headers=headers or {}
    )


def _error(status: int, message: str) -> Response:
    return _json({"error": message, "error_human": message}, status)


def _expand() -> bool:
    return request.args.get("expand", "").lower() in ("true", "1")


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(422, "Invalid JSON body")
    return data


def _int_param(name: str, default: int) -> int:
    try:
        return int(request.args.get(name, default))
    except ValueError as exc:
        raise ApiError(422, f"Invalid value for {name}") from exc


def build_app(sandbox: Served) -> Flask:
    app = Flask(f"zammad-sandbox-{id(sandbox)}")
    app.url_map.strict_slashes = False
    lock, model = sandbox.lock, sandbox.model

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        return _error(exc.status, exc.message)

    @app.errorhandler(404)
    def no_route(_: Exception) -> Response:
        return _error(404, f"No route matches [{request.method}] {request.path}")

    @app.before_request
    def log_and_authenticate() -> Response | None:
        body = request.get_json(silent=True) if request.mimetype == "application/json" else None
        entry = {
            "method": request.method,
            "path": request.path,
            "query": request.args.to_dict(flat=True),
            "headers": dict(request.headers),
            "json": body,
            "user_id": None,
            "status": None,
        }
        g.entry = entry
        with lock:
            sandbox.log_request(entry, request.host_url.rstrip("/"))
            fault = sandbox.take_fault()
            if fault is not None:
                status, retry_after = fault
                response = _error(status, "Injected fault")
                if retry_after is not None:
                    response.headers["Retry-After"] = str(int(retry_after))
                return response
            header = request.headers.get("Authorization", "")
            if not header:
                return _error(401, "Authentication required")
            scheme, _, value = header.partition(" ")
            value = value.strip()
            if scheme == "Token" and value.startswith("token="):
                value = value[len("token=") :].strip('"')
            elif scheme != "Bearer":
                return _error(401, "Authentication required")
            user_id = model.tokens.get(value)
            if user_id is None or not model.users[user_id]["active"]:
                return _error(401, "Invalid token!")
            g.user_id = entry["user_id"] = user_id
        return None

    @app.after_request
    def finish(response: Response) -> Response:
        with lock:
            entry = g.get("entry")
            if entry is not None:
                entry["status"] = response.status_code
        return response

    def route(rule: str, methods: list[str]) -> Callable[[Callable[..., Response]], Any]:
        def register(view: Callable[..., Response]) -> Callable[..., Response]:
            def locked(**kwargs: Any) -> Response:
                with lock:
                    return view(**kwargs)

            app.add_url_rule(API + rule, view.__name__, locked, methods=methods)
            return view

        return register

    @route("/tickets/<int:ticket_id>", ["GET"])
    def show_ticket(ticket_id: int) -> Response:
        return _json(render.ticket(model, model.get_ticket(ticket_id, g.user_id), _expand()))

    @route("/tickets", ["POST"])
    def create_ticket() -> Response:
        ticket, article = model.create_ticket(g.user_id, _body())
        sandbox.notify(g.user_id, ticket["id"], article["id"])
        return _json(render.ticket(model, ticket, _expand()), 201)

    @route("/tickets/<int:ticket_id>", ["PUT"])
    def update_ticket(ticket_id: int) -> Response:
        ticket, article, changed = model.update_ticket(g.user_id, ticket_id, _body())
        if changed:
            sandbox.notify(g.user_id, ticket_id, article["id"] if article else None)
        return _json(render.ticket(model, ticket, _expand()))

    @route("/tickets/search", ["GET"])
    def search_tickets() -> Response:
        per_page = min(_int_param("per_page", _int_param("limit", 50)), 200)
        page = _int_param("page", 1)
        if per_page < 1 or page < 1:
            raise ApiError(422, "Invalid pagination values")
        rows = render.search(
            model,
            g.user_id,
            request.args.get("query", ""),
            request.args.get("sort_by", "updated_at"),
            request.args.get("order_by", "desc"),
        )
        chunk = rows[(page - 1) * per_page : page * per_page]
        if _expand():
            return _json([render.ticket(model, row, expand=True) for row in chunk])
        return _json(
            {
                "tickets": [row["id"] for row in chunk],
                "tickets_count": len(chunk),
                "assets": {"Ticket": {str(r["id"]): render.ticket(model, r) for r in chunk}},
            }
        )

    @route("/ticket_articles/by_ticket/<int:ticket_id>", ["GET"])
    def articles_by_ticket(ticket_id: int) -> Response:
        rows = model.visible_articles(ticket_id, g.user_id)
        return _json([render.article(model, row) for row in rows])

    @route("/ticket_articles/<int:article_id>", ["GET"])
    def show_article(article_id: int) -> Response:
        for ticket_id, rows in model.articles.items():
            for row in rows:
                if row["id"] == article_id:
                    if row in model.visible_articles(ticket_id, g.user_id):
                        return _json(render.article(model, row))
                    raise ApiError(403, "Not authorized")
        raise not_found("Ticket::Article", article_id)

    @route("/ticket_articles", ["POST"])
    def create_article() -> Response:
        data = _body()
        if data.get("ticket_id") in (None, ""):
            raise ApiError(422, "Missing required value for field 'ticket_id'!")
        ticket = model.get_ticket(int(data["ticket_id"]), g.user_id)
        article = model.add_article(g.user_id, ticket, data)
        sandbox.notify(g.user_id, ticket["id"], article["id"])
        return _json(render.article(model, article), 201)

    @route("/ticket_attachment/<int:ticket_id>/<int:article_id>/<int:file_id>", ["GET"])
    def download(ticket_id: int, article_id: int, file_id: int) -> Response:
        model.get_ticket(ticket_id, g.user_id)
        rows = [a for rows in model.articles.values() for a in rows if a["id"] == article_id]
        if not rows:
            raise not_found("Ticket::Article", article_id)
        if rows[0]["ticket_id"] != ticket_id:
            raise ApiError(403, "The article does not belong to the specified ticket.")
        files = [f for f in rows[0]["attachments"] if f["id"] == file_id]
        if not files:
            raise ApiError(403, "The file does not belong to the specified article.")
        meta = files[0]
        return Response(
            model.files[file_id],
            mimetype=meta["preferences"]["Mime-Type"],
            headers={"Content-Disposition": f'attachment; filename="{meta["filename"]}"'},
        )

    @route("/ticket_states", ["GET"])
    def states() -> Response:
        return _json(model.states)

    @route("/ticket_priorities", ["GET"])
    def priorities() -> Response:
        return _json(model.priorities)

    @route("/groups", ["GET"])
    def groups() -> Response:
        """Agents may list groups (GroupsControllerPolicy permits index to ticket.agent)."""
        return _json(
            [{"id": gid, "name": name, "active": True} for name, gid in model.groups.items()]
        )

    @route("/object_manager_attributes", ["GET"])
    def object_attributes() -> Response:
        """Custom ticket attributes; like Zammad, only with the admin.object permission."""
        if model.users[g.user_id]["role"] != "Admin":
            raise ApiError(403, "Not authorized (user)!")
        rows = [
            {
                "id": i,
                "name": name,
                "object": "Ticket",
                "display": name,
                "data_type": "input",
                "active": True,
                "editable": True,
            }
            for i, name in enumerate(model.attributes, 100)
        ]
        return _json(rows)  # fmt: skip

    @route("/users/me", ["GET"])
    def me() -> Response:
        return _json(render.user(model, g.user_id))

    @route("/users/<int:user_id>", ["GET"])
    def show_user(user_id: int) -> Response:
        if user_id not in model.users:
            raise not_found("User", user_id)
        if not model.is_agent(g.user_id) and user_id != g.user_id:
            raise ApiError(403, "Not authorized")
        return _json(render.user(model, user_id))

    @route("/tags", ["GET"])
    def tags() -> Response:
        if request.args.get("object") != "Ticket":
            raise ApiError(422, "No such object")
        ticket = model.get_ticket(_int_param("o_id", 0), g.user_id)
        return _json({"tags": list(model.tags[ticket["id"]])})

    return app
