"""What one sync reads of one side, at 1 and at 200 comments (docs/planner.md, "Incremental
reads"): the ticket, and the comments since the pair's cursor. The requests must not grow with
the history, and no endpoint is read twice: a ticket read that fetched the whole comment list
besides the comment read (Zammad's description) cost the history once more at every sync."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import responses

from bridge.protocol import Capability
from tests.contract.cases import ContractCase, Item

T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
HISTORY = 200
PAGE = 20  # how the fakes of vendors that page serve the comments


def history(count: int) -> list[list[Item]]:
    """`count` comments a minute apart, oldest first, in pages."""
    comments = [(1000 + n, T0 + timedelta(minutes=n)) for n in range(count)]
    return [comments[i : i + PAGE] for i in range(0, count, PAGE)]


def sync_read(case: ContractCase, count: int) -> tuple[list[str], list[str]]:
    """(the requests sent, the comments read) when a sync reads the ticket and its comments
    from a cursor just before the newest comment, the only new one."""
    since = T0 + timedelta(minutes=count - 1, seconds=-30)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        connector = case.connector()
        if Capability.READS_TOGETHER in connector.capabilities:
            case.mock_comments(mock, "17", history(count), repeat_last=False)
            _, comments = connector.get_ticket_and_comments("17", since=since)
        else:
            case.mock_ticket(mock, "17", case.status)
            case.mock_comments(mock, "17", history(count), repeat_last=False)
            connector.get_ticket("17")
            comments = connector.list_comments("17", since=since)
        sent = [f"{c.request.method} {str(c.request.url).split('?')[0]}" for c in mock.calls]
    return sent, [c.id for c in comments]


def test_a_sync_read_costs_the_same_requests_at_200_comments_and_none_twice(
    case: ContractCase,
) -> None:
    few, new_of_one = sync_read(case, 1)
    many, new_of_many = sync_read(case, HISTORY)
    assert (new_of_one, new_of_many) == (["1000"], [str(1000 + HISTORY - 1)])
    assert len(many) == len(few), many
    assert len(set(many)) == len(many), f"an endpoint read twice: {many}"
