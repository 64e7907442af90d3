"""What a real MantisBT 2.28 does to a write that the bridge must catch (mantis-real.md).

* Resolved/closed issues are read-only below MANAGER: a 403 in two shapes ("is read-only." on
  a note, "is readonly" on a PATCH) becomes one `ReadOnlyTicket` saying what to grant.
* Unknown enum names are stored as id 0 (`@0@`): an answer carrying one is an error.
* Files: one above the site's limit is not sent but named in the note; a `400 File 'x' too
  big` after a create means the note or issue exists *without* the file (not atomic), so it is
  looked for instead of being written again.
* utf8mb3 tables keep no 4-byte characters: text is compared the way the server stores it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

from bridge.errors import BridgeError, FilesLeftOut, PermanentError, ReadOnlyTicket
from bridge.models import Attachment
from connectors.http import HttpClient
from connectors.mantis.enums import EnumKind, is_unknown_value

# Debian's stock php.ini `upload_max_filesize`; the server takes the least of it, post_max_size
# (8M) and $g_max_file_size, so 2 MiB is what a stock install accepts unless told otherwise.
DEFAULT_MAX_ATTACHMENT_BYTES = 2 * 1024 * 1024

READ_ONLY = re.compile(r"is read-?only", re.IGNORECASE)
TOO_BIG = re.compile(r"File '(?P<name>.*?)' too big")
ASTRAL = re.compile("[\U00010000-\U0010ffff]")


def read_only_refusal(exc: PermanentError) -> bool:
    """Is this MantisBT's answer to a change of a read-only (resolved/closed) issue?"""
    return exc.status == 403 and READ_ONLY.search(str(exc)) is not None


def read_only_error(
    ticket_id: str, status: str | None, project: str | None, level: str | None
) -> ReadOnlyTicket:
    """The refusal in plain words: what happened, and the two ways to allow it."""
    state = status if status in ("resolved", "closed") else "resolved/closed"
    who = "the bridge user"
    if level and project:
        who += f" (access level {level.upper()} on project {project})"
    elif level:
        who += f" (access level {level.upper()})"
    return ReadOnlyTicket(
        f"MantisBT refuses changes to {state} issue {ticket_id} for {who}: give the bridge "
        "user MANAGER on that project, or set update_readonly_bug_threshold to its level in "
        "MantisBT's configuration",
        ticket_id=ticket_id,
        access_level=level,
    )


def explain_read_only(
    http: HttpClient, ticket_id: str, issue: Mapping[str, Any] | None
) -> ReadOnlyTicket:
    """The read-only refusal in plain words, with the issue's status and project and the
    bridge user's level there when they can be read (best effort: the refusal stands)."""
    status = project = level = None
    try:
        if issue is None:
            data = http.json(
                "GET",
                f"issues/{ticket_id}",
                "read a refused issue",
                params={"select": "id,project,status"},
            )
            listed = data.get("issues") if isinstance(data, Mapping) else None
            issue = listed[0] if isinstance(listed, list) and listed else {}
        status = (issue.get("status") or {}).get("name")
        ref = issue.get("project") or {}
        project = ref.get("name")
        if ref.get("id") is not None:
            data = http.json("GET", f"projects/{ref['id']}", "read the bridge user's access level")
            listed = data.get("projects") if isinstance(data, Mapping) else None
            if isinstance(listed, list) and listed and isinstance(listed[0], Mapping):
                level = (listed[0].get("access_level") or {}).get("name")
    except BridgeError:
        pass  # the refusal is the news; what the lookups would add is only detail
    return read_only_error(ticket_id, status, project, level)


def too_big_refusal(exc: PermanentError) -> str | None:
    """The file name of a `400 File 'x' too big`, else None."""
    if exc.status != 400:
        return None
    found = TOO_BIG.search(str(exc))
    return found.group("name") if found else None


def file_size(attachment: Attachment) -> int | None:
    if attachment.content is not None:
        return len(attachment.content)
    if attachment.path is not None:
        try:
            return os.path.getsize(attachment.path)
        except OSError:
            return attachment.size
    return attachment.size


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def within_limit(
    attachments: Iterable[Attachment], limit: int
) -> tuple[tuple[Attachment, ...], list[str]]:
    """(files to send, a line naming each file left out because it is above `limit`)."""
    kept: list[Attachment] = []
    notices: list[str] = []
    for attachment in attachments:
        size = file_size(attachment)
        if size is not None and size > limit:
            notices.append(
                f"File {attachment.filename} ({_mib(size)}) was not copied: larger than the "
                f"{_mib(limit)} this MantisBT accepts."
            )
        else:
            kept.append(attachment)
    return tuple(kept), notices


def stored_form(text: str) -> str:
    """`text` as a utf8mb3 MantisBT keeps it: every 4-byte character becomes U+FFFD."""
    return ASTRAL.sub("\ufffd", text)


def as_stored(text: str) -> str:
    """`text` as a utf8mb3 MantisBT gives it back, whitespace-normalised for comparison."""
    return " ".join(stored_form(text).split())


def find_note(issue: Mapping[str, Any], text: str, author_id: str | None) -> str | None:
    """The newest note with this text (by the bridge user when its id is known)."""
    wanted = as_stored(text)
    found: list[int] = []
    for note in issue.get("notes") or ():
        reporter = note.get("reporter") or {}
        if author_id is not None and str(reporter.get("id")) != author_id:
            continue
        if as_stored(str(note.get("text") or "")) == wanted and str(note.get("id")).isdigit():
            found.append(int(note["id"]))
    return str(max(found)) if found else None


def note_kept_without_file(
    issue: Mapping[str, Any],
    ticket_id: str,
    text: str,
    filename: str,
    exc: PermanentError,
    author_id: str | None,
    system: str,
) -> NoReturn:
    """After `400 File 'x' too big` the note exists without the file (2.28 is not atomic):
    name that note and the file left out rather than write it twice; the refusal stands if
    the note is not there. `issue` is the issue read again with its notes."""
    found = find_note(issue, text, author_id)
    if found is None:
        raise exc
    raise FilesLeftOut(
        f"{system} refused file {filename} as too big after creating note "
        f"{found} on issue {ticket_id} (lower options.max_attachment_bytes)",
        written_id=found,
        files=(filename,),
    )


def refuse_unknown_values(
    item: Mapping[str, Any], sent: Mapping[str, Any], what: str, ticket_id: str
) -> None:
    """PermanentError when an enum the bridge sent came back as id 0 / `@0@`: MantisBT took
    a name it does not know and the issue now carries a broken value."""
    for kind in EnumKind:
        if kind.value in sent and is_unknown_value(item.get(kind.value)):
            ref = sent[kind.value]
            shown = repr(ref.get("name", ref.get("id"))) if isinstance(ref, Mapping) else repr(ref)
            raise PermanentError(
                f"{what}: MantisBT stored {kind.value} {shown} of issue {ticket_id} "
                "as @0@ (a name it does not know); set the issue's "
                f"{kind.value} by hand and use one of the site's {kind.plural}"
            )
