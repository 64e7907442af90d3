"""The MantisBT sandbox's state and the rules Mantis applies when issues change.

Plain dicts behind one re-entrant lock. The routes module works on this state directly (it is
part of the package); the public surface is `MantisSandbox`.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import mimetypes
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from bridge.sandbox.mantis.constants import (
    ENUMS,
    ERROR_CATEGORY_NOT_FOUND,
    ERROR_CUSTOM_FIELD_NOT_FOUND,
    ERROR_EMPTY_FIELD,
    ERROR_INVALID_FIELD_VALUE,
    ERROR_PROJECT_NOT_FOUND,
    HISTORY_TYPES,
    MAX_FILE_SIZE,
    POST_MAX_SIZE,
    SERVER_TZ,
    STATUS,
    UPLOAD_MAX_FILESIZE,
    VIEW_STATE,
    ApiFault,
    Project,
    User,
    enum,
    stamp,
)
from bridge.sandbox.mantis.rules import mb3, redact_issue, redact_note, status_after_reporter_note


class MantisStore:
    """In-process MantisBT state. `now` may be injected for deterministic timestamps (Mantis
    has second granularity); `max_file_size` is `$g_max_file_size` (default 5 MiB), and
    `upload_max_filesize`/`post_max_size` the PHP limits (Debian's 2M/8M): the least of the
    three is what a file may weigh."""

    def __init__(
        self, now: Callable[[], datetime] | None = None, max_file_size: int = MAX_FILE_SIZE
    ) -> None:
        self._lock = threading.RLock()
        self._now = now or (lambda: datetime.now(SERVER_TZ))
        self._users: dict[int, User] = {}
        self._projects: dict[int, Project] = {}
        self._field_names: dict[int, str] = {}
        self._tags: dict[str, int] = {}
        self._issues: dict[int, dict[str, Any]] = {}
        self._files: dict[int, bytes] = {}
        self._next = {"user": 1, "project": 1, "category": 1, "field": 1, "issue": 1}
        self._next.update({"note": 1, "file": 1, "tag": 1})
        self._faults: list[tuple[int, float | None]] = []
        self._trickle: list[float] = []  # seconds per byte of the next answers (fault mode)
        self._refused_notes: dict[int, int] = {}  # issue id -> status its note writes get
        self.request_log: list[dict[str, Any]] = []
        self.moderate_new_issues = False
        self.max_file_size = max_file_size
        self.upload_max_filesize = UPLOAD_MAX_FILESIZE
        self.post_max_size = POST_MAX_SIZE
        self.reassign_on_feedback = True

    @property
    def file_limit(self) -> int:
        """file_get_max_file_size(): the least of the PHP limits and `$g_max_file_size`."""
        return min(self.upload_max_filesize, self.post_max_size, self.max_file_size)

    def _take(self, kind: str) -> int:
        value = self._next[kind]
        self._next[kind] = value + 1
        return value

    # -- internals -----------------------------------------------------------------------

    def _get_issue(self, issue_id: int) -> dict[str, Any]:
        issue = self._issues.get(int(issue_id))
        if issue is None:
            raise ApiFault(404, f"Issue #{issue_id} not found")
        return issue

    def _user_ref(self, user: User) -> dict[str, Any]:
        out: dict[str, Any] = {"id": user.id, "name": user.name}
        if user.real_name:
            out["real_name"] = user.real_name
        if user.email:
            out["email"] = user.email
        return out

    def _history(
        self,
        issue: dict[str, Any],
        user: User,
        kind: str,
        message: str,
        field_name: str | None = None,
        old: Any = None,
        new: Any = None,
        note_id: int | None = None,
    ) -> None:
        entry: dict[str, Any] = {
            "created_at": stamp(self._now()),
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
        """`{"name"}` or `{"id"}` -> code. An unknown *name* is taken, as 2.28 does, and stored
        as id 0 (rendered `@0@`); an unknown id or a value of the wrong shape is 400."""
        label = what or kind
        table = ENUMS[kind]
        if isinstance(value, Mapping):
            if "id" in value and value["id"] in table.values():
                return int(value["id"])
            if "name" in value and isinstance(value["name"], str):
                return table.get(value["name"], 0)
        elif isinstance(value, str):
            return table.get(value, 0)
        raise ApiFault(
            400, f"Invalid value for '{label}': {json.dumps(value)}", ERROR_INVALID_FIELD_VALUE
        )

    def _project_of(self, value: Any) -> Project:
        if not isinstance(value, Mapping) or not (value.get("id") or value.get("name")):
            raise ApiFault(400, "Project not specified", ERROR_EMPTY_FIELD)
        for project in self._projects.values():
            if str(value.get("id", "")) == str(project.id) or value.get("name") == project.name:
                return project
        ident = value.get("id", value.get("name"))
        raise ApiFault(404, f"Project '{ident}' not found", ERROR_PROJECT_NOT_FOUND)

    def _category_of(self, project: Project, value: Any) -> int:
        if not isinstance(value, Mapping) or not (value.get("id") or value.get("name")):
            raise ApiFault(400, "Category field must be supplied.", ERROR_EMPTY_FIELD)
        for name, cat_id in project.categories.items():
            if str(value.get("id", "")) == str(cat_id) or value.get("name") == name:
                return cat_id
        ident = value.get("id", value.get("name"))
        raise ApiFault(404, f"Category '{ident}' not found", ERROR_CATEGORY_NOT_FOUND)

    def _custom_values(self, project: Project, entries: Any) -> dict[int, str]:
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
            values[found] = "" if value is None else mb3(str(value))
        return values

    def _decode_files(self, files: Any, user: User) -> tuple[list[dict[str, Any]], str | None]:
        """Stored files, and the name of the first one above `file_limit` (None if none).

        Malformed entries are refused before anything is written. A file that is too big is
        not: 2.28 writes the note or issue first and attaches files one by one, so the caller
        keeps what it created and then answers `too_big(name)` (not atomic).
        """
        if not isinstance(files, list):
            raise ApiFault(400, "Invalid files", ERROR_INVALID_FIELD_VALUE)
        decoded: list[tuple[str, bytes]] = []
        for item in files:
            if not isinstance(item, Mapping) or not item.get("name"):
                raise ApiFault(400, "File name not specified", ERROR_EMPTY_FIELD)
            try:
                content = base64.b64decode(str(item.get("content", "")), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ApiFault(400, "Invalid file content", ERROR_INVALID_FIELD_VALUE) from exc
            decoded.append((mb3(str(item["name"])), content))
        stored: list[dict[str, Any]] = []
        for name, content in decoded:
            if len(content) > self.file_limit:
                return stored, name  # file_add() -> ERROR_FILE_TOO_BIG; later files are not tried
            file_id = self._take("file")
            self._files[file_id] = content
            stored.append(
                {
                    "id": file_id,
                    "reporter": self._user_ref(user),
                    "created_at": stamp(self._now()),
                    "filename": name,
                    "size": len(content),
                    "content_type": mimetypes.guess_type(name)[0] or "application/octet-stream",
                }
            )
        return stored, None

    def _add_note(
        self,
        issue: dict[str, Any],
        user: User,
        text: str,
        private: bool,
        attachments: list[dict[str, Any]],
    ) -> dict[str, Any]:
        now = self._now()
        note_id = self._take("note")
        note: dict[str, Any] = {
            "id": note_id,
            "reporter": self._user_ref(user),
            "text": mb3(text),
            "view_state": enum("view_state", VIEW_STATE["private" if private else "public"]),
            "attachments": attachments,
            "type": "note",
            "created_at": now,
            "updated_at": now,
        }
        issue["notes"].append(note)
        self._history(issue, user, "note-added", "Note Added", note_id=note_id)
        for attachment in attachments:
            self._history(issue, user, "file-added", f"File Added: {attachment['filename']}")
        flipped = status_after_reporter_note(issue, user) if self.reassign_on_feedback else None
        if flipped is not None:
            self._setenum(issue, "status", flipped, user)  # attributed to the note's author
        self._touch(issue)
        return note

    def _setenum(self, issue: dict[str, Any], kind: str, code: int, user: User) -> None:
        if issue[kind] != code:
            old = enum(kind, issue[kind])["name"]
            issue[kind] = code
            self._history(issue, user, "field-updated", "", kind, old, enum(kind, code)["name"])

    def _apply_patch(self, issue: dict[str, Any], patch: Mapping[str, Any], user: User) -> None:
        """Validate everything first, then apply, so a bad patch changes nothing."""
        project = self._projects[issue["project_id"]]
        enums = {kind: self._enum_code(kind, patch[kind]) for kind in ENUMS if kind in patch}
        category = self._category_of(project, patch["category"]) if "category" in patch else None
        values = (
            self._custom_values(project, patch["custom_fields"]) if "custom_fields" in patch else {}
        )
        handler: User | None = None
        if patch.get("handler"):
            handler = self._find_user(patch["handler"])
        for key in ("summary", "description", "steps_to_reproduce", "additional_information"):
            if key in patch:
                if key == "summary" and not str(patch[key] or "").strip():
                    raise ApiFault(400, "Summary not specified", ERROR_EMPTY_FIELD)
                old = issue.get(key) or ""
                new_text = mb3(str(patch[key] or ""))
                if old != new_text:
                    issue[key] = new_text
                    self._history(issue, user, "field-updated", "", key, old, new_text)
        for kind, code in enums.items():
            self._setenum(issue, kind, code, user)
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
                self._setenum(issue, "status", STATUS["assigned"], user)
        self._touch(issue)

    def _find_user(self, ref: Any) -> User:
        if isinstance(ref, Mapping):
            for user in self._users.values():
                if str(ref.get("id", "")) == str(user.id) or ref.get("name") == user.name:
                    return user
        raise ApiFault(404, f"User '{json.dumps(ref)}' not found", 800)

    def _render_note(
        self, issue: dict[str, Any], note: dict[str, Any], viewer: User | None = None
    ) -> dict[str, Any]:
        out = copy.deepcopy(note)
        out["created_at"] = stamp(note["created_at"])
        out["updated_at"] = stamp(note["updated_at"])
        return redact_note(out, viewer)

    def _render(
        self,
        issue: dict[str, Any],
        select: Iterable[str] | None = None,
        viewer: User | None = None,
    ) -> dict[str, Any]:
        """API representation as `viewer` sees it (None: everything, for inspection); null
        fields and empty arrays dropped at the top level only."""
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
            "status": enum("status", issue["status"]),
            "resolution": enum("resolution", issue["resolution"]),
            "view_state": enum("view_state", issue["view_state"]),
            "priority": enum("priority", issue["priority"]),
            "severity": enum("severity", issue["severity"]),
            "reproducibility": enum("reproducibility", issue["reproducibility"]),
            "sticky": False,
            "created_at": stamp(issue["created_at"]),
            "updated_at": stamp(issue["updated_at"]),
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
        redact_issue(out, viewer)
        if select is not None:
            wanted = set(select)
            out = {k: v for k, v in out.items() if k in wanted}
        return {k: v for k, v in out.items() if v is not None and v != []}

    @staticmethod
    def _etag(payload: Any) -> str:
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    # -- HTTP ----------------------------------------------------------------------------
