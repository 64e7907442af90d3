"""A stateful MantisBT 2.x REST sandbox.

It answers under `/api/rest` with the shapes in shared/reference/api-facts.md section 3, quirks
included (a list for a single issue, server-local offsets, null/empty keys dropped, reason-phrase
only 404s, bare-token auth, base64 files with `$g_max_file_size`), so the real MantisConnector
can be exercised end to end and the demo can act as a vendor developer. The helpers
`issue()`/`issues()` return copies so tests inspect what really happened.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from bridge.sandbox.mantis.constants import (
    ACCESS,
    MAX_FILE_SIZE,
    Project,
    User,
    helper_errors,
)
from bridge.sandbox.mantis.routes import build_app
from bridge.sandbox.mantis.store import MantisStore


class MantisSandbox(MantisStore):
    """In-process MantisBT: seed with `add_user`/`add_project`, serve `.app`, inspect state.

    `now` may be injected to make timestamps deterministic (Mantis has second granularity);
    `max_file_size` is Mantis's `$g_max_file_size`; a file above `file_limit` (the least of it
    and PHP's 2M/8M) is left out of the note or issue that is still created, then 400.
    Rules of a stock 2.28 that the bridge must live with are in `rules.py`.
    """

    def __init__(
        self, now: Callable[[], datetime] | None = None, max_file_size: int = MAX_FILE_SIZE
    ) -> None:
        super().__init__(now, max_file_size)
        self.app = build_app(self)

    # -- seeding and inspection ----------------------------------------------------------

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
            self._users[user_id] = User(user_id, name, token, access, real_name, email)
            return user_id

    def add_project(
        self,
        name: str,
        categories: Iterable[str] = ("General",),
        custom_fields: Iterable[str] = (),
    ) -> int:
        """A project with its categories and linked (string) custom fields; returns its id."""
        with self._lock:
            project = Project(self._take("project"), name)
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

    def set_access(self, user_id: int, access: str, project_id: int | None = None) -> None:
        """Give a user an access level, globally or (with `project_id`) on one project, as
        Manage Users does; e.g. make the bridge user MANAGER so it may change resolved issues."""
        if access not in ACCESS:
            raise ValueError(f"unknown access level {access!r}")
        with self._lock:
            user = self._users.get(user_id)
            if user is None:
                raise ValueError(f"unknown user {user_id}")
            if project_id is None:
                user.access = access
            elif project_id not in self._projects:
                raise ValueError(f"unknown project {project_id}")
            else:
                user.project_access[project_id] = access

    def custom_field_id(self, name: str) -> int:
        with self._lock:
            return next(i for i, n in self._field_names.items() if n == name)

    def issue(self, issue_id: int) -> dict[str, Any]:
        """The issue as the API renders it (full, with notes and history), as a copy."""
        with self._lock, helper_errors():
            return self._render(self._get_issue(issue_id))

    def issues(self) -> list[dict[str, Any]]:
        with self._lock:
            return [self._render(i) for i in sorted(self._issues.values(), key=lambda i: i["id"])]

    def add_note_as(
        self, user_id: int, issue_id: int, text: str, private: bool = False
    ) -> dict[str, Any]:
        """Add a note as `user_id` (e.g. a vendor developer) without HTTP; returns the note.

        Like the web UI: `reassign_on_feedback` applies, the read-only rule does not (a vendor
        with the rights to do so acts there)."""
        with self._lock, helper_errors():
            issue = self._get_issue(issue_id)
            note = self._add_note(issue, self._users[user_id], text, private, [])
            return self._render_note(issue, note)

    def set_status_as(self, user_id: int, issue_id: int, status_name: str) -> dict[str, Any]:
        """Change the status as `user_id`, with history; returns the rendered issue."""
        with self._lock, helper_errors():
            issue = self._get_issue(issue_id)
            self._apply_patch(issue, {"status": {"name": status_name}}, self._users[user_id])
            return self._render(issue)

    def fail_next(self, n: int = 1, status: int = 503, retry_after: float | None = None) -> None:
        """The next `n` requests fail with `status` (and `Retry-After` when given); the
        once-per-site meta reads (config, projects, users/me) are not counted."""
        with self._lock:
            self._faults.extend([(status, retry_after)] * n)

    def trickle_next(self, n: int = 1, every: float = 0.3) -> None:
        """Answer the next `n` requests in full, but their bodies a byte per `every` seconds
        (bridge.sandbox.faults.trickle): only a client's total deadline ends them."""
        with self._lock:
            self._trickle.extend([every] * n)

    def refuse_notes(self, issue_id: int, status: int = 403) -> None:
        """From now on every note added to `issue_id` over the API is refused with `status`
        (Access denied), as when a project's rights change under the bridge; other issues
        and other writes to this one go on as before."""
        with self._lock:
            self._refused_notes[int(issue_id)] = status

    def requests(self) -> list[dict[str, Any]]:
        """A copy of the request log: method, path, query, headers, json body, status."""
        with self._lock:
            return copy.deepcopy(self.request_log)

    def clear_log(self) -> None:
        with self._lock:
            self.request_log.clear()
