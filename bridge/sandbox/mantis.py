"""A stateful MantisBT 2.x REST sandbox.

It answers under `/api/rest` with the shapes in shared/reference/api-facts.md section 3, quirks
included (a list for a single issue, server-local offsets, null/empty keys dropped, reason-phrase
only 404s, bare-token auth), so the real MantisConnector can be exercised end to end and the
demo can act as a vendor developer. State is held in plain dicts behind one lock; the helpers
`issue()`/`issues()` return copies so tests inspect what really happened.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import mimetypes
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Flask, Response, g, request

SERVER_TZ = timezone(timedelta(hours=1))
VERSION = "2.27.0"

STATUS = {
    "new": 10,
    "feedback": 20,
    "acknowledged": 30,
    "confirmed": 40,
    "assigned": 50,
    "resolved": 80,
    "closed": 90,
}
STATUS_COLORS = {
    10: "#fcbdbd",
    20: "#e3b7eb",
    30: "#ffcd85",
    40: "#fff494",
    50: "#c2dfff",
    80: "#d2f5b0",
    90: "#c9ccc4",
}
PRIORITY = {"none": 10, "low": 20, "normal": 30, "high": 40, "urgent": 50, "immediate": 60}
SEVERITY = {
    "feature": 10,
    "trivial": 20,
    "text": 30,
    "tweak": 40,
    "minor": 50,
    "major": 60,
    "crash": 70,
    "block": 80,
}
RESOLUTION = {
    "open": 10,
    "fixed": 20,
    "reopened": 30,
    "unable to duplicate": 40,
    "not fixable": 50,
    "duplicate": 60,
    "not a bug": 70,
    "suspended": 80,
    "wont fix": 90,
}
REPRODUCIBILITY = {
    "always": 10,
    "sometimes": 30,
    "random": 50,
    "have not tried": 70,
    "unable to duplicate": 90,
    "N/A": 100,
}
VIEW_STATE = {"public": 10, "private": 50}
ACCESS = {
    "viewer": 10,
    "reporter": 25,
    "updater": 40,
    "developer": 55,
    "manager": 70,
    "administrator": 90,
}
ENUMS: dict[str, dict[str, int]] = {
    "status": STATUS,
    "priority": PRIORITY,
    "severity": SEVERITY,
    "resolution": RESOLUTION,
    "reproducibility": REPRODUCIBILITY,
    "view_state": VIEW_STATE,
}

# History type ids as in core/constant_inc.php.
HISTORY_TYPES = {"field-updated": 0, "issue-new": 1, "note-added": 2, "file-added": 9}

# MantisBT error codes (core/constant_inc.php) used in JSON error bodies.
ERROR_EMPTY_FIELD = 11
ERROR_ACCESS_DENIED = 13
ERROR_INVALID_FIELD_VALUE = 29
ERROR_PROJECT_NOT_FOUND = 700
ERROR_CUSTOM_FIELD_NOT_FOUND = 1300
ERROR_CATEGORY_NOT_FOUND = 1502


class ApiFault(Exception):
    """An error answer: JSON `{message, code, localized}` or, with `code=None`, reason only."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    def response(self) -> Response:
        if self.code is None:
            # Like many Mantis handlers: only the HTTP reason phrase carries the reason.
            return Response(b"", status=f"{self.status} {self.message}")
        body = {"message": self.message, "code": self.code, "localized": self.message}
        return Response(
            json.dumps(body), status=self.status, content_type="application/json;charset=utf-8"
        )


@dataclass
class _User:
    id: int
    name: str
    token: str
    access: str
    real_name: str | None = None
    email: str | None = None


@dataclass
class _Project:
    id: int
    name: str
    categories: dict[str, int] = field(default_factory=dict)
    custom_fields: dict[str, int] = field(default_factory=dict)


def _enum(kind: str, code: int) -> dict[str, Any]:
    names = {v: k for k, v in ENUMS[kind].items()}
    name = names.get(code, f"@{code}@")
    out: dict[str, Any] = {"id": code, "name": name, "label": name}
    if kind == "status":
        out["color"] = STATUS_COLORS.get(code, "#ffffff")
    return out


@contextmanager
def _helper_errors() -> Iterator[None]:
    """Seed/inspect helpers raise ValueError (not HTTP faults) for unknown ids or names."""
    try:
        yield
    except ApiFault as exc:
        raise ValueError(exc.message) from exc


def _stamp(when: datetime) -> str:
    """PHP `date('c')`: seconds, server offset."""
    return when.astimezone(SERVER_TZ).isoformat(timespec="seconds")


class MantisSandbox:
    """In-process MantisBT: seed with `add_user`/`add_project`, serve `.app`, inspect state.

    `now` may be injected to make timestamps deterministic (Mantis has second granularity).
    """

    def __init__(self, now: Callable[[], datetime] | None = None) -> None:
        self._lock = threading.RLock()
        self._now = now or (lambda: datetime.now(SERVER_TZ))
        self._users: dict[int, _User] = {}
        self._projects: dict[int, _Project] = {}
        self._field_names: dict[int, str] = {}
        self._tags: dict[str, int] = {}
        self._issues: dict[int, dict[str, Any]] = {}
        self._files: dict[int, bytes] = {}
        self._next = {"user": 1, "project": 1, "category": 1, "field": 1, "issue": 1}
        self._next.update({"note": 1, "file": 1, "tag": 1})
        self._faults: list[tuple[int, float | None]] = []
        self.request_log: list[dict[str, Any]] = []
        self.moderate_new_issues = False
        self.app = self._create_app()

    # -- seeding and inspection ----------------------------------------------------------

    def _take(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    def add_user(
        self,
        name: str,
        token: str,
        access: str = "developer",
        real_name: str | None = None,
        email: str | None = None,
    ) -> int:
        """A user whose bare `token` authenticates; returns the user id."""
        if access not in ACCESS:
            raise ValueError(f"unknown access level {access!r}")
        with self._lock:
            user_id = self._take("user")
            self._users[user_id] = _User(user_id, name, token, access, real_name, email)
            return user_id

    def add_project(
        self,
        name: str,
        categories: Iterable[str] = ("General",),
        custom_fields: Iterable[str] = (),
    ) -> int:
        """A project with its categories and linked (string) custom fields; returns its id."""
        with self._lock:
            project = _Project(self._take("project"), name)
            for category in categories:
                project.categories[category] = self._take("category")
            for field_name in custom_fields:
                field_id = next(
                    (i for i, n in self._field_names.items() if n == field_name), None
                ) or self._take("field")
                self._field_names[field_id] = field_name
                project.custom_fields[field_name] = field_id
            self._projects[project.id] = project
            return project.id

    def custom_field_id(self, name: str) -> int:
        with self._lock:
            return next(i for i, n in self._field_names.items() if n == name)

    def issue(self, issue_id: int) -> dict[str, Any]:
        """The issue as the API renders it (full, with notes and history), as a copy."""
        with self._lock, _helper_errors():
            return self._render(self._get_issue(issue_id))

    def issues(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._render(i) for i in sorted(self._issues.values(), key=lambda i: i["id"])]

    def add_note_as(
        self, user_id: int, issue_id: int, text: str, private: bool = False
    ) -> dict[str, Any]:
        """Add a note as `user_id` (e.g. a vendor developer) without HTTP; returns the note."""
        with self._lock, _helper_errors():
            issue = self._get_issue(issue_id)
            note = self._add_note(issue, self._users[user_id], text, private, [])
            return self._render_note(issue, note)

    def set_status_as(self, user_id: int, issue_id: int, status_name: str) -> dict[str, Any]:
        """Change the status as `user_id`, with history; returns the rendered issue."""
        with self._lock, _helper_errors():
            issue = self._get_issue(issue_id)
            self._apply_patch(issue, {"status": {"name": status_name}}, self._users[user_id])
            return self._render(issue)

    def fail_next(self, n: int = 1, status: int = 503, retry_after: float | None = None) -> None:
        """The next `n` requests fail with `status` (and `Retry-After` when given)."""
        with self._lock:
            self._faults.extend([(status, retry_after)] * n)

    def requests(self) -> list[dict[str, Any]]:
        """A copy of the request log: method, path, query, headers, json body, status."""
        with self._lock:
            return copy.deepcopy(self.request_log)

    def clear_log(self) -> None:
        with self._lock:
            self.request_log.clear()

    # -- internals -----------------------------------------------------------------------

    def _get_issue(self, issue_id: int) -> dict[str, Any]:
        issue = self._issues.get(int(issue_id))
        if issue is None:
            raise ApiFault(404, f"Issue #{issue_id} not found")
        return issue

    def _user_ref(self, user: _User) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user.id, "name": user.name}
        if user.real_name:
            out["real_name"] = user.real_name
        if user.email:
            out["email"] = user.email
        return out

    def _history(
        self,
        issue: dict[str, Any],
        user: _User,
        kind: str,
        message: str,
        field_name: str | None = None,
        old: Any = None,
        new: Any = None,
        note_id: int | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "created_at": _stamp(self._now()),
            "user": self._user_ref(user),
            "type": {"id": HISTORY_TYPES[kind], "name": kind},
            "message": message,
        }
        if field_name is not None:
            entry["field"] = {"name": field_name, "label": field_name.replace("_", " ").title()}
            entry["old_value"] = "" if old is None else str(old)
            entry["new_value"] = "" if new is None else str(new)
            entry["change"] = f"{entry['old_value']} => {entry['new_value']}"
        if note_id is not None:
            entry["note"] = {"id": note_id}
        issue["history"].append(entry)

    def _touch(self, issue: dict[str, Any]) -> None:
        issue["updated_at"] = self._now()

    def _enum_code(self, kind: str, value: Any, what: str | None = None) -> int:
        """`{"name"}` or `{"id"}` -> code; unknown -> 400 like mci_get_enum_id_from_objectref."""
        label = what or kind
        table = ENUMS[kind]
        if isinstance(value, Mapping):
            if "id" in value and value["id"] in table.values():
                return int(value["id"])
            if "name" in value and value["name"] in table:
                return table[value["name"]]
        elif isinstance(value, str) and value in table:
            return table[value]
        raise ApiFault(
            400, f"Invalid value for '{label}': {json.dumps(value)}", ERROR_INVALID_FIELD_VALUE
        )

    def _project_of(self, value: Any) -> _Project:
        if not isinstance(value, Mapping) or not (value.get("id") or value.get("name")):
            raise ApiFault(400, "Project not specified", ERROR_EMPTY_FIELD)
        for project in self._projects.values():
            if str(value.get("id", "")) == str(project.id) or value.get("name") == project.name:
                return project
        ident = value.get("id", value.get("name"))
        raise ApiFault(404, f"Project '{ident}' not found", ERROR_PROJECT_NOT_FOUND)

    def _category_of(self, project: _Project, value: Any) -> int:
        if not isinstance(value, Mapping) or not (value.get("id") or value.get("name")):
            raise ApiFault(400, "Category field must be supplied.", ERROR_EMPTY_FIELD)
        for name, cat_id in project.categories.items():
            if str(value.get("id", "")) == str(cat_id) or value.get("name") == name:
                return cat_id
        ident = value.get("id", value.get("name"))
        raise ApiFault(404, f"Category '{ident}' not found", ERROR_CATEGORY_NOT_FOUND)

    def _custom_values(self, project: _Project, entries: Any) -> dict[int, str]:
        if not isinstance(entries, list):
            raise ApiFault(400, "Invalid custom_fields", ERROR_INVALID_FIELD_VALUE)
        values: dict[int, str] = {}
        for entry in entries:
            ref = entry.get("field") if isinstance(entry, Mapping) else None
            if not isinstance(ref, Mapping):
                raise ApiFault(400, "Invalid custom field", ERROR_INVALID_FIELD_VALUE)
            found = None
            for name, field_id in project.custom_fields.items():
                if str(ref.get("id", "")) == str(field_id) or ref.get("name") == name:
                    found = field_id
            if found is None:
                ident = ref.get("id", ref.get("name"))
                raise ApiFault(
                    404, f"Custom field '{ident}' not found", ERROR_CUSTOM_FIELD_NOT_FOUND
                )
            value = entry.get("value", "")
            values[found] = "" if value is None else str(value)
        return values

    def _decode_files(self, files: Any, user: _User) -> list[dict[str, Any]]:
        if not isinstance(files, list):
            raise ApiFault(400, "Invalid files", ERROR_INVALID_FIELD_VALUE)
        stored = []
        for item in files:
            if not isinstance(item, Mapping) or not item.get("name"):
                raise ApiFault(400, "File name not specified", ERROR_EMPTY_FIELD)
            try:
                content = base64.b64decode(str(item.get("content", "")), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ApiFault(400, "Invalid file content", ERROR_INVALID_FIELD_VALUE) from exc
            file_id = self._take("file")
            self._files[file_id] = content
            stored.append(
                {
                    "id": file_id,
                    "reporter": self._user_ref(user),
                    "created_at": _stamp(self._now()),
                    "filename": str(item["name"]),
                    "size": len(content),
                    "content_type": mimetypes.guess_type(str(item["name"]))[0]
                    or "application/octet-stream",
                }
            )
        return stored

    def _add_note(
        self,
        issue: dict[str, Any],
        user: _User,
        text: str,
        private: bool,
        attachments: list[dict[str, Any]],
    ) -> dict[str, Any]:
        now = self._now()
        note_id = self._take("note")
        note: dict[str, Any] = {
            "id": note_id,
            "reporter": self._user_ref(user),
            "text": text,
            "view_state": _enum("view_state", VIEW_STATE["private" if private else "public"]),
            "attachments": attachments,
            "type": "note",
            "created_at": now,
            "updated_at": now,
        }
        issue["notes"].append(note)
        self._history(issue, user, "note-added", "Note Added", note_id=note_id)
        for attachment in attachments:
            self._history(issue, user, "file-added", f"File Added: {attachment['filename']}")
        self._touch(issue)
        return note

    def _set_enum(self, issue: dict[str, Any], kind: str, code: int, user: _User) -> None:
        if issue[kind] != code:
            old = _enum(kind, issue[kind])["name"]
            issue[kind] = code
            self._history(issue, user, "field-updated", "", kind, old, _enum(kind, code)["name"])

    def _apply_patch(self, issue: dict[str, Any], patch: Mapping[str, Any], user: _User) -> None:
        """Validate everything first, then apply, so a bad patch changes nothing."""
        project = self._projects[issue["project_id"]]
        enums = {kind: self._enum_code(kind, patch[kind]) for kind in ENUMS if kind in patch}
        category = self._category_of(project, patch["category"]) if "category" in patch else None
        values = (
            self._custom_values(project, patch["custom_fields"]) if "custom_fields" in patch else {}
        )
        handler: _User | None = None
        if patch.get("handler"):
            handler = self._find_user(patch["handler"])
        for key in ("summary", "description", "steps_to_reproduce", "additional_information"):
            if key in patch:
                if key == "summary" and not str(patch[key] or "").strip():
                    raise ApiFault(400, "Summary not specified", ERROR_EMPTY_FIELD)
                old = issue.get(key) or ""
                if old != (patch[key] or ""):
                    issue[key] = patch[key] or ""
                    self._history(issue, user, "field-updated", "", key, old, patch[key])
        for kind, code in enums.items():
            self._set_enum(issue, kind, code, user)
        if category is not None and category != issue["category_id"]:
            names = {v: k for k, v in project.categories.items()}
            old_name = names.get(issue["category_id"])
            issue["category_id"] = category
            self._history(issue, user, "field-updated", "", "category", old_name, names[category])
        for field_id, value in values.items():
            old = issue["custom_fields"].get(field_id, "")
            if old != value:
                issue["custom_fields"][field_id] = value
                self._history(
                    issue, user, "field-updated", "", self._field_names[field_id], old, value
                )
        if handler is not None and handler.id != issue.get("handler_id"):
            old_handler = self._users.get(issue.get("handler_id") or 0)
            issue["handler_id"] = handler.id
            self._history(
                issue,
                user,
                "field-updated",
                "",
                "handler",
                old_handler.name if old_handler else "",
                handler.name,
            )
            # auto_set_status_to_assigned (ON by default): a side effect the bridge must expect.
            if "status" not in enums and issue["status"] < STATUS["assigned"]:
                self._set_enum(issue, "status", STATUS["assigned"], user)
        self._touch(issue)

    def _find_user(self, ref: Any) -> _User:
        if isinstance(ref, Mapping):
            for user in self._users.values():
                if str(ref.get("id", "")) == str(user.id) or ref.get("name") == user.name:
                    return user
        raise ApiFault(404, f"User '{json.dumps(ref)}' not found", 800)

    def _render_note(self, issue: dict[str, Any], note: dict[str, Any]) -> dict[str, Any]:
        out = copy.deepcopy(note)
        out["created_at"] = _stamp(note["created_at"])
        out["updated_at"] = _stamp(note["updated_at"])
        return out

    def _render(self, issue: dict[str, Any], select: Iterable[str] | None = None) -> dict[str, Any]:
        """API representation; null fields and empty arrays dropped at the top level only."""
        project = self._projects[issue["project_id"]]
        categories = {v: k for k, v in project.categories.items()}
        reporter = self._users[issue["reporter_id"]]
        handler = self._users.get(issue.get("handler_id") or 0)
        out: dict[str, Any] = {
            "id": issue["id"],
            "summary": issue["summary"],
            "description": issue["description"],
            "steps_to_reproduce": issue.get("steps_to_reproduce") or None,
            "additional_information": issue.get("additional_information") or None,
            "project": {"id": project.id, "name": project.name},
            "category": {"id": issue["category_id"], "name": categories[issue["category_id"]]},
            "reporter": self._user_ref(reporter),
            "handler": self._user_ref(handler) if handler else None,
            "status": _enum("status", issue["status"]),
            "resolution": _enum("resolution", issue["resolution"]),
            "view_state": _enum("view_state", issue["view_state"]),
            "priority": _enum("priority", issue["priority"]),
            "severity": _enum("severity", issue["severity"]),
            "reproducibility": _enum("reproducibility", issue["reproducibility"]),
            "sticky": False,
            "created_at": _stamp(issue["created_at"]),
            "updated_at": _stamp(issue["updated_at"]),
            "custom_fields": [
                {
                    "field": {"id": field_id, "name": name},
                    "value": issue["custom_fields"].get(field_id, ""),
                }
                for name, field_id in project.custom_fields.items()
            ],
            "attachments": copy.deepcopy(issue["attachments"]),
            "notes": [self._render_note(issue, n) for n in issue["notes"]],
            "history": copy.deepcopy(issue["history"]),
            "tags": [{"id": self._tags[t], "name": t} for t in issue["tags"]],
            "relationships": [],
            "monitors": [],
        }
        if select is not None:
            wanted = set(select)
            out = {k: v for k, v in out.items() if k in wanted}
        return {k: v for k, v in out.items() if v is not None and v != []}

    @staticmethod
    def _etag(payload: Any) -> str:
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    # -- HTTP ----------------------------------------------------------------------------

    def _create_app(self) -> Flask:
        app = Flask(f"mantis-sandbox-{id(self)}")
        base = "/api/rest"

        @app.errorhandler(ApiFault)
        def fault(exc: ApiFault) -> Response:
            return exc.response()

        @app.before_request
        def log_and_authenticate() -> Response | None:
            body = request.get_json(silent=True) if request.data else None
            with self._lock:
                entry = {
                    "method": request.method,
                    "path": request.path,
                    "query": request.args.to_dict(flat=True),
                    "headers": dict(request.headers),
                    "json": body,
                    "status": None,
                }
                self.request_log.append(entry)
                g.log_entry = entry
                if self._faults:
                    status, retry_after = self._faults.pop(0)
                    response = ApiFault(status, "Injected fault", 0).response()
                    if retry_after is not None:
                        response.headers["Retry-After"] = str(int(retry_after))
                    return response
                token = request.headers.get("Authorization", "")
                user = next((u for u in self._users.values() if u.token and u.token == token), None)
            if user is None:
                return Response(b"", status="401 API token not found")
            g.user = user
            return None

        @app.after_request
        def finish(response: Response) -> Response:
            with self._lock:
                entry = g.get("log_entry")
                if entry is not None:
                    entry["status"] = response.status_code
            user = g.get("user")
            if user is not None:
                response.headers["X-Mantis-Username"] = user.name
                response.headers["X-Mantis-LoginMethod"] = "api-token"
            response.headers["X-Mantis-Version"] = VERSION
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

        @app.get(f"{base}/users/me")
        def users_me() -> Response:
            user: _User = g.user
            with self._lock:
                out = self._user_ref(user)
                out["language"] = "english"
                out["timezone"] = "Europe/Berlin"
                out["access_level"] = {
                    "id": ACCESS[user.access],
                    "name": user.access,
                    "label": user.access,
                }
                out["projects"] = [{"id": p.id, "name": p.name} for p in self._projects.values()]
            return json_response(out)

        @app.get(f"{base}/issues/<int:issue_id>")
        def get_issue(issue_id: int) -> Response:
            select = request.args.get("select")
            with self._lock:
                issue = self._get_issue(issue_id)
                payload = {"issues": [self._render(issue, select.split(",") if select else None)]}
            etag = self._etag(payload)
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
            with self._lock:
                if project_id and project_id not in self._projects:
                    raise ApiFault(404, f"Project '{project_id}' doesn't exist")
                reported_only = request.args.get("filter_id") == "reported"
                matching = [
                    i
                    for i in self._issues.values()
                    if (not project_id or i["project_id"] == project_id)
                    and (not reported_only or i["reporter_id"] == g.user.id)
                ]
                matching.sort(key=lambda i: (i["updated_at"], i["id"]), reverse=True)
                chunk = matching[(page - 1) * page_size : page * page_size]
                payload = {
                    "issues": [
                        self._render(i, select.split(",") if select else None) for i in chunk
                    ]
                }
            response = json_response(payload)
            response.headers["ETag"] = self._etag(payload)
            return response

        @app.post(f"{base}/issues")
        def create_issue() -> Response:
            data = body_json()
            user: _User = g.user
            with self._lock:
                summary = str(data.get("summary") or "").strip()
                if not summary:
                    raise ApiFault(400, "Summary not specified", ERROR_EMPTY_FIELD)
                description = str(data.get("description") or "").strip()
                if not description:
                    raise ApiFault(400, "Description not specified", ERROR_EMPTY_FIELD)
                project = self._project_of(data.get("project"))
                category_id = self._category_of(project, data.get("category"))
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
                        codes[kind] = self._enum_code(kind, data[kind])
                values = self._custom_values(project, data.get("custom_fields") or [])
                handler = self._find_user(data["handler"]) if data.get("handler") else None
                tags = []
                for tag in data.get("tags") or []:
                    name = str(tag.get("name") or "").strip() if isinstance(tag, Mapping) else ""
                    if not name:
                        raise ApiFault(400, "Invalid tag name", ERROR_INVALID_FIELD_VALUE)
                    tags.append(name)
                files = self._decode_files(data.get("files") or [], user)
                if self.moderate_new_issues:
                    return Response(b"", status="202 Accepted for moderation")
                for name in tags:
                    if name not in self._tags:
                        self._tags[name] = self._take("tag")
                now = self._now()
                if handler is not None and codes["status"] < STATUS["assigned"]:
                    codes["status"] = STATUS["assigned"]
                issue: dict[str, Any] = {
                    "id": self._take("issue"),
                    "summary": summary,
                    "description": description,
                    "steps_to_reproduce": str(data.get("steps_to_reproduce") or ""),
                    "additional_information": str(data.get("additional_information") or ""),
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
                self._history(issue, user, "issue-new", "New Issue")
                for attachment in files:
                    self._history(
                        issue, user, "file-added", f"File Added: {attachment['filename']}"
                    )
                self._issues[issue["id"]] = issue
                payload = {"issue": self._render(issue)}
            return json_response(payload, f"201 Issue Created with id {issue['id']}")

        @app.patch(f"{base}/issues/<int:issue_id>")
        def update_issue(issue_id: int) -> Response:
            data = body_json()
            with self._lock:
                issue = self._get_issue(issue_id)
                if "id" in data and str(data["id"]) != str(issue_id):
                    raise ApiFault(400, "Issue id mismatch")
                etag = self._etag({"issues": [self._render(issue)]})
                if_match = request.headers.get("If-Match")
                if if_match is not None and if_match != etag:
                    response = Response(b"", status="412 Precondition Failed")
                    response.headers["ETag"] = etag
                    return response
                self._apply_patch(issue, data, g.user)
                payload = {"issues": [self._render(issue)]}
            response = json_response(payload, f"200 Issue with id {issue_id} Updated")
            response.headers["ETag"] = self._etag(payload)
            return response

        @app.delete(f"{base}/issues/<int:issue_id>")
        def delete_issue(issue_id: int) -> Response:
            with self._lock:
                self._get_issue(issue_id)
                del self._issues[issue_id]
            return Response(b"", status=204)

        @app.post(f"{base}/issues/<int:issue_id>/notes")
        def add_note(issue_id: int) -> Response:
            data = body_json()
            user: _User = g.user
            with self._lock:
                issue = self._get_issue(issue_id)
                text = str(data.get("text") or "")
                view_state = VIEW_STATE["public"]
                if data.get("view_state") is not None:
                    view_state = self._enum_code("view_state", data["view_state"])
                private = view_state == VIEW_STATE["private"]
                if private and ACCESS[user.access] < ACCESS["developer"]:
                    raise ApiFault(403, "Access denied for private notes", ERROR_ACCESS_DENIED)
                files = self._decode_files(data.get("files") or [], user)
                if not text.strip() and not files:
                    raise ApiFault(400, "Issue note not specified.", ERROR_EMPTY_FIELD)
                note = self._add_note(issue, user, text, private, files)
                payload = {"note": self._render_note(issue, note), "issue": self._render(issue)}
            return json_response(payload, f"201 Issue Note Created with id {note['id']}")

        @app.post(f"{base}/issues/<int:issue_id>/files")
        def add_files(issue_id: int) -> Response:
            data = body_json()
            user: _User = g.user
            with self._lock:
                issue = self._get_issue(issue_id)
                files = self._decode_files(data.get("files") or [], user)
                if not files:
                    raise ApiFault(400, "No files specified", ERROR_EMPTY_FIELD)
                issue["attachments"].extend(files)
                for attachment in files:
                    self._history(
                        issue, user, "file-added", f"File Added: {attachment['filename']}"
                    )
                self._touch(issue)
            return Response(b"", status="201 Issue File(s) Attached")

        @app.get(f"{base}/issues/<int:issue_id>/files")
        def get_files(issue_id: int) -> Response:
            with self._lock:
                issue = self._get_issue(issue_id)
                attachments = list(issue["attachments"])
                for note in issue["notes"]:
                    attachments.extend(note["attachments"])
                files = [
                    {**a, "content": base64.b64encode(self._files[a["id"]]).decode("ascii")}
                    for a in attachments
                ]
            return json_response({"files": files})

        return app
