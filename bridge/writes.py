"""Writes that must happen once even when an answer is lost.

A comment whose POST timed out may exist on the remote. The caller stores an UNSURE marker
before raising; the retry looks for the comment before posting it again.
"""

from __future__ import annotations

from bridge.errors import RetryableError
from bridge.models import NewComment
from bridge.protocol import Connector, is_bridge_actor

UNSURE = "?"  # prefix of a stored marker whose write may or may not have happened


def normalised(text: str) -> str:
    return " ".join(text.split())


def posted_by_bridge(connector: Connector, ticket_id: str, body: str) -> str | None:
    """Id of a comment the bridge already wrote with this text (after an unanswered write)."""
    wanted = normalised(body)
    for comment in connector.list_comments(ticket_id):
        if is_bridge_actor(connector.settings, comment.author_id) and (
            normalised(comment.body) == wanted
        ):
            return comment.id
    return None


def post_once(
    connector: Connector, ticket_id: str, comment: NewComment, unsure: bool
) -> tuple[str | None, bool]:
    """Post a comment; returns (id, maybe_applied_failure).

    When an earlier attempt may have been applied (`unsure`), look for it before posting again.
    A failure that may have been applied is reported instead of raised, so the caller can mark
    its state as unsure before raising.
    """
    if unsure:
        found = posted_by_bridge(connector, ticket_id, comment.body)
        if found is not None:
            return found, False
    try:
        return connector.add_comment(ticket_id, comment), False
    except RetryableError as exc:
        if exc.maybe_applied:
            return None, True
        raise
