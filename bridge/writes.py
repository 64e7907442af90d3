"""Writes that must happen once even when an answer is lost or a worker dies mid-write.

A comment whose POST timed out, or whose worker was killed right after the POST, may exist on
the remote without the bridge having recorded it. So an unsure mark is stored before the
POST; the retry that finds it looks for the comment before posting again. The executor
(`bridge.executor`) applies this to every comment and note the bridge writes.
"""

from __future__ import annotations

from collections.abc import Callable

from bridge.marks import PARKED, UNSURE
from bridge.models import NewComment
from bridge.protocol import Connector, is_bridge_actor
from bridge.retry import blame

__all__ = ["PARKED", "UNSURE", "post_once", "posted_by_bridge"]


def normalised(text: str) -> str:
    return " ".join(text.split())


def posted_by_bridge(connector: Connector, ticket_id: str, body: str) -> str | None:
    """Id of a comment the bridge already wrote with this text (after an unanswered write).

    Read newest first, stopping at the match: the write looked for is one of the ticket's
    latest, so a long history is read only when the write never happened."""
    wanted = normalised(connector.stored_text(body))
    for comment in connector.recent_comments(ticket_id):
        if is_bridge_actor(connector.settings, comment.author_id) and (
            normalised(comment.body) == wanted
        ):
            return comment.id
    return None


def post_once(
    connector: Connector,
    ticket_id: str,
    comment: NewComment,
    unsure: bool,
    mark_unsure: Callable[[], object],
) -> str:
    """Post a comment once, across lost answers and workers killed mid-write.

    Write-ahead: the caller's state is marked unsure before the POST, and only replaced by the
    comment's id after it. A retry that finds it unsure (the answer was lost, or the process
    died between the POST and the record) looks for the comment on the remote before posting
    again.
    """
    with blame(connector.settings.name):
        if unsure:
            found = posted_by_bridge(connector, ticket_id, comment.body)
            if found is not None:
                return found
        else:
            mark_unsure()
        return connector.add_comment(ticket_id, comment)
