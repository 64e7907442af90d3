"""One error tree that tells the caller what to do next: retry, wait, or park.

Remote calls never return False on failure; they raise one of these, and the job layer maps the
class onto RQ's retry, scheduled wait, or the failed registry with a readable reason.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class RetryableError(BridgeError):
    """A passing fault (timeout, 5xx, connection reset, edit collision): try again later.

    `maybe_applied` is True when the remote may have carried out the request before the fault
    (a read timeout, a 500 after the body was sent). A create or comment that failed that way must
    be looked for before it is sent again, or it may be duplicated.
    """

    def __init__(self, message: str, maybe_applied: bool = False) -> None:
        super().__init__(message)
        self.maybe_applied = maybe_applied


class RateLimited(RetryableError):
    """The remote said "slow down"; wait `retry_after` seconds before the next try."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message, maybe_applied=False)
        self.retry_after = retry_after


class PermanentError(BridgeError):
    """Retrying will not help (401/403/404/422, bad data): park with the reason."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ReadOnlyTicket(PermanentError):
    """The target refuses every change to this ticket for the bridge user (MantisBT: resolved
    and closed issues below MANAGER). A type of its own so the engine can tell the agent this
    cause, whose fix is a permission on the target, not a retry."""

    def __init__(self, message: str, ticket_id: str, access_level: str | None = None) -> None:
        super().__init__(message, status=403)
        self.ticket_id = ticket_id
        self.access_level = access_level


class FilesLeftOut(BridgeError):
    """The comment was written, but the target refused some of its files after writing it
    (MantisBT 2.28 creates the note, then answers `400 File 'x' too big`). Not a failure: the
    caller records `written_id` as the copy and names the files; writing again would duplicate
    the comment, and the files would be refused again."""

    def __init__(self, message: str, written_id: str, files: tuple[str, ...]) -> None:
        super().__init__(message)
        self.written_id = written_id
        self.files = files


class ConfigError(BridgeError):
    """The configuration or a mapping file is wrong; the message names file, line and key."""


class WebhookError(BridgeError):
    """A webhook request was refused; `http_status` is what the sender gets back."""

    http_status = 400


class SignatureError(WebhookError):
    """Missing, stale or wrong webhook signature."""

    http_status = 401


class PayloadError(WebhookError):
    """The webhook body is not what the sender's documented format looks like."""

    http_status = 400
