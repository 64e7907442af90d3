"""The failure inbox's store on a real Redis: grouping, counting, closing, bounds, filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from redis import Redis

from bridge.failures import inbox as inbox_module
from bridge.failures.causes import classify
from bridge.failures.inbox import Inbox
from bridge.failures.inbox_model import Failure, Filter, Kind, Outcome, group_id

T0 = datetime(2030, 3, 1, 3, 0, tzinfo=UTC)
REVOKED = "GET tickets/{}.json failed: 401 Unauthorized: Couldn't authenticate you"
DOWN = "poll MantisBT failed: vendor: http://m/api: ConnectionError: refused (conn {})"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def sync_failure(ticket: str, at: datetime, reason: str = REVOKED, route: str = "acme",
                 outcome: Outcome = Outcome.PARKED) -> Failure:  # fmt: skip
    return Failure(
        kind=Kind.SYNC, system="helpdesk", cause=classify(reason.format(ticket), "PermanentError"),
        reason=reason.format(ticket), outcome=outcome, at=at, route=route, ticket=ticket,
        job_id=f"job-{ticket}-{at.minute}",
    )  # fmt: skip


def poll_failure(n: int, at: datetime) -> Failure:
    reason = DOWN.format(n)
    return Failure(Kind.POLL, "vendor", classify(reason, "RetryableError"), reason,
                   Outcome.RETRYING, at)  # fmt: skip


def test_a_revoked_token_is_one_group_with_every_ticket(redis: Redis) -> None:
    inbox = Inbox(redis, Clock())
    new = [inbox.record(sync_failure(str(t), T0 + timedelta(minutes=t)))[1] for t in range(1, 8)]
    assert new == [True] + [False] * 6
    inbox.record(sync_failure("3", T0 + timedelta(minutes=9)))  # the same ticket again
    (group,) = inbox.groups()
    assert group.cause == "PermanentError: HTTP 401 Unauthorized"
    assert (group.count, group.tickets, group.open_tickets) == (8, 7, 7)
    assert group.first_seen == (T0 + timedelta(minutes=1)).isoformat()
    assert group.last_seen == (T0 + timedelta(minutes=9)).isoformat()
    assert group.sample[0] == ("acme", "3") and len(group.sample) == 7
    assert group.reason == REVOKED.format("3")  # the whole latest reason
    assert group.routes == ("acme",) and group.outcome is Outcome.PARKED


def test_a_group_closes_when_its_last_ticket_synced(redis: Redis) -> None:
    inbox = Inbox(redis, Clock())
    for t in ("1", "2"):
        gid, _ = inbox.record(sync_failure(t, T0))
    assert inbox.ticket_synced("acme", "1") == ("job-1-0", "")
    assert inbox.ticket_synced("acme", "1") == ("", "")  # nothing left for it
    group = inbox.get(gid)
    assert group is not None and group.is_open and group.open_tickets == 1
    assert group.sample == (("acme", "2"),)
    assert inbox.ticket_synced("acme", "2") == ("job-2-0", gid)
    assert inbox.groups() == []
    (closed,) = inbox.groups(closed=True)
    assert closed.closed_why == "every ticket in it synced since" and closed.tickets == 2

    # The same cause later is a new episode: counted afresh, a new appearance.
    _, new = inbox.record(sync_failure("5", T0 + timedelta(hours=1)))
    assert new
    (again,) = inbox.groups()
    assert (again.count, again.tickets, again.first_seen) == (
        1, 1, (T0 + timedelta(hours=1)).isoformat(),
    )  # fmt: skip
    assert inbox.groups(closed=True) == []


def test_a_ticket_that_fails_for_another_cause_moves(redis: Redis) -> None:
    inbox = Inbox(redis, Clock())
    first, _ = inbox.record(sync_failure("1", T0))
    other = "GET tickets/{}.json failed: 500 Internal Server Error"
    second, _ = inbox.record(sync_failure("1", T0, reason=other, outcome=Outcome.RETRYING))
    assert first != second
    assert [g.id for g in inbox.groups()] == [second]
    old = inbox.get(first)
    assert old is not None and old.closed_why == "its tickets fail for another cause now"
    assert inbox.group_of_ticket("acme", "1") == second


def test_repeated_poll_failures_are_one_entry_closed_by_a_good_poll(redis: Redis) -> None:
    inbox = Inbox(redis, Clock())
    for minute in range(60):
        inbox.record(poll_failure(minute, T0 + timedelta(minutes=minute)))
    (group,) = inbox.groups()
    assert group.kind is Kind.POLL and group.count == 60 and group.tickets == 0
    assert group.cause == "RetryableError: ConnectionError"
    assert inbox.poll_ok("helpdesk") == []
    assert inbox.poll_ok("vendor") == [group.id]
    assert inbox.groups() == [] and inbox.poll_ok("vendor") == []


def test_bounds(redis: Redis, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(inbox_module, "TICKETS_KEPT", 5)
    monkeypatch.setattr(inbox_module, "MAX_OPEN", 3)
    monkeypatch.setattr(inbox_module, "CLOSED_KEPT", 2)
    inbox = Inbox(redis, Clock())
    for t in range(20):
        inbox.record(sync_failure(str(t), T0 + timedelta(seconds=t)))
    (group,) = inbox.groups()
    assert group.tickets == 20 and len(group.sample) == 5
    assert redis.zcard(f"tb:inbox:g:{group.id}:tickets") == 5
    for n in range(6):  # six more causes: only three groups stay open
        reason = f"x failed: {410 + n} Whatever"
        inbox.record(sync_failure(f"a{n}", T0 + timedelta(minutes=n + 1), reason=reason + " {}"))
    assert [g.status for g in inbox.groups()] == [415, 414, 413]
    closed = inbox.groups(closed=True)
    assert len(closed) == 2 and redis.zcard("tb:inbox:closed") == 2
    assert all(g.closed_why == "evicted: too many open groups" for g in closed)
    assert not redis.exists(f"tb:inbox:g:{group.id}")  # trimmed away with its tickets


def test_filters(redis: Redis) -> None:
    clock = Clock()
    inbox = Inbox(redis, clock)
    inbox.record(sync_failure("1", T0))
    inbox.record(sync_failure("9", T0 + timedelta(hours=2), route="globex",
                              reason="GET t/{} failed: 403 Forbidden"))  # fmt: skip
    inbox.record(poll_failure(1, T0 + timedelta(hours=3)))
    clock.now = T0 + timedelta(hours=4)
    systems = lambda **kw: sorted(g.system + ":" + ",".join(g.routes)  # noqa: E731
                                  for g in inbox.groups(Filter(**kw)))  # fmt: skip
    assert systems() == [":".join(["helpdesk", "acme"]), "helpdesk:globex", "vendor:"]
    assert systems(system="vendor") == ["vendor:"]
    assert systems(route="globex") == ["helpdesk:globex"]
    assert systems(tickets=(("acme", "1"),)) == ["helpdesk:acme"]
    assert systems(tickets=(("acme", "9"),)) == []
    assert systems(newer_than=1.5 * 3600) == ["vendor:"]
    assert systems(older_than=2 * 3600) == ["helpdesk:acme", "helpdesk:globex"]
    assert group_id(Kind.POLL, "vendor", classify(DOWN.format(1), "RetryableError")) == (
        inbox.groups(Filter(system="vendor"))[0].id
    )
