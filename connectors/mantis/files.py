"""MantisBT attachments: inline base64 written from disk as it is sent, bounded downloads.

Mantis takes files only inline (`files: [{name, content: <base64>}]` in the issue or note body)
and hands them back the same way (`GET /issues/{id}/files/{file_id}` -> base64 in JSON). A
large file must not sit in memory three times (bytes, base64 text, JSON text), so:

* writing: `JsonWithFiles` is a request body that yields the JSON around the files and encodes
  each local file in 48 KiB blocks while requests sends it; its length is known in advance, so
  Mantis gets a normal `Content-Length` (no chunked upload, which PHP set-ups handle unevenly);
* reading: the JSON answer is read up to a bound derived from `max_bytes` (4/3 for base64 plus
  room for the metadata) and refused with 413 beyond it; then the base64 text is decoded in
  blocks into `dest`. Peak memory is therefore about 4/3 * max_bytes plus one block, never
  unbounded. A true streaming JSON parser would lower that but is not worth a dependency yet.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, BinaryIO

from bridge.errors import PermanentError
from bridge.models import Attachment
from connectors.http import HttpClient

log = logging.getLogger(__name__)

BLOCK = 3 * 16 * 1024  # a multiple of 3, so each block encodes to base64 without padding
DECODE_BLOCK = 4 * 16 * 1024  # a multiple of 4, so each slice of base64 text decodes alone
METADATA_ROOM = 64 * 1024  # JSON around the content: ids, reporter, file name, dates


def sendable(attachments: Iterable[Attachment]) -> list[Attachment]:
    """Attachments Mantis can take: with `content` or a local `path` (it cannot fetch URLs)."""
    kept = []
    for attachment in attachments:
        if attachment.content is None and attachment.path is None:
            log.info("mantis: skipping attachment %s without content", attachment.filename)
            continue
        kept.append(attachment)
    return kept


def encode_files(attachments: Iterable[Attachment]) -> list[dict[str, str]]:
    """In-memory `files` entries for attachments that carry `content` (small files)."""
    return [
        {"name": a.filename, "content": base64.b64encode(a.content).decode("ascii")}
        for a in sendable(attachments)
        if a.content is not None
    ]


def b64_length(size: int) -> int:
    return 4 * ((size + 2) // 3)


class JsonWithFiles:
    """`body` as a JSON object plus `"files": [...]`, base64-encoded from disk while sending.

    Iterating starts over each time, so an inline retry sends the whole body again; `len()`
    gives the exact byte count for `Content-Length`. A file that changes size between
    construction and sending makes the request fail rather than send a wrong length.
    """

    def __init__(self, body: Mapping[str, Any], attachments: Sequence[Attachment]) -> None:
        head = json.dumps(dict(body))
        opening = head[:-1] + (", " if body else "") + '"files": ['
        self._pieces: list[bytes | tuple[str, int]] = [opening.encode()]
        for index, attachment in enumerate(attachments):
            prefix = ", " if index else ""
            self._pieces.append(
                f'{prefix}{{"name": {json.dumps(attachment.filename)}, "content": "'.encode()
            )
            if attachment.content is not None:
                self._pieces.append(base64.b64encode(attachment.content))
            else:
                path = str(attachment.path)
                self._pieces.append((path, os.path.getsize(path)))
            self._pieces.append(b'"}')
        self._pieces.append(b"]}")

    def __len__(self) -> int:
        return sum(len(p) if isinstance(p, bytes) else b64_length(p[1]) for p in self._pieces)

    def __iter__(self) -> Iterator[bytes]:
        for piece in self._pieces:
            if isinstance(piece, bytes):
                yield piece
            else:
                yield from _encode_file(*piece)


def _encode_file(path: str, size: int) -> Iterator[bytes]:
    sent = 0
    with open(path, "rb") as handle:
        while True:
            block = handle.read(BLOCK)
            if not block:
                break
            while len(block) % 3 and (more := handle.read(BLOCK - len(block))):
                block += more  # a short read mid-file would put padding in the middle
            sent += len(block)
            yield base64.b64encode(block)
    if sent != size:
        raise OSError(f"{path} changed size while being sent ({size} -> {sent} bytes)")


def fetch(
    http: HttpClient,
    attachment: Attachment,
    dest: BinaryIO,
    max_bytes: int,
) -> int:
    """Download one file (`attachment.url` = the REST files URL) into `dest`; return its size.

    PermanentError(413) when the file is larger than `max_bytes` (by metadata, by
    Content-Length, or while reading). Mantis serves files only from its own REST API, so a URL
    on another host is refused outright (the token would go along).
    """
    what = f"download MantisBT file {attachment.filename}"
    if not attachment.url:
        raise PermanentError(f"{what}: no URL")
    if attachment.size is not None and attachment.size > max_bytes:
        raise _too_big(what, max_bytes, attachment.size)
    answer = io.BytesIO()
    try:
        http.download(
            attachment.url,
            answer,
            b64_length(max_bytes) + METADATA_ROOM,
            what,
            accept="application/json",
        )
    except PermanentError as exc:
        if exc.status == 413:  # the bound is on the JSON text; name the file's limit instead
            raise _too_big(what, max_bytes, None) from exc
        raise
    try:
        data = json.loads(answer.getvalue())
    except ValueError as exc:
        raise PermanentError(f"{what}: answer is not JSON") from exc
    del answer
    entries = data.get("files") if isinstance(data, Mapping) else None
    if entries == []:
        # 2.28 answers a file id it does not have (deleted since) with 200 and no files.
        raise PermanentError(f"{what}: MantisBT has no such file (deleted?)", status=404)
    entry = entries[0] if isinstance(entries, list) and entries else None
    if not isinstance(entry, Mapping) or not isinstance(entry.get("content"), str):
        raise PermanentError(f"{what}: answer has no file content")
    size = entry.get("size")
    if isinstance(size, int) and size > max_bytes:
        raise _too_big(what, max_bytes, size)
    return _decode_into(entry["content"], dest, max_bytes, what)


def _decode_into(text: str, dest: BinaryIO, max_bytes: int, what: str) -> int:
    written = 0
    try:
        for start in range(0, len(text), DECODE_BLOCK):
            block = base64.b64decode(text[start : start + DECODE_BLOCK], validate=True)
            written += len(block)
            if written > max_bytes:
                raise _too_big(what, max_bytes, None)
            dest.write(block)
    except (binascii.Error, ValueError) as exc:
        raise PermanentError(f"{what}: content is not valid base64") from exc
    return written


def _too_big(what: str, max_bytes: int, size: int | None) -> PermanentError:
    told = f" ({size} bytes)" if size is not None else ""
    return PermanentError(f"{what}{told}: larger than the limit of {max_bytes} bytes", status=413)
