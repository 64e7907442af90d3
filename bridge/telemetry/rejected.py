"""The last webhooks the bridge refused (bad signature, malformed body, too large, unknown
system), for the console and `bridge failed rejected`.

A refused webhook has no job, so it never reached the failed list; a helpdesk whose secret was
rotated on one side only looked like a quiet helpdesk. Kept: when, which system, why, the
status code answered and the sender's address, plus the first EXCERPT characters of the body
with every configured secret blanked. No header is kept (they carry the signatures), nothing
beyond the excerpt of the body, and at most KEPT entries (newest first).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError

from bridge import keyspace
from bridge.telemetry.logs import redact

KEPT = 200
EXCERPT = 100  # characters of the body
DETAIL = 300  # characters of the reason's text

log = logging.getLogger("bridge")


@dataclass(frozen=True)
class Rejected:
    at: str
    system: str
    reason: str  # the error's class: SignatureError, PayloadError, BodyTooLarge, UnknownSystem
    detail: str
    status: int
    remote_addr: str
    excerpt: str = ""
    size: int = 0  # bytes of the body


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else " " for c in text)


def record(
    redis: Redis,
    system: str,
    reason: str,
    detail: str,
    status: int,
    remote_addr: str | None,
    body: bytes,
    secrets: Iterable[str],
    at: datetime,
) -> None:
    """Keep one refusal; never raises (the sender gets its answer whatever Redis does)."""
    hidden = list(secrets)
    entry = Rejected(
        at=at.isoformat(),
        system=_printable(system)[:64],
        reason=reason,
        detail=redact(_printable(detail), hidden)[:DETAIL],
        status=status,
        remote_addr=(remote_addr or "")[:64],
        excerpt=redact(_printable(body[: EXCERPT * 4].decode("utf-8", "replace")), hidden)[
            :EXCERPT
        ],
        size=len(body),
    )
    try:
        with redis.pipeline(transaction=False) as pipe:
            pipe.lpush(keyspace.REJECTED, json.dumps(entry.__dict__))
            pipe.ltrim(keyspace.REJECTED, 0, KEPT - 1)
            pipe.execute()
    except RedisError as exc:
        log.warning("rejected webhook not kept for the console: %s", exc)


def latest(redis: Redis, system: str = "", limit: int = KEPT) -> list[Rejected]:
    """Newest first, of one system when given."""
    found = []
    for raw in redis.lrange(keyspace.REJECTED, 0, KEPT - 1):
        data = json.loads(raw)
        if system and data.get("system") != system:
            continue
        found.append(Rejected(**data))
        if len(found) >= limit:
            break
    return found
