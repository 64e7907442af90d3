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


class Clock:
    """The bridge's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_the_newest_second_is_looked_at_until_it_is_over(stack: Stack) -> None:
    link(stack, "11", "1")
    tracker = FakeTracker()
    queue = get_queue(stack.redis, stack.config)
    clock = Clock()

    def poll() -> tuple[int, int]:
        result = poll_once("vendor", tracker, stack.config, stack.redis, queue, clock)  # type: ignore[arg-type]
        stack.work_burst()
        return result.queued, result.duplicates

    tracker.changes = [("1", T0)]
    assert poll() == (1, 0)
    # Polls in quick succession (a resume, `bridge poll`): another change may still land in that
    # second, with the same (id, updated_at); each of them looks again.
    clock.now = T0 + timedelta(milliseconds=300)
    assert poll() == (1, 0)
    clock.now = T0 + timedelta(milliseconds=900)
    assert poll() == (1, 0)
    # Two seconds after the first sight the second is over by any clock: one last look ...
    clock.now = T0 + timedelta(seconds=2)
    assert poll() == (1, 0)
    # ... and a quiet system queues nothing more.
    for later in (5, 65):
        clock.now = T0 + timedelta(seconds=later)
        assert poll() == (0, 1)


def test_a_newer_change_ends_the_second_of_an_older_one(stack: Stack) -> None:
    link(stack, "11", "1")
    tracker = FakeTracker()
    queue = get_queue(stack.redis, stack.config)
    clock = Clock()
    tracker.changes = [("1", T0)]
    first = poll_once("vendor", tracker, stack.config, stack.redis, queue, clock)  # type: ignore[arg-type]
    assert first.queued == 1
    stack.work_burst()
    # The system's clock has left T0's second (issue 2 changed at T0 + 1): the next poll's
    # look at issue 1 is its last, however soon it comes.
    tracker.changes.append(("2", T0 + timedelta(seconds=1)))
    clock.now = T0 + timedelta(milliseconds=200)
    last = poll_once("vendor", tracker, stack.config, stack.redis, queue, clock)  # type: ignore[arg-type]
    assert last.queued == 1
    stack.work_burst()
    clock.now = T0 + timedelta(milliseconds=400)
    quiet = poll_once("vendor", tracker, stack.config, stack.redis, queue, clock)  # type: ignore[arg-type]
    assert quiet.queued == 0 and quiet.duplicates == 1  # issue 2 is nobody's: never a duplicate


def test_overlapping_polls_of_one_system_are_skipped(stack: Stack) -> None:
    tracker = FakeTracker()
    stack.redis.set("tb:polllock:vendor", "1")
    result = poll_once(
        "vendor", tracker, stack.config, stack.redis, get_queue(stack.redis, stack.config)
    )  # type: ignore[arg-type]
    assert result.skipped and tracker.asked == []
