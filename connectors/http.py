"""The one HTTP path every connector goes through.

It turns transport failures and HTTP status codes into the bridge's error tree, so connectors
never return False and jobs know whether to retry, wait or park. tenacity absorbs short blips
(a few tries within seconds); longer outages are RQ's job, one layer up.
"""

from __future__ import annotations

import email.utils
import os
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from bridge.errors import PermanentError, RateLimited, RetryableError

# Short in-call retries only: a RateLimited with a long Retry-After goes up to the job layer,
# which reschedules instead of holding a worker.
MAX_INLINE_RETRY_AFTER = 2.0
USER_AGENT = "ticket-bridge/0.1"


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


def raise_for_status(response: requests.Response, what: str) -> None:
    """Map an HTTP answer onto the error tree; 2xx/3xx return quietly."""
    status = response.status_code
    if status < 400:
        return
    text = f"{what} failed: {_describe(response)}"
    if status == 429 or (status == 503 and response.headers.get("Retry-After")):
        raise RateLimited(text, parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500 or status in (408, 409, 423, 425):
        # 409: Zendesk safe_update collision / Mantis conflict: re-read and try again.
        # A 500/502/504 may come after the server did the work; 503 means it did not.
        raise RetryableError(text, maybe_applied=status in (500, 502, 504))
    raise PermanentError(text, status=status)


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


def _retry_inline(idempotent: bool) -> Callable[[BaseException], bool]:
    """Retry blips inside the call, but never repeat a write that may already have happened."""

    def decide(exc: BaseException) -> bool:
        if isinstance(exc, RateLimited):
            return exc.retry_after <= MAX_INLINE_RETRY_AFTER
        if isinstance(exc, RetryableError):
            return idempotent or not exc.maybe_applied
        return False

    return decide


POOL_SIZE = 64


class HttpClient:
    """A requests.Session with base URL, auth headers, timeouts and error translation."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 10.0,
        attempts: int = 3,
        wait_max: float = 2.0,
        before_request: Callable[[], None] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.wait_max = wait_max
        self.before_request = before_request
        self.session = requests.Session()
        # One client serves every job of a worker process (`--threads`), each reading both
        # sides at once; requests keeps 10 connections per host and opens and drops a new one
        # for every request beyond that.
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        # Proxy and CA-bundle settings come from the environment once, here: with trust_env
        # on, requests scans every environment variable on every request (measured: about a
        # tenth of a worker's time per sync at 0 ms remote latency).
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.verify = (
            os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        )
        self.session.trust_env = False
        self.session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
        if headers:
            self.session.headers.update(headers)
        if auth:
            self.session.auth = auth

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _once(self, method: str, path: str, what: str, **kwargs: Any) -> requests.Response:
        if self.before_request is not None:
            self.before_request()
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, self.url(path), **kwargs)
        except (requests.ConnectTimeout, requests.ConnectionError) as exc:
            # Never reached the server (ConnectTimeout is also a ConnectionError): safe to resend.
            raise RetryableError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
        except requests.Timeout as exc:
            raise RetryableError(
                f"{what} failed: {type(exc).__name__}: {exc}", maybe_applied=True
            ) from exc
        except requests.RequestException as exc:
            raise PermanentError(f"{what} failed: {exc}") from exc
        raise_for_status(response, what)
        return response

    def request(
        self,
        method: str,
        path: str,
        what: str | None = None,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request, retrying short blips; raise the error tree on failure.

        `idempotent` defaults by method (POST is not); pass False for a PUT that adds a comment.
        """
        label = what or f"{method} {path}"
        safe = method.upper() in IDEMPOTENT_METHODS if idempotent is None else idempotent

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited):
                return exc.retry_after
            return wait_exponential(multiplier=0.2, max=self.wait_max)(state)

        retrying = Retrying(
            retry=retry_if_exception(_retry_inline(safe)),
            stop=stop_after_attempt(self.attempts),
            wait=wait,
            sleep=time.sleep,
            reraise=True,
        )
        return retrying(self._once, method, path, label, **kwargs)

    def json(
        self,
        method: str,
        path: str,
        what: str | None = None,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> Any:
        """Request and decode JSON; an empty body gives {}."""
        response = self.request(method, path, what, idempotent, **kwargs)
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise PermanentError(
                f"{what or path}: expected JSON, got {response.headers.get('Content-Type')}"
            ) from exc
