"""Rules of a stock MantisBT 2.28.4 that change what a bridge sees (mantis-real.md).

Kept apart from the store's bookkeeping so each rule is one small function the routes call:
access levels per project, read-only resolved/closed issues, `reassign_on_feedback`, names
hidden from non-managers, and utf8mb3 tables that keep no 4-byte characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bridge.sandbox.mantis.constants import (
    ACCESS,
    BUG_READONLY_STATUS_THRESHOLD,
    ERROR_BUG_READ_ONLY_ACTION_DENIED,
    MANAGE_USER_THRESHOLD,
    STATUS,
    UPDATE_READONLY_BUG_THRESHOLD,
    ApiFault,
    User,
)

# Characters outside the Basic Multilingual Plane take 4 bytes in UTF-8; a utf8mb3 column
# cannot hold them and 2.28 stores U+FFFD instead, without an error.
ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def access_level(user: User, project_id: int) -> int:
    """The user's access level on a project (its own entry, else the global level)."""
    return ACCESS[user.project_access.get(project_id, user.access)]


def access_name(user: User, project_id: int) -> str:
    return user.project_access.get(project_id, user.access)


def check_writable(issue: Mapping[str, Any], user: User, message_only: bool = False) -> None:
    """403 for a change to a resolved/closed issue by a user below MANAGER on its project.

    A note answers in the usual JSON shape (code 1103, "read-only."); a PATCH answers with
    `{"message"}` only and the spelling "readonly", as the real server does.
    """
    if issue["status"] < BUG_READONLY_STATUS_THRESHOLD:
        return
    if access_level(user, issue["project_id"]) >= ACCESS[UPDATE_READONLY_BUG_THRESHOLD]:
        return
    if message_only:
        raise ApiFault(403, f"Issue '{issue['id']}' is readonly", message_only=True)
    raise ApiFault(403, f"Issue '{issue['id']}' is read-only.", ERROR_BUG_READ_ONLY_ACTION_DENIED)


def status_after_reporter_note(issue: Mapping[str, Any], author: User) -> int | None:
    """`reassign_on_feedback` (ON): the reporter's note on a `feedback` issue sends it back to
    `assigned` when it has a handler, else to `new`. None when the rule does not apply."""
    if issue["status"] != STATUS["feedback"] or issue["reporter_id"] != author.id:
        return None
    return STATUS["assigned"] if issue.get("handler_id") else STATUS["new"]


def mb3(text: str) -> str:
    """What a utf8mb3 table gives back for `text`."""
    return ASTRAL.sub("\ufffd", text)


def sees_private_details(viewer: User | None, user_id: Any) -> bool:
    """Real name and e-mail are shown for oneself and to a user manager only; `viewer=None`
    is the sandbox's own inspection, which sees everything."""
    if viewer is None or viewer.id == user_id:
        return True
    return ACCESS[viewer.access] >= ACCESS[MANAGE_USER_THRESHOLD]


def redact_user(ref: Any, viewer: User | None) -> Any:
    """A rendered user reference as `viewer` gets it."""
    if not isinstance(ref, dict) or sees_private_details(viewer, ref.get("id")):
        return ref
    return {k: v for k, v in ref.items() if k not in ("real_name", "email")}


def redact_issue(out: dict[str, Any], viewer: User | None) -> dict[str, Any]:
    """Every user reference in a rendered issue (reporter, handler, notes, files, history)."""
    for key in ("reporter", "handler"):
        if key in out:
            out[key] = redact_user(out[key], viewer)
    for note in out.get("notes") or ():
        redact_note(note, viewer)
    for attachment in out.get("attachments") or ():
        attachment["reporter"] = redact_user(attachment.get("reporter"), viewer)
    for entry in out.get("history") or ():
        entry["user"] = redact_user(entry.get("user"), viewer)
    return out


def redact_note(note: dict[str, Any], viewer: User | None) -> dict[str, Any]:
    note["reporter"] = redact_user(note.get("reporter"), viewer)
    for attachment in note.get("attachments") or ():
        attachment["reporter"] = redact_user(attachment.get("reporter"), viewer)
    return note
