"""Zendesk attachments: streamed two-step uploads and bounded, credential-safe downloads.

Files can be larger than what a worker should hold in memory, so uploads send a local file as the
raw request body (requests streams file objects). Downloads go through HttpClient.download, which
copies chunk by chunk, stops at the size limit and follows redirects by hand: Zendesk serves
attachment content from other hosts (`*.zdusercontent.com`, after a redirect from
`content_url`), and the account's credentials must never travel there.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO

from bridge.errors import PermanentError
from bridge.models import Attachment
from connectors.http import FileBody, HttpClient
from connectors.transport import ForeignHost

log = logging.getLogger(__name__)


def upload_all(http: HttpClient, attachments: Iterable[Attachment]) -> str | None:
    """`POST /uploads?filename=` per file, passing the first token on so one token carries all.

    `content` is sent as is; `path` is streamed from disk as the raw body. Attachments with
    neither (known only by URL) are skipped: the caller downloads them first.
    """
    token: str | None = None
    for attachment in attachments:
        if attachment.content is None and attachment.path is None:
            log.info("zendesk: skipping attachment %s without content", attachment.filename)
            continue
        params = {"filename": attachment.filename}
        if token:
            params["token"] = token
        kwargs: dict[str, Any] = {
            "params": params,
            "headers": {"Content-Type": attachment.content_type or "application/octet-stream"},
        }
        what = f"upload {attachment.filename} to zendesk"
        if attachment.content is not None:
            data = http.json("POST", "uploads", what, data=attachment.content, **kwargs)
        else:
            with open(str(attachment.path), "rb") as handle:
                data = http.json("POST", "uploads", what, data=FileBody.of(handle), **kwargs)
        upload = data.get("upload") if isinstance(data, Mapping) else None
        new_token = upload.get("token") if isinstance(upload, Mapping) else None
        if not new_token:
            raise PermanentError(f"zendesk upload of {attachment.filename}: no token returned")
        token = str(new_token)
    return token


def fetch(
    http: HttpClient,
    attachment: Attachment,
    dest: BinaryIO,
    max_bytes: int,
) -> int:
    """Stream `attachment.url` into `dest`; PermanentError(413) once `max_bytes` is passed.

    Zendesk redirects `content_url` to its CDN (`*.zdusercontent.com`), so a foreign host is
    fetched without credentials rather than refused; the account's own host gets them.
    """
    if not attachment.url:
        raise PermanentError(f"zendesk attachment {attachment.filename}: no content_url")
    return http.download(
        attachment.url,
        dest,
        max_bytes,
        f"download zendesk attachment {attachment.filename}",
        foreign=ForeignHost.ANONYMOUS,
        size=attachment.size,
    )
