"""Zendesk attachments: streamed two-step uploads and bounded, credential-safe downloads.

Files can be larger than what a worker should hold in memory, so uploads send a local file as the
raw request body (requests streams file objects) and downloads copy chunk by chunk into the
caller's file, stopping as soon as the size limit is passed. Zendesk serves attachment content
from other hosts (`*.zdusercontent.com`, after a redirect from `content_url`); the account's
credentials must never travel there, so redirects are followed by hand and only requests to the
configured host carry the auth header.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import IO, Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import requests

from bridge.errors import PermanentError, RetryableError
from bridge.models import Attachment
from connectors.http import HttpClient

log = logging.getLogger(__name__)

CHUNK_SIZE = 64 * 1024
MAX_REDIRECTS = 5


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


def same_origin(url: str, base: str) -> bool:
    """Scheme, host and port equal: the only URLs that may see the account's credentials."""
    ours, theirs = urlsplit(base), urlsplit(url)
    return (ours.scheme, ours.netloc.lower()) == (theirs.scheme, theirs.netloc.lower())


def anonymous_client(http: HttpClient) -> HttpClient:
    """A client for foreign hosts: same timeouts and retries, no credentials at all."""
    return HttpClient("", timeout=http.timeout, attempts=http.attempts, wait_max=http.wait_max)


def fetch(
    http: HttpClient,
    base_url: str,
    attachment: Attachment,
    dest: BinaryIO,
    max_bytes: int,
) -> int:
    """Stream `attachment.url` into `dest`; PermanentError(413) once `max_bytes` is passed.

    Bytes already written before the limit was noticed stay in `dest`; the caller discards the
    file on error. A drop mid-body is a RetryableError (the download can simply be repeated).
    """
    if not attachment.url:
        raise PermanentError(f"zendesk attachment {attachment.filename}: no content_url")
    if attachment.size is not None and attachment.size > max_bytes:
        raise _too_big(attachment, max_bytes, attachment.size)
    response = _follow(http, base_url, attachment)
    try:
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > max_bytes:
            raise _too_big(attachment, max_bytes, int(length))
        written = 0
        try:
            for chunk in response.iter_content(CHUNK_SIZE):
                written += len(chunk)
                if written > max_bytes:
                    raise _too_big(attachment, max_bytes, None)
                dest.write(chunk)
        except requests.RequestException as exc:
            raise RetryableError(
                f"download of zendesk attachment {attachment.filename} broke off: {exc}"
            ) from exc
        return written
    finally:
        response.close()


def _follow(http: HttpClient, base_url: str, attachment: Attachment) -> requests.Response:
    """GET with redirects followed by hand, so each hop decides on credentials by its host."""
    url = str(attachment.url)
    anonymous: HttpClient | None = None
    what = f"download zendesk attachment {attachment.filename}"
    for _ in range(MAX_REDIRECTS + 1):
        if same_origin(url, base_url):
            client = http
        else:
            anonymous = anonymous or anonymous_client(http)
            client = anonymous
        response = client.request(
            "GET", url, what, stream=True, allow_redirects=False, headers={"Accept": "*/*"}
        )
        location = response.headers.get("Location")
        if response.is_redirect and location:
            response.close()
            url = urljoin(url, location)
            continue
        if 300 <= response.status_code < 400:
            response.close()
            raise PermanentError(f"{what}: {response.status_code} without a usable Location")
        return response
    raise PermanentError(f"{what}: more than {MAX_REDIRECTS} redirects")


def _too_big(attachment: Attachment, max_bytes: int, size: int | None) -> PermanentError:
    told = f" ({size} bytes)" if size is not None else ""
    return PermanentError(
        f"zendesk attachment {attachment.filename}{told} is larger than the limit of "
        f"{max_bytes} bytes",
        status=413,
    )
