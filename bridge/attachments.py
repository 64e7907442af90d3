"""Carry a comment's files from one system to the other, streamed through temporary files.

A file that cannot be copied (too large for the target, refused, or a system without file
support) is never dropped silently: the caller names it in the copied comment with the reason,
in the language of the team that reads the copy and with the systems' display names.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from typing import BinaryIO, cast

from bridge.errors import PermanentError, RetryableError
from bridge.models import Attachment
from bridge.protocol import Capability, Connector, FetchesAttachments
from bridge.texts import Language, system_title, text


def max_bytes_for(connector: Connector) -> int:
    """The target's limit: `options.max_attachment_bytes` as given, else the connector's own
    (its type's `limits`, narrowed by what the site reports: MantisBT's max_file_size)."""
    configured = connector.settings.options.get("max_attachment_bytes")
    return int(configured) if configured else connector.max_attachment_bytes


def _size(n: int, lang: Language) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else text(lang, "bytes", n=n)


def carry_attachments(
    src: Connector,
    dst: Connector,
    attachments: Iterable[Attachment],
    lang: Language = Language.EN,
) -> tuple[tuple[Attachment, ...], list[str]]:
    """Fetch each file into a temp file; return (files ready to upload, reasons for the rest).

    The reasons are written in `lang`. The caller deletes the temp files (Attachment.path)
    after the upload.
    """
    ready: list[Attachment] = []
    notes: list[str] = []
    items = list(attachments)
    if not items:
        return (), []
    if Capability.ATTACHMENTS not in src.capabilities or Capability.ATTACHMENTS not in (
        dst.capabilities
    ):
        src_name, dst_name = system_title(src.settings), system_title(dst.settings)
        return (), [
            text(lang, "file_no_transfer", file=a.filename, src=src_name, dst=dst_name)
            for a in items
        ]
    limit = max_bytes_for(dst)
    dst_name = system_title(dst.settings)

    def too_big(att: Attachment, size: str = "") -> str:
        return text(lang, "file_too_big", file=att.filename, size=size, limit=_size(limit, lang),
                    dst=dst_name)  # fmt: skip

    fetcher = cast(FetchesAttachments, src)
    try:
        for att in items:
            if att.size is not None and att.size > limit:
                notes.append(too_big(att, f" ({_size(att.size, lang)})"))
                continue
            handle = tempfile.NamedTemporaryFile(prefix="bridge-", delete=False)  # noqa: SIM115
            try:
                with handle:
                    written = fetcher.fetch_attachment(att, cast(BinaryIO, handle), limit)
            except PermanentError as exc:
                os.unlink(handle.name)
                if exc.status == 413:
                    notes.append(too_big(att))
                else:
                    notes.append(text(lang, "file_refused", file=att.filename, reason=exc))
                continue
            except BaseException:
                os.unlink(handle.name)
                raise
            ready.append(
                Attachment(
                    filename=att.filename,
                    content_type=att.content_type,
                    size=written,
                    path=handle.name,
                )
            )
    except RetryableError:
        for f in ready:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f.path or "")
        raise
    return tuple(ready), notes
