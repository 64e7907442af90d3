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
from typing import IO, Any, BinaryIO

from bridge.errors import PermanentError
from bridge.models import Attachment
from connectors.http import HttpClient
from connectors.transport import ForeignHost

log = logging.getLogger(__name__)


class FileBody:
    """A local file as a request body that starts from byte 0 on every attempt.

    requests measures a body with `len()` each time it prepares a request, and tenacity may
    resend a request after a blip (a 503, a refused connection). Rewinding at that moment makes
    the retry send the whole file instead of an empty body from a file already read to its end.
    """

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self._handle = handle
        self._size = size

    def __len__(self) -> int:
        self._handle.seek(0)
        return self._size

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)


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
                size = _size_of(handle)
                data = http.json("POST", "uploads", what, data=FileBody(handle, size), **kwargs)
        upload = data.get("upload") if isinstance(data, Mapping) else None
        new_token = upload.get("token") if isinstance(upload, Mapping) else None
        if not new_token:
            raise PermanentError(f"zendesk upload of {attachment.filename}: no token returned")
        token = str(new_token)
    return token


def _size_of(handle: IO[bytes]) -> int:
    handle.seek(0, 2)
    size = handle.tell()
    handle.seek(0)
    return size


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
