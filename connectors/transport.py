"""What a failed remote call means for the caller: HTTP answers and transport faults mapped
onto the error tree.

connectors.http sends; this module decides. A transport failure is sorted by *when* it happened:
before anything reached the server (refused, DNS, connect timeout: safe to send again), after the
request went out (read timeout, reset, a body cut off mid-way: a write may have been carried out),
or never going to work (invalid URL, redirect loop, a certificate that does not verify). Kept apart
from the client so the rules read as one table and tests can feed it exceptions directly.
"""

from __future__ import annotations

import email.utils
import http.client
import ssl
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import Enum
from urllib.parse import urlsplit

import requests
import urllib3.exceptions as u3

from bridge.errors import BridgeError, PermanentError, RateLimited, RetryableError
from bridge.protocol import Exchange, RequestObserver, StatusClass

# Faults that no retry can fix: the request itself is malformed or points nowhere usable.
_MALFORMED = (
    requests.exceptions.InvalidURL,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidSchema,
    requests.exceptions.URLRequired,
    requests.exceptions.InvalidHeader,
    requests.exceptions.InvalidJSONError,
    requests.exceptions.TooManyRedirects,
    requests.exceptions.UnrewindableBodyError,
    u3.LocationParseError,
)
# Found anywhere in the cause chain, these prove the request never left this machine.
_BEFORE_SENDING = (
    requests.exceptions.ConnectTimeout,
    requests.exceptions.ProxyError,
    u3.ConnectTimeoutError,
    u3.NewConnectionError,  # also NameResolutionError, refused, unreachable
    u3.ProxyError,
)
# Found anywhere in the chain, these mean the connection broke after the request was written.
_AFTER_SENDING = (
    requests.exceptions.ReadTimeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    u3.ReadTimeoutError,
    u3.ProtocolError,  # "Connection aborted": RemoteDisconnected, reset, IncompleteRead
    u3.DecodeError,
    http.client.HTTPException,
    ConnectionResetError,
    BrokenPipeError,
)


class Phase(Enum):
    """How far a failed call got; decides retry and `maybe_applied`."""

    NOT_SENT = "not sent"  # nothing reached the server: resend freely
    SENT = "sent"  # the request went out; the server may have acted on it
    HOPELESS = "hopeless"  # the same request will fail the same way


class ForeignHost(Enum):
    """What a download does with a URL that is not on the configured host."""

    REFUSE = "refuse"  # the system serves its files itself: another host is a forged URL
    ANONYMOUS = "anonymous"  # the system hands files to a CDN: fetch it, without credentials


@dataclass(frozen=True)
class Call:
    """One remote call as error messages name it: system, method, URL (query left out: it may
    carry a download token) and whether repeating it could do something twice."""

    system: str
    method: str
    url: str
    what: str
    idempotent: bool

    @property
    def target(self) -> str:
        parts = urlsplit(self.url)
        return f"{self.method} {parts.scheme}://{parts.netloc}{parts.path}"

    def at(self, url: str) -> Call:
        """The same call after a redirect to `url`."""
        return replace(self, url=url)

    def maybe_applied(self, phase: Phase) -> bool:
        """Only a non-idempotent request that got out can have had an effect worth looking for."""
        return phase is Phase.SENT and not self.idempotent


@dataclass
class Deadline:
    """A total time budget for one call: connect, every retry and the whole body.

    requests' `timeout` is per socket read, so a server that trickles a byte every few seconds
    holds a worker for as long as it likes; the deadline is checked between chunks instead.
    `monotonic` is injected so tests advance time per read instead of waiting for it.
    """

    seconds: float
    monotonic: Callable[[], float]
    started: float = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.monotonic()

    def remaining(self) -> float:
        return self.seconds - (self.monotonic() - self.started)

    def check(self, call: Call, phase: Phase) -> None:
        """RetryableError once the time is up: the remote is slow now, it may not be later."""
        if self.remaining() <= 0:
            raise RetryableError(
                f"{call.what} failed: {call.system}: {call.target} took longer than its "
                f"{self.seconds:g} s deadline (connect plus the whole answer)",
                maybe_applied=call.maybe_applied(phase),
            )


def observed_send(
    call: Call,
    send: Callable[[], requests.Response],
    observe: RequestObserver | None,
    monotonic: Callable[[], float],
) -> requests.Response:
    """Send once and report the exchange to `observe`: every request a connector makes (API
    calls, each inline retry, each redirect hop of a download) passes here, so the counters
    see exactly what went over the wire."""
    started = monotonic()
    try:
        response = send()
    except BaseException:
        if observe is not None:
            observe(Exchange(call.system, call.method, StatusClass.ERROR, monotonic() - started))
        raise
    if observe is not None:
        status = StatusClass.of(response.status_code)
        observe(Exchange(call.system, call.method, status, monotonic() - started))
    return response


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps: requests keeps urllib3's error in `args[0]`,
    urllib3's MaxRetryError keeps the real one in `reason`, Python in __cause__/__context__."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        inner = [a for a in current.args if isinstance(a, BaseException)]
        if isinstance(current, u3.MaxRetryError) and current.reason is not None:
            inner.append(current.reason)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                inner.append(linked)
        todo.extend(inner)


def _certificate_refused(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLCertVerificationError) for e in _chain(exc))


def phase_of(exc: BaseException) -> Phase:
    """Sort a transport exception raised while sending (before any answer was read).

    A certificate that fails verification is HOPELESS: it does not fix itself within a retry
    window (an operator must renew it or set the CA bundle), and quietly retrying a handshake
    that may be an interception only hides it; the job parks with the reason instead. Other TLS
    faults are passing: a handshake cut off ends before the request is written (NOT_SENT), one
    mid-body after it (SENT, decided by the body reader).
    """
    if isinstance(exc, _MALFORMED) or _certificate_refused(exc):
        return Phase.HOPELESS
    chain = list(_chain(exc))
    if any(isinstance(e, _AFTER_SENDING) for e in chain):
        return Phase.SENT
    if any(isinstance(e, _BEFORE_SENDING) for e in chain):
        return Phase.NOT_SENT
    if isinstance(exc, (requests.exceptions.SSLError, requests.ConnectionError)):
        return Phase.NOT_SENT  # refused, unreachable, TLS handshake: no request went out
    return Phase.SENT  # unknown: assume the worst for writes


def transport_error(exc: BaseException, call: Call, phase: Phase | None = None) -> BridgeError:
    """The error-tree exception for a transport fault; `phase` when the caller knows it (a fault
    while reading the body happened after sending, whatever its type)."""
    found = phase or phase_of(exc)
    text = f"{call.what} failed: {call.system}: {call.target}: {type(exc).__name__}: {exc}"
    if found is Phase.HOPELESS:
        return PermanentError(text)
    return RetryableError(text, maybe_applied=call.maybe_applied(found))


# Errors a body read can raise: urllib3's own (read1 is urllib3's, requests does not wrap it),
# the standard library's beneath it, and requests' wrappers for completeness.
BODY_ERRORS = (u3.HTTPError, requests.RequestException, http.client.HTTPException, OSError)


def same_origin(url: str, base: str) -> bool:
    """Scheme, host and port equal: the only URLs that may see a system's credentials.

    Compared by parsed host and port, not by netloc text, so `https://ours@evil.example` or an
    explicit default port cannot confuse the check; http vs https differs (a downgrade would send
    the token in clear).
    """
    ours, theirs = urlsplit(base), urlsplit(url)
    try:
        return (ours.scheme, ours.hostname, _port(ours.scheme, ours.port)) == (
            theirs.scheme,
            theirs.hostname,
            _port(theirs.scheme, theirs.port),
        )
    except ValueError:  # a port that is not a number
        return False


def _port(scheme: str, port: int | None) -> int | None:
    return port if port is not None else {"http": 80, "https": 443}.get(scheme)


# ---------------------------------------------------------------------- HTTP answers


def parse_retry_after(value: str | None, default: float = 60.0) -> float:
    """Retry-After is either seconds or an HTTP date (RFC 9110 section 10.2.3)."""
    if not value:
        return default
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _describe(response: requests.Response) -> str:
    """Best human reason: the vendor's JSON message, else the body, else the reason phrase."""
    detail = ""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, Mapping):
        parts = [
            str(body[k])
            for k in ("error", "description", "message", "error_human", "localized")
            if body.get(k) and not isinstance(body[k], (dict, list))
        ]
        if isinstance(body.get("details"), Mapping):
            for name, problems in body["details"].items():
                parts.append(f"{name}: {problems}")
        if isinstance(body.get("error"), Mapping):
            parts.append(str(body["error"].get("message") or body["error"]))
        if isinstance(body.get("errors"), list):
            parts.extend(str(e) for e in body["errors"])
        detail = "; ".join(dict.fromkeys(parts))
    if not detail:
        detail = (response.text or "").strip()[:300]
    reason = response.reason or ""
    return f"{response.status_code} {reason}".strip() + (f": {detail}" if detail else "")


def raise_for_status(response: requests.Response, what: str, idempotent: bool = False) -> None:
    """Map an HTTP answer onto the error tree; 2xx/3xx return quietly.

    `idempotent`: repeating the request does no harm, so a 500 on it says nothing was
    duplicated (`maybe_applied` is for writes that must be looked for before resending).
    """
    status = response.status_code
    if status < 400:
        return
    text = f"{what} failed: {_describe(response)}"
    if status == 429 or (status == 503 and response.headers.get("Retry-After")):
        raise RateLimited(text, parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500 or status in (408, 409, 423, 425):
        # 409: Zendesk safe_update collision / Mantis conflict: re-read and try again.
        # A 500/502/504 may come after the server did the work; 503 means it did not.
        raise RetryableError(text, maybe_applied=status in (500, 502, 504) and not idempotent)
    raise PermanentError(text, status=status)


def too_big(what: str, max_bytes: int, size: int | None) -> PermanentError:
    """413: the file is over the target's limit (bridge.attachments names it in the comment)."""
    if size is not None:
        return PermanentError(f"{what}: {size} bytes is over the limit of {max_bytes}", status=413)
    return PermanentError(f"{what}: more than the limit of {max_bytes} bytes", status=413)
