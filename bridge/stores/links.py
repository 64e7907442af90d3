"""The links: which second-level ticket an escalation created, per pair, and the way back.

The link is what makes a pair: every later sync starts from it, and a second-level event
finds its pair through the reverse entry. It also records the follow-up writes already done
(the first-level ticket marked, the note, the history copied), so a retry finishes them
instead of doing them again. The link is written into the first-level ticket too (external
id or a custom field), so a lost store can be rebuilt from the systems themselves.
"""

from __future__ import annotations

from typing import Any

from redis import Redis

from bridge import keyspace
from bridge.models import SystemRef
from bridge.records import LinkRecord, PairKey
from bridge.stores.values import text, text_map


class LinkStore:
    """A hash per pair (keyspace.link) and a reverse string per second-level ticket."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def get_link(self, pair: PairKey) -> LinkRecord | None:
        raw = self.redis.hgetall(keyspace.link(pair))
        if not raw:
            return None
        d = text_map(raw)
        return LinkRecord(
            route=pair.route,
            first=SystemRef(d["first_system"], pair.first_id),
            second=SystemRef(d["second_system"], d["second_id"]),
            second_url=d.get("second_url", ""),
            created_at=d.get("created_at", ""),
            first_marked=d.get("first_marked") == "1",
            note_id=d.get("note_id") or None,
            history_marked=d.get("history_marked") == "1",
        )

    def save_link(self, link: LinkRecord) -> None:
        pipe = self.redis.pipeline()
        pipe.hset(
            keyspace.link(link.pair),
            mapping={
                "first_system": link.first.system,
                "second_system": link.second.system,
                "second_id": link.second.id,
                "second_url": link.second_url,
                "created_at": link.created_at,
                "first_marked": "1" if link.first_marked else "0",
                "note_id": link.note_id or "",
                "history_marked": "1" if link.history_marked else "0",
            },
        )
        pipe.set(keyspace.reverse_link(link.route, link.second), link.first.id)
        pipe.execute()

    def update_link(self, pair: PairKey, **changes: Any) -> None:
        values: dict[Any, Any] = {
            k: ("1" if v is True else "0" if v is False else str(v)) for k, v in changes.items()
        }
        self.redis.hset(keyspace.link(pair), mapping=values)

    def first_for_second(self, route: str, second: SystemRef) -> PairKey | None:
        """The pair a second-level ticket belongs to on a route (None: not linked there)."""
        raw = self.redis.get(keyspace.reverse_link(route, second))
        return PairKey(route, text(raw)) if raw else None
