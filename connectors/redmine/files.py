"""Redmine attachments: upload first, then name the tokens in the issue or note write.

`POST /uploads.json?filename=` takes the raw file (application/octet-stream) and answers with a
token; the issue create or update that carries `uploads: [{token, filename, content_type}]`
attaches the files. A token not used is dropped by Redmine later, so a refused write leaves no
stray file on the issue. Downloads go through HttpClient.download on the configured host only:
Redmine serves its files itself, so a file URL on another host is a forged one.
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


def upload_all(http: HttpClient, attachments: Iterable[Attachment]) -> list[dict[str, str]]:
    """The `uploads` entries of a write, one upload per file with content or a local path."""
    uploads = []
    for attachment in attachments:
        if attachment.content is None and attachment.path is None:
            log.info("redmine: skipping attachment %s without content", attachment.filename)
            continue
        what = f"upload {attachment.filename} to redmine"
        kwargs: dict[str, Any] = {
            "params": {"filename": attachment.filename},
            "headers": {"Content-Type": "application/octet-stream"},
        }
        if attachment.content is not None:
            data = http.json("POST", "uploads.json", what, data=attachment.content, **kwargs)
        else:
            with open(str(attachment.path), "rb") as handle:
                data = http.json("POST", "uploads.json", what, data=FileBody.of(handle), **kwargs)
        upload = data.get("upload") if isinstance(data, Mapping) else None
        token = upload.get("token") if isinstance(upload, Mapping) else None
        if not token:
            raise PermanentError(f"redmine upload of {attachment.filename}: no token returned")
        uploads.append(
            {
                "token": str(token),
                "filename": attachment.filename,
                "content_type": attachment.content_type or "application/octet-stream",
            }
        )
    return uploads


def fetch(http: HttpClient, attachment: Attachment, dest: BinaryIO, max_bytes: int) -> int:
    """Stream the file into `dest`; PermanentError(413) once `max_bytes` is passed."""
    if not attachment.url:
        raise PermanentError(f"redmine attachment {attachment.filename}: no download URL")
    return http.download(
        attachment.url,
        dest,
        max_bytes,
        f"download redmine attachment {attachment.filename}",
        foreign=ForeignHost.REFUSE,
        size=attachment.size,
    )
