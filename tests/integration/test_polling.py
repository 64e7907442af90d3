"""Polling on a real Redis: high-water mark, overlap, dedupe, and the unfinished second."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.models import Event, EventKind, SystemRef
from bridge.polling import poll_once, poll_status
from bridge.protocol import Capability, SystemSettings
from bridge.queue import get_queue
from bridge.records import LinkRecord
from bridge.sandbox.stack import Stack
from bridge.stores import LinkStore

T0 = datetime(2026, 11, 24, 10, 0, 0, tzinfo=UTC)


class FakeTracker:
    """A polled second-level system whose changes the test scripts."""

    kind = "mantis"
    capabilities = frozenset({Capability.POLLING})

    def __init__(self) -> None:
        self.settings = SystemSettings(
            name="vendor", type="mantis", url="http://x", bridge_user="1"
        )
        self.changes: list[tuple[str, datetime]] = []
        self.asked: list[datetime] = []

    def changes_since(self, since: datetime) -> list[Event]:
        self.asked.append(since)
        return [
            Event(
                SystemRef("vendor", i),
                EventKind.TICKET_UPDATED,
                f"poll:{i}:{t.isoformat()}",
                actor_id="1",
                occurred_at=t,
            )
            for i, t in self.changes
            if t >= since
        ]


def at_t0() -> datetime:
    """The test's clock: a first poll starts from T0, whatever today is."""
    return T0


def link(stack: Stack, first: str, second: str) -> None:
    LinkStore(stack.redis).save_link(
        LinkRecord("acme", SystemRef("helpdesk", first), SystemRef("vendor", second), "", "")
    )


def test_changes_of_linked_issues_queue_syncs_once(stack: Stack) -> None:
    link(stack, "11", "1")
    tracker = FakeTracker()
    queue = get_queue(stack.redis, stack.config)
    tracker.changes = [("1", T0), ("2", T0 + timedelta(seconds=5))]  # issue 2 is not linked
    first = poll_once("vendor", tracker, stack.config, stack.redis, queue, at_t0)  # type: ignore[arg-type]
    assert (first.changes, first.queued) == (2, 1)
    job = queue.jobs[0]
    assert job.args[:2] == ["acme", "11"]
    assert job.args[2]["actor_id"] is None  # a poll cannot tell who made each change
    tracker.changes.append(("2", T0 + timedelta(seconds=9)))
    second = poll_once("vendor", tracker, stack.config, stack.redis, queue, at_t0)  # type: ignore[arg-type]
    assert second.duplicates == 1 and second.queued == 0  # issue 1 at T0: seen, finished second
    # The second poll reads from the high-water mark of the first minus the 120 s overlap.
    assert tracker.asked[1] == T0 + timedelta(seconds=5 - 120)
    assert poll_status(stack.redis, "vendor")["cursor"] == (T0 + timedelta(seconds=9)).isoformat()


def test_the_newest_second_is_synced_again_on_the_next_poll(stack: Stack) -> None:
    link(stack, "11", "1")
    tracker = FakeTracker()
    queue = get_queue(stack.redis, stack.config)
    tracker.changes = [("1", T0)]
    poll_once("vendor", tracker, stack.config, stack.redis, queue, at_t0)  # type: ignore[arg-type]
    stack.work_burst()
    # Another change lands in the same second: same (id, updated_at), must not be lost.
    again = poll_once("vendor", tracker, stack.config, stack.redis, queue, at_t0)  # type: ignore[arg-type]
    assert again.queued == 1 and again.duplicates == 0
    stack.work_burst()
    # Once is enough: by the next poll that second is over; a quiet system queues nothing more.
    for _ in range(2):
        later = poll_once("vendor", tracker, stack.config, stack.redis, queue, at_t0)  # type: ignore[arg-type]
        assert later.queued == 0 and later.duplicates == 1


def test_overlapping_polls_of_one_system_are_skipped(stack: Stack) -> None:
    tracker = FakeTracker()
    stack.redis.set("tb:polllock:vendor", "1")
    result = poll_once(
        "vendor", tracker, stack.config, stack.redis, get_queue(stack.redis, stack.config)
    )  # type: ignore[arg-type]
    assert result.skipped and tracker.asked == []
