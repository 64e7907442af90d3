"""The one HTTP path every connector goes through: API calls and file downloads.

It turns transport failures (connectors.transport) and HTTP status codes into the bridge's error
tree, so connectors never return False and jobs know whether to retry, wait or park. tenacity
absorbs short blips (a few tries within seconds, connectors.inline_retry); longer outages are
RQ's job, one layer up. Every call has a total deadline (connect, retries and the whole body),
and downloads decide per host whether the system's credentials may go along.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, BinaryIO
from urllib.parse import urljoin, urlsplit

import requests
from tenacity import Retrying

from bridge.errors import ConfigError, PermanentError, RetryableError
from bridge.protocol import Hooks, RequestObserver, SystemSettings
from connectors import inline_retry
from connectors.transport import (
    BODY_ERRORS,
    Call,
    Deadline,
    ForeignHost,
    Phase,
    observed_send,
    raise_for_status,
    same_origin,
    too_big,
    transport_error,
)

USER_AGENT = "ticket-bridge/0.1"
# Total seconds per call, well under the job time limit (queue.job_timeout, 120 s by default)
# so a stalled remote fails the call, not the whole job; a call that carries a file (a download,
# or an upload as a raw `data=` body) may take longer.
REQUEST_DEADLINE = 30.0
FILE_DEADLINE = 60.0
CHUNK_SIZE = 64 * 1024
MAX_REDIRECTS = 5


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})


def _seconds(settings: SystemSettings, key: str, default: float) -> float:
    value = settings.options.get(key, default)
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if not seconds > 0:
        raise ConfigError(
            f"system {settings.name!r}: options.{key} must be a positive number of seconds, "
            f"got {value!r}"
        )
    return seconds


POOL_SIZE = 64


class FileBody:
    """A local file as a raw request body (an upload) that starts from byte 0 on every attempt.

    requests measures a body with `len()` each time it prepares a request, and tenacity may
    resend a request after a blip (a 503, a refused connection). Rewinding at that moment makes
    the retry send the whole file instead of an empty body from a file already read to its end.
    """

    def __init__(self, handle: IO[bytes], size: int) -> None:
        self._handle = handle
        self._size = size

    @classmethod
    def of(cls, handle: IO[bytes]) -> FileBody:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(0)
        return cls(handle, size)

    def __len__(self) -> int:
        self._handle.seek(0)
        return self._size

    def read(self, size: int = -1) -> bytes:
        return self._handle.read(size)


def _session(base_url: str) -> requests.Session:
    session = requests.Session()
    # One client serves every job of a worker process (`--threads`), each reading both
    # sides at once; requests keeps 10 connections per host and opens and drops a new one
    # for every request beyond that.
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=POOL_SIZE)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Proxy and CA-bundle settings come from the environment once, here: with trust_env
    # on, requests scans every environment variable on every request (measured: about a
    # tenth of a worker's time per sync at 0 ms remote latency).
    session.proxies.update(requests.utils.get_environ_proxies(base_url))
    session.verify = (
        os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    )
    session.trust_env = False
    session.headers.update({"Accept": "application/json", "User-Agent": USER_AGENT})
    return session


class HttpClient:
    """A requests.Session with base URL, auth headers, timeouts, deadlines and error translation.

    `timeout` bounds each socket operation; `deadline` (API calls) and `file_deadline`
    (downloads, and uploads: requests whose body is raw `data=`, which in the connectors is
    always a file, as JSON goes through `json=`) bound a whole call, inline retries included.
    `monotonic` is the deadlines' clock.
    """

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float = 10.0,
        attempts: int = 3,
        wait_max: float = 2.0,
        before_request: Callable[[], object] | None = None,
        *,
        observe: RequestObserver | None = None,
        system: str = "",
        deadline: float = REQUEST_DEADLINE,
        file_deadline: float = FILE_DEADLINE,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.wait_max = wait_max
        self.before_request = before_request
        # Told of every request sent; bridge.registry attaches the metrics recorder.
        self.observe = observe
        self.system = system or urlsplit(self.base_url).netloc
        self.deadline = deadline
        self.file_deadline = file_deadline
        self.monotonic = monotonic
        self.session = _session(self.base_url)
        if headers:
            self.session.headers.update(headers)
        if auth:
            self.session.auth = auth
        # Downloads from other hosts (a CDN) go through a session that holds no credentials at
        # all, so no header or auth setting can leak there by accident; its proxies are the
        # environment's for any host (NO_PROXY entries for our own host do not apply there).
        self.anonymous = _session("")

    @classmethod
    def for_system(
        cls,
        settings: SystemSettings,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        attempts: int = 3,
        wait_max: float = 2.0,
        monotonic: Callable[[], float] = time.monotonic,
        hooks: Hooks | None = None,
    ) -> HttpClient:
        """A client with the system's timeout and `options.request_deadline` /
        `options.file_deadline` (seconds); a ConfigError names a bad value. `hooks` are the
        bridge's (bridge.registry): `before_request` runs before every request sent."""
        return cls(
            base_url,
            headers=headers,
            auth=auth,
            timeout=settings.timeout,
            attempts=attempts,
            wait_max=wait_max,
            before_request=hooks.before_request if hooks is not None else None,
            observe=hooks.observe if hooks is not None else None,
            system=settings.name,
            deadline=_seconds(settings, "request_deadline", REQUEST_DEADLINE),
            file_deadline=_seconds(settings, "file_deadline", FILE_DEADLINE),
            monotonic=monotonic,
        )

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    # ------------------------------------------------------------------ API calls

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
        The answer's body is read in full, within the deadline, before this returns; the
        deadline is the file one when a raw `data=` body (a file) is sent.
        """
        method = method.upper()
        safe = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        call = Call(self.system, method, self.url(path), what or f"{method} {path}", safe)
        sends_file = kwargs.get("data") is not None
        deadline = Deadline(self.file_deadline if sends_file else self.deadline, self.monotonic)

        def once() -> requests.Response:
            response = self._send(self.session, call, deadline, **kwargs)
            self._load_body(response, call, deadline)
            raise_for_status(response, call.what, idempotent=call.idempotent)
            return response

        return self._retrying(call, deadline)(once)

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

    # ------------------------------------------------------------------ downloads

    def download(
        self,
        url: str,
        dest: BinaryIO,
        max_bytes: int,
        what: str,
        *,
        foreign: ForeignHost = ForeignHost.REFUSE,
        size: int | None = None,
        accept: str = "*/*",
    ) -> int:
        """Stream `url` into `dest` within the download deadline; return the bytes written.

        PermanentError(413) once `max_bytes` is passed (by the known `size`, Content-Length, or
        while reading; what was written stays in `dest`, the caller discards it). Redirects are
        followed by hand so each hop decides on credentials by its host (`foreign`). A fault
        mid-body is a RetryableError: the download can simply be repeated.
        """
        if size is not None and size > max_bytes:
            raise too_big(what, max_bytes, size)
        call = Call(self.system, "GET", self.url(url), what, idempotent=True)
        deadline = Deadline(self.file_deadline, self.monotonic)
        response = self._retrying(call, deadline)(self._follow, call, deadline, foreign, accept)
        try:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise too_big(what, max_bytes, int(length))
            written = 0
            for chunk in self._chunks(response, call.at(response.url or call.url), deadline):
                written += len(chunk)
                if written > max_bytes:
                    raise too_big(what, max_bytes, None)
                dest.write(chunk)
            return written
        finally:
            response.close()

    def _follow(
        self, call: Call, deadline: Deadline, foreign: ForeignHost, accept: str
    ) -> requests.Response:
        url = call.url
        for _ in range(MAX_REDIRECTS + 1):
            hop = call.at(url)
            session = self._session_for(hop, foreign)
            response = self._send(
                session, hop, deadline, allow_redirects=False, headers={"Accept": accept}
            )
            location = response.headers.get("Location")
            if response.is_redirect and location:
                response.close()
                url = urljoin(url, location)
                continue
            if 300 <= response.status_code < 400:
                response.close()
                raise PermanentError(f"{call.what}: {response.status_code} without a Location")
            if response.status_code >= 400:
                self._load_body(response, hop, deadline)
                raise_for_status(response, call.what, idempotent=True)
            return response
        raise PermanentError(f"{call.what}: more than {MAX_REDIRECTS} redirects")

    def _session_for(self, call: Call, foreign: ForeignHost) -> requests.Session:
        """The one same-origin check: credentials only ever go to the configured host."""
        if same_origin(call.url, self.base_url):
            return self.session
        if foreign is ForeignHost.ANONYMOUS:
            return self.anonymous
        theirs, ours = urlsplit(call.url), urlsplit(self.base_url)
        raise PermanentError(
            f"{call.what}: refusing to send {self.system} credentials to "
            f"{theirs.scheme}://{theirs.netloc}: not on the configured host "
            f"{ours.scheme}://{ours.netloc}"
        )

    # ------------------------------------------------------------------ the wire

    def _retrying(self, call: Call, deadline: Deadline) -> Retrying:
        return inline_retry.retrying(call.idempotent, deadline, self.attempts, self.wait_max)

    def _send(
        self, session: requests.Session, call: Call, deadline: Deadline, **kwargs: Any
    ) -> requests.Response:
        """Send and read the status line and headers; the body stays on the wire."""
        if self.before_request is not None:
            self.before_request()
        deadline.check(call, Phase.NOT_SENT)
        # No socket wait may outlast the deadline; requests cannot bound the sum of them.
        wait = min(self.timeout, deadline.remaining())
        kwargs.setdefault("timeout", (wait, wait))
        try:
            response = observed_send(
                call,
                lambda: session.request(call.method, call.url, stream=True, **kwargs),
                self.observe,
                self.monotonic,
            )
        except requests.RequestException as exc:
            raise transport_error(exc, call) from exc
        try:
            deadline.check(call, Phase.SENT)
        except RetryableError:
            response.close()
            raise
        return response

    def _load_body(self, response: requests.Response, call: Call, deadline: Deadline) -> None:
        """Read the whole body under the deadline into the response, as `stream=False` would."""
        body = bytearray()
        for chunk in self._chunks(response, call, deadline):
            body += chunk
        # requests has no public way to hand a streamed response the body read here; `_content`
        # is where its own `.content` keeps it, so `.content`, `.text` and `.json()` just work.
        response._content = bytes(body)

    def _chunks(
        self, response: requests.Response, call: Call, deadline: Deadline
    ) -> Iterator[bytes]:
        """The body in chunks as they arrive, checking the deadline between them.

        `read1` returns after a single socket read, so a remote that trickles bytes still gives
        control back here (requests' iter_content blocks until a whole chunk is in); faults are
        urllib3's own and are translated here, always as "after sending".
        """
        try:
            while True:
                deadline.check(call, Phase.SENT)
                try:
                    chunk = response.raw.read1(CHUNK_SIZE, decode_content=True)
                except BODY_ERRORS as exc:
                    raise transport_error(exc, call, Phase.SENT) from exc
                if not chunk:
                    break
                yield chunk
        except BaseException:
            response.close()  # a half-read connection cannot go back to the pool
            raise
        response.raw.release_conn()
