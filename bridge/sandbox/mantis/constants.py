"""MantisBT codes, enums and the error answer shared by the sandbox modules.

Values follow core/constant_inc.php and config_defaults_inc.php (api-facts.md 3.3).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import Response

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
# api/soap/mc_api.php faultFromException maps it to 400 Bad Request.
ERROR_FILE_TOO_BIG = 500
ERROR_FILE_NOT_FOUND = 506
ERROR_BUG_READ_ONLY_ACTION_DENIED = 1103

# Workflow thresholds of a stock 2.28 (config_defaults_inc.php): issues at or above RESOLVED
# are read-only for anyone below MANAGER; only a user manager (ADMINISTRATOR) sees other
# users' real names and e-mail addresses (show_realname OFF, the thresholds NOBODY).
BUG_READONLY_STATUS_THRESHOLD = STATUS["resolved"]
UPDATE_READONLY_BUG_THRESHOLD = "manager"
MANAGE_USER_THRESHOLD = "administrator"


class ApiFault(Exception):
    """An error answer: JSON `{message, code, localized}` or, with `code=None`, reason only."""

    def __init__(
        self, status: int, message: str, code: int | None = None, message_only: bool = False
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.message_only = message_only

    def response(self) -> Response:
        if self.message_only:
            # The third shape a real 2.28 sends (PATCH on a read-only issue): `{"message"}` only.
            return Response(
                json.dumps({"message": self.message}),
                status=self.reason(),
                content_type="application/json;charset=utf-8",
            )
        if self.code is None:
            # Like many Mantis handlers: only the HTTP reason phrase carries the reason.
            return Response(b"", status=f"{self.status} {self.message}")
        body = {"message": self.message, "code": self.code, "localized": self.message}
        return Response(
            json.dumps(body), status=self.reason(), content_type="application/json;charset=utf-8"
        )

    def reason(self) -> str:
        """2.28 repeats the message as the reason phrase; one that HTTP cannot carry (not
        Latin-1, a line break) falls back to the standard phrase."""
        try:
            self.message.encode("latin-1")
        except UnicodeEncodeError:
            return str(self.status)
        if "\r" in self.message or "\n" in self.message:
            return str(self.status)
        return f"{self.status} {self.message}"


@dataclass
class User:
    id: int
    name: str
    token: str
    access: str
    real_name: str | None = None
    email: str | None = None
    # Access level per project id where it differs from the global `access`.
    project_access: dict[int, str] = field(default_factory=dict)


@dataclass
class Project:
    id: int
    name: str
    categories: dict[str, int] = field(default_factory=dict)
    custom_fields: dict[str, int] = field(default_factory=dict)


def enum(kind: str, code: int) -> dict[str, Any]:
    names = {v: k for k, v in ENUMS[kind].items()}
    name = names.get(code, f"@{code}@")
    out: dict[str, Any] = {"id": code, "name": name, "label": name}
    if kind == "status":
        # An unknown name is stored as id 0 and rendered with colour "currentcolor".
        out["color"] = STATUS_COLORS.get(code, "currentcolor")
    return out


@contextmanager
def helper_errors() -> Iterator[None]:
    """Seed/inspect helpers raise ValueError (not HTTP faults) for unknown ids or names."""
    try:
        yield
    except ApiFault as exc:
        raise ValueError(exc.message) from exc


def stamp(when: datetime) -> str:
    """PHP `date('c')`: seconds, server offset."""
    return when.astimezone(SERVER_TZ).isoformat(timespec="seconds")


# $g_max_file_size default (config_defaults_inc.php): 5 MiB.
MAX_FILE_SIZE = 5 * 1024 * 1024
# Debian's stock php.ini: file_get_max_file_size() takes the least of these and max_file_size.
UPLOAD_MAX_FILESIZE = 2 * 1024 * 1024
POST_MAX_SIZE = 8 * 1024 * 1024


def too_big(filename: str) -> ApiFault:
    """What 2.28 answers after it created the note or issue without the file (not atomic)."""
    return ApiFault(400, f"File '{filename}' too big", ERROR_FILE_TOO_BIG)
