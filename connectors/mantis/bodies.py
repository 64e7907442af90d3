"""Request bodies for MantisBT writes: object references, custom field values, inline files."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bridge.models import Attachment
from connectors.mantis.files import JsonWithFiles, encode_files, sendable


def object_ref(value: Any) -> dict[str, Any]:
    """`{"id": n}` for ids (ints or all-digit strings), `{"name": s}` otherwise.

    Settings may also give a ready object such as `{"name": "major"}`, passed through as is.
    """
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return {"id": value}
    text = str(value).strip()
    if text.isdigit():
        return {"id": int(text)}
    return {"name": text}


def field_value(value: Any) -> str:
    """Mantis custom field values are strings; lists are `|`-joined, None clears the field."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list | tuple | set | frozenset):
        return "|".join(str(v) for v in value)
    return str(value)


def body_with_files(body: Mapping[str, Any], attachments: Iterable[Attachment]) -> dict[str, Any]:
    """requests keyword arguments for a JSON body with inline `files`.

    Files in memory go into a plain `json=` body; as soon as one comes from a local `path`, the
    body is streamed (`JsonWithFiles`) so the file is never read into memory whole.
    """
    kept = sendable(attachments)
    if any(a.content is None for a in kept):
        return {"data": JsonWithFiles(body, kept), "headers": {"Content-Type": "application/json"}}
    files = encode_files(kept)
    return {"json": {**body, "files": files} if files else dict(body)}
