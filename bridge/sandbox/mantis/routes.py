"""The MantisBT sandbox's REST routes under `/api/rest` (api-facts.md 3.2).

Quirks included: a list for a single issue, reason-phrase-only errors, bare-token auth, the
`X-Mantis-*` headers, `202` for moderated reports, `If-Match`/ETag on updates, and files as
base64 inside JSON in both directions.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, g, request

from bridge.sandbox.faults import trickle
from bridge.sandbox.mantis.constants import (
    ERROR_ACCESS_DENIED,
    ERROR_EMPTY_FIELD,
    ERROR_INVALID_FIELD_VALUE,
    PRIORITY,
    REPRODUCIBILITY,
    RESOLUTION,
    SEVERITY,
    STATUS,
    VERSION,
    VIEW_STATE,
    ApiFault,
    User,
    too_big,
)
from bridge.sandbox.mantis.meta import register_meta
from bridge.sandbox.mantis.rules import check_writable, mb3, redact_user
from bridge.sandbox.mantis.store import MantisStore


def is_meta_read(path: str, base: str) -> bool:
    """Reads a connector makes once per site (enums, projects, who am I): injected faults
    pass them by, so a test's fault lands on the issue request it means."""
    return path.startswith((f"{base}/config", f"{base}/projects", f"{base}/users/me"))


def redact_user_in(attachment: dict[str, Any], viewer: User) -> dict[str, Any]:
    """A file's metadata with its reporter as `viewer` may see it."""
    return {**attachment, "reporter": redact_user(attachment.get("reporter"), viewer)}


def build_app(store: MantisStore) -> Flask:
    """The Flask app answering like `https://{host}/{mantis}` (REST below `/api/rest`)."""
    app = Flask(f"mantis-sandbox-{id(store)}")
    base = "/api/rest"

    @app.errorhandler(ApiFault)
    def fault(exc: ApiFault) -> Response:
        return exc.response()

    @app.before_request
    def log_and_authenticate() -> Response | None:
        body = request.get_json(silent=True) if request.data else None
        with store._lock:
            entry = {
                "method": request.method,
                "path": request.path,
                "query": request.args.to_dict(flat=True),
                "headers": dict(request.headers),
                "json": body,
                "status": None,
            }
            store.request_log.append(entry)
            g.log_entry = entry
            if store._faults and not is_meta_read(request.path, base):
                status, retry_after = store._faults.pop(0)
                response = ApiFault(status, "Injected fault", 0).response()
                if retry_after is not None:
                    response.headers["Retry-After"] = str(int(retry_after))
                return response
            g.trickle = store._trickle.pop(0) if store._trickle else None
            token = request.headers.get("Authorization", "")
            user = next((u for u in store._users.values() if u.token and u.token == token), None)
        if user is None:
            return Response(b"", status="401 API token not found")
        g.user = user
        return None

    @app.after_request
    def finish(response: Response) -> Response:
        with store._lock:
            entry = g.get("log_entry")
            if entry is not None:
                entry["status"] = response.status_code
        user = g.get("user")
        if user is not None:
            response.headers["X-Mantis-Username"] = user.name
            response.headers["X-Mantis-LoginMethod"] = "api-token"
        response.headers["X-Mantis-Version"] = VERSION
        if g.get("trickle") is not None:
            return trickle(response, g.trickle)
        return response

    def body_json() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiFault(400, "Invalid request body or format")
        return data

    def json_response(payload: Any, status: int | str = 200) -> Response:
        return Response(
            json.dumps(payload), status=status, content_type="application/json;charset=utf-8"
        )

    register_meta(app, store, base, json_response)

    @app.get(f"{base}/issues/<int:issue_id>")
    def get_issue(issue_id: int) -> Response:
        select = request.args.get("select")
        with store._lock:
            issue = store._get_issue(issue_id)
            fields = select.split(",") if select else None
            payload = {"issues": [store._render(issue, fields, g.user)]}
        etag = store._etag(payload)
        if request.headers.get("If-None-Match") == etag:
            response = Response(b"", status="304 Not Modified")
        else:
            response = json_response(payload)
        response.headers["ETag"] = etag
        return response

    @app.get(f"{base}/issues")
    def list_issues() -> Response:
        try:
            page = int(request.args.get("page", 1))
            page_size = int(request.args.get("page_size", 50))
            project_id = int(request.args.get("project_id", 0))
        except ValueError as exc:
            raise ApiFault(400, "Invalid paging parameters", ERROR_INVALID_FIELD_VALUE) from exc
        if page < 1 or page_size < 1:
            raise ApiFault(400, "Invalid paging parameters", ERROR_INVALID_FIELD_VALUE)
        select = request.args.get("select")
        with store._lock:
            if project_id and project_id not in store._projects:
                raise ApiFault(404, f"Project '{project_id}' doesn't exist")
            reported_only = request.args.get("filter_id") == "reported"
            matching = [
                i
                for i in store._issues.values()
                if (not project_id or i["project_id"] == project_id)
                and (not reported_only or i["reporter_id"] == g.user.id)
            ]
            matching.sort(key=lambda i: (i["updated_at"], i["id"]), reverse=True)
            chunk = matching[(page - 1) * page_size : page * page_size]
            payload = {
                "issues": [
                    store._render(i, select.split(",") if select else None, g.user) for i in chunk
                ]
            }
        response = json_response(payload)
        response.headers["ETag"] = store._etag(payload)
        return response

    @app.post(f"{base}/issues")
    def create_issue() -> Response:
        data = body_json()
        user: User = g.user
        with store._lock:
            summary = mb3(str(data.get("summary") or "").strip())
            if not summary:
                raise ApiFault(400, "Summary not specified", ERROR_EMPTY_FIELD)
            description = mb3(str(data.get("description") or "").strip())
            if not description:
                raise ApiFault(400, "Description not specified", ERROR_EMPTY_FIELD)
            project = store._project_of(data.get("project"))
            category_id = store._category_of(project, data.get("category"))
            codes = {
                "status": STATUS["new"],
                "priority": PRIORITY["normal"],
                "severity": SEVERITY["minor"],
                "resolution": RESOLUTION["open"],
                "reproducibility": REPRODUCIBILITY["have not tried"],
                "view_state": VIEW_STATE["public"],
            }
            for kind in codes:
                if data.get(kind) is not None:
                    codes[kind] = store._enum_code(kind, data[kind])
            values = store._custom_values(project, data.get("custom_fields") or [])
            handler = store._find_user(data["handler"]) if data.get("handler") else None
            tags = []
            for tag in data.get("tags") or []:
                name = str(tag.get("name") or "").strip() if isinstance(tag, Mapping) else ""
                if not name:
                    raise ApiFault(400, "Invalid tag name", ERROR_INVALID_FIELD_VALUE)
                tags.append(mb3(name))
            files, too_big_name = store._decode_files(data.get("files") or [], user)
            if store.moderate_new_issues:
                return Response(b"", status="202 Accepted for moderation")
            for name in tags:
                if name not in store._tags:
                    store._tags[name] = store._take("tag")
            now = store._now()
            if handler is not None and codes["status"] < STATUS["assigned"]:
                codes["status"] = STATUS["assigned"]
            issue: dict[str, Any] = {
                "id": store._take("issue"),
                "summary": summary,
                "description": description,
                "steps_to_reproduce": mb3(str(data.get("steps_to_reproduce") or "")),
                "additional_information": mb3(str(data.get("additional_information") or "")),
                "project_id": project.id,
                "category_id": category_id,
                "reporter_id": user.id,
                "handler_id": handler.id if handler else None,
                **codes,
                "custom_fields": values,
                "tags": list(dict.fromkeys(tags)),
                "attachments": files,
                "notes": [],
                "history": [],
                "created_at": now,
                "updated_at": now,
            }
            store._history(issue, user, "issue-new", "New Issue")
            for attachment in files:
                store._history(issue, user, "file-added", f"File Added: {attachment['filename']}")
            store._issues[issue["id"]] = issue
            if too_big_name is not None:
                raise too_big(too_big_name)  # the issue stays, without that file
            payload = {"issue": store._render(issue, None, user)}
        return json_response(payload, f"201 Issue Created with id {issue['id']}")

    @app.patch(f"{base}/issues/<int:issue_id>")
    def update_issue(issue_id: int) -> Response:
        data = body_json()
        with store._lock:
            issue = store._get_issue(issue_id)
            if "id" in data and str(data["id"]) != str(issue_id):
                raise ApiFault(400, "Issue id mismatch")
            check_writable(issue, g.user, message_only=True)
            etag = store._etag({"issues": [store._render(issue, None, g.user)]})
            if_match = request.headers.get("If-Match")
            if if_match is not None and if_match != etag:
                response = Response(b"", status="412 Precondition Failed")
                response.headers["ETag"] = etag
                return response
            store._apply_patch(issue, data, g.user)
            payload = {"issues": [store._render(issue, None, g.user)]}
        response = json_response(payload, f"200 Issue with id {issue_id} Updated")
        response.headers["ETag"] = store._etag(payload)
        return response

    @app.delete(f"{base}/issues/<int:issue_id>")
    def delete_issue(issue_id: int) -> Response:
        with store._lock:
            store._get_issue(issue_id)
            del store._issues[issue_id]
        return Response(b"", status=204)

    @app.post(f"{base}/issues/<int:issue_id>/notes")
    def add_note(issue_id: int) -> Response:
        data = body_json()
        user: User = g.user
        with store._lock:
            issue = store._get_issue(issue_id)
            refused = store._refused_notes.get(issue_id)
            if refused is not None:  # fault mode: this issue takes no notes (refuse_notes)
                raise ApiFault(refused, "Access denied", ERROR_ACCESS_DENIED)
            check_writable(issue, user)
            text = str(data.get("text") or "")
            view_state = VIEW_STATE["public"]
            if data.get("view_state") is not None:
                view_state = store._enum_code("view_state", data["view_state"])
            # A reporter may write private notes (set_view_status_threshold = REPORTER);
            # private_bugnote_threshold only governs who sees them.
            private = view_state == VIEW_STATE["private"]
            if not text.strip() and not data.get("files"):
                raise ApiFault(400, "Issue note not specified.", ERROR_EMPTY_FIELD)
            files, too_big_name = store._decode_files(data.get("files") or [], user)
            note = store._add_note(issue, user, text, private, files)
            if too_big_name is not None:
                raise too_big(too_big_name)  # the note stays, without that file
            payload = {
                "note": store._render_note(issue, note, user),
                "issue": store._render(issue, None, user),
            }
        return json_response(payload, f"201 Issue Note Created with id {note['id']}")

    @app.post(f"{base}/issues/<int:issue_id>/files")
    def add_files(issue_id: int) -> Response:
        data = body_json()
        user: User = g.user
        with store._lock:
            issue = store._get_issue(issue_id)
            check_writable(issue, user)
            if not data.get("files"):
                raise ApiFault(400, "No files specified", ERROR_EMPTY_FIELD)
            files, too_big_name = store._decode_files(data.get("files") or [], user)
            issue["attachments"].extend(files)
            for attachment in files:
                store._history(issue, user, "file-added", f"File Added: {attachment['filename']}")
            if files:
                store._touch(issue)
            if too_big_name is not None:
                raise too_big(too_big_name)
        return Response(b"", status="201 Issue File(s) Attached")

    @app.get(f"{base}/issues/<int:issue_id>/files")
    def get_files(issue_id: int) -> Response:
        with store._lock:
            issue = store._get_issue(issue_id)
            attachments = list(issue["attachments"])
            for note in issue["notes"]:
                attachments.extend(note["attachments"])
            files = [
                {
                    **redact_user_in(a, g.user),
                    "content": base64.b64encode(store._files[a["id"]]).decode("ascii"),
                }
                for a in attachments
            ]
        return json_response({"files": files})

    @app.get(f"{base}/issues/<int:issue_id>/files/<int:file_id>")
    def get_file(issue_id: int, file_id: int) -> Response:
        """One file, base64 in JSON like the list; `{"files": []}` (200, as 2.28 answers) when
        it is not on this issue."""
        with store._lock:
            issue = store._get_issue(issue_id)
            attachments = list(issue["attachments"])
            for note in issue["notes"]:
                attachments.extend(note["attachments"])
            found = [a for a in attachments if a["id"] == file_id]
            if not found:
                return json_response({"files": []})
            content = base64.b64encode(store._files[file_id]).decode("ascii")
            payload = {"files": [{**redact_user_in(found[0], g.user), "content": content}]}
        return json_response(payload)

    return app
