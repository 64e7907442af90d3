"""The one HTTP path: error translation, which failures are retried inside the call, the total
deadline per call, and downloads' credential check; against `responses` and, for the faults
only a socket can produce (a trickle, a body cut short, a hang-up), a tiny real server."""

from __future__ import annotations

import gzip
import io
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
import requests
import responses
import urllib3.exceptions as u3
from urllib3.exceptions import MaxRetryError, NewConnectionError, ProtocolError

from bridge.config import Config
from bridge.errors import BridgeError, ConfigError, PermanentError, RateLimited, RetryableError
from bridge.protocol import SystemSettings
from connectors.http import FILE_DEADLINE, MAX_REDIRECTS, REQUEST_DEADLINE, HttpClient
from connectors.transport import ForeignHost, Phase, parse_retry_after, phase_of, same_origin

URL = "https://api.example/v1"


def client() -> HttpClient:
    return HttpClient(URL, attempts=3, wait_max=0)


@responses.activate
def test_get_read_timeout_is_retried_inline() -> None:
    responses.get(f"{URL}/x", body=requests.ReadTimeout("slow"))
    responses.get(f"{URL}/x", json={"ok": True})
    assert client().json("GET", "x") == {"ok": True}
    assert len(responses.calls) == 2


@responses.activate
def test_post_read_timeout_is_not_repeated_and_says_it_may_have_happened() -> None:
    responses.post(f"{URL}/x", body=requests.ReadTimeout("slow"))
    with pytest.raises(RetryableError) as err:
        client().json("POST", "x", json={})
    assert err.value.maybe_applied is True
    assert len(responses.calls) == 1


@responses.activate
def test_post_connection_refused_is_retried_inline() -> None:
    responses.post(f"{URL}/x", body=requests.ConnectionError("refused"))
    responses.post(f"{URL}/x", json={"id": 1}, status=201)
    assert client().json("POST", "x", json={}) == {"id": 1}
    assert len(responses.calls) == 2


@pytest.mark.parametrize(("status", "repeated"), [(503, True), (500, False), (502, False)])
@responses.activate
def test_post_5xx_is_repeated_only_when_nothing_happened(status: int, repeated: bool) -> None:
    responses.post(f"{URL}/x", status=status)
    responses.post(f"{URL}/x", json={"id": 1}, status=201)
    if repeated:
        assert client().json("POST", "x", json={}) == {"id": 1}
    else:
        with pytest.raises(RetryableError) as err:
            client().json("POST", "x", json={})
        assert err.value.maybe_applied
    assert len(responses.calls) == (2 if repeated else 1)


@responses.activate
def test_put_marked_non_idempotent_is_not_repeated() -> None:
    responses.put(f"{URL}/x", status=504)
    with pytest.raises(RetryableError):
        client().json("PUT", "x", idempotent=False, json={})
    assert len(responses.calls) == 1


@responses.activate
def test_long_retry_after_goes_up_to_the_job_layer() -> None:
    responses.get(f"{URL}/x", status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as err:
        client().json("GET", "x")
    assert err.value.retry_after == 30
    assert len(responses.calls) == 1


@pytest.mark.parametrize(
    ("status", "body", "needle"),
    [
        (401, {"error": "Couldn't authenticate you"}, "401 Unauthorized: Couldn't authenticate"),
        (404, {"message": "Issue #5 not found", "code": 1100}, "Issue #5 not found"),
        (422, {"error": "RecordInvalid", "description": "Record validation errors",
               "details": {"status": [{"description": "Status: invalid"}]}}, "status:"),
    ],
)  # fmt: skip
@responses.activate
def test_permanent_errors_carry_the_vendor_reason(status: int, body: dict, needle: str) -> None:  # type: ignore[type-arg]
    responses.get(f"{URL}/x", status=status, json=body)
    with pytest.raises(PermanentError) as err:
        client().json("GET", "x", "read x")
    assert err.value.status == status
    assert needle in str(err.value)
    assert str(err.value).startswith("read x failed: ")


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert parse_retry_after("12") == 12
    assert parse_retry_after(None, default=5) == 5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0  # in the past
    assert parse_retry_after("soon", default=7) == 7


# ------------------------------------------------------------------ transport faults by phase


def refused() -> requests.ConnectionError:
    reason = NewConnectionError(None, "Failed to establish a new connection: [Errno 111]")  # type: ignore[arg-type]
    return requests.ConnectionError(MaxRetryError(None, f"{URL}/x", reason=reason))  # type: ignore[arg-type]


def reset() -> requests.ConnectionError:
    cause = ConnectionResetError(104, "Connection reset by peer")
    return requests.ConnectionError(ProtocolError("Connection aborted.", cause))


def certificate() -> requests.exceptions.SSLError:
    bad = ssl.SSLCertVerificationError(1, "[SSL: CERTIFICATE_VERIFY_FAILED] self-signed")
    wrapped = MaxRetryError(None, f"{URL}/x", reason=u3.SSLError(bad))  # type: ignore[arg-type]
    return requests.exceptions.SSLError(wrapped)


def handshake_cut() -> requests.exceptions.SSLError:
    eof = ssl.SSLEOFError(8, "EOF occurred in violation of protocol")
    wrapped = MaxRetryError(None, f"{URL}/x", reason=u3.SSLError(eof))  # type: ignore[arg-type]
    return requests.exceptions.SSLError(wrapped)


# (fault, phase): what each transport failure tells about the request's fate
FAULTS = [
    (requests.ConnectTimeout("connect timed out"), Phase.NOT_SENT),
    (refused(), Phase.NOT_SENT),
    (requests.exceptions.ProxyError("proxy refused"), Phase.NOT_SENT),
    (handshake_cut(), Phase.NOT_SENT),
    (requests.ReadTimeout("read timed out"), Phase.SENT),
    (reset(), Phase.SENT),
    (requests.exceptions.ChunkedEncodingError("Connection broken: IncompleteRead"), Phase.SENT),
    (requests.exceptions.ContentDecodingError("incorrect header check"), Phase.SENT),
    (requests.exceptions.InvalidURL("Invalid URL 'https://'"), Phase.HOPELESS),
    (requests.exceptions.MissingSchema("No scheme supplied"), Phase.HOPELESS),
    (requests.TooManyRedirects("Exceeded 30 redirects."), Phase.HOPELESS),
    (certificate(), Phase.HOPELESS),
]
FAULT_IDS = [
    "connect-timeout", "refused", "proxy", "tls-handshake-cut", "read-timeout", "reset",
    "chunked", "decoding", "invalid-url", "no-schema", "redirect-loop", "bad-certificate",
]  # fmt: skip


@pytest.mark.parametrize(("fault", "phase"), FAULTS, ids=FAULT_IDS)
def test_each_transport_fault_has_its_phase(fault: Exception, phase: Phase) -> None:
    assert phase_of(fault) is phase


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize(("fault", "phase"), FAULTS, ids=FAULT_IDS)
@responses.activate
def test_each_transport_fault_becomes_the_right_error(
    fault: Exception, phase: Phase, method: str
) -> None:
    responses.add(method, f"{URL}/x", body=fault)
    with pytest.raises(BridgeError) as err:
        HttpClient(URL, attempts=1, wait_max=0, system="vendor").request(method, "x", "read x")
    if phase is Phase.HOPELESS:
        assert isinstance(err.value, PermanentError)
    else:
        assert isinstance(err.value, RetryableError)
        assert not isinstance(err.value, RateLimited)
        # Only a write that got out may have happened; a GET can always be repeated.
        assert err.value.maybe_applied is (phase is Phase.SENT and method == "POST")
    assert str(err.value).startswith(f"read x failed: vendor: {method} {URL}/x: ")


@pytest.mark.parametrize(("status", "maybe"), [(500, True), (502, True), (504, True), (503, False)])
@responses.activate
def test_a_5xx_says_maybe_applied_only_for_writes(status: int, maybe: bool) -> None:
    responses.get(f"{URL}/x", status=status)
    responses.post(f"{URL}/x", status=status)
    with pytest.raises(RetryableError) as read:
        HttpClient(URL, attempts=1).request("GET", "x")
    with pytest.raises(RetryableError) as write:
        HttpClient(URL, attempts=1).request("POST", "x")
    assert read.value.maybe_applied is False
    assert write.value.maybe_applied is maybe


class Ticks:
    """A monotonic clock that moves `step` seconds each time it is read."""

    def __init__(self, step: float) -> None:
        self.step = step
        self.calls = 0

    def __call__(self) -> float:
        self.calls += 1
        return self.calls * self.step


@responses.activate
def test_inline_retries_stop_at_the_deadline() -> None:
    for _ in range(5):
        responses.get(f"{URL}/x", status=503)
    http = HttpClient(URL, attempts=5, wait_max=0, deadline=10, monotonic=Ticks(1.0))
    with pytest.raises(RetryableError):
        http.request("GET", "x")
    assert 1 < len(responses.calls) < 5  # retried, but not past the deadline


@responses.activate
def test_an_upload_gets_the_file_deadline() -> None:
    now = [0.0]

    def forty_seconds_later(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        now[0] += 40  # longer than an API call may take, shorter than a file's deadline
        return 201, {"Content-Type": "application/json"}, '{"upload": {"token": "t"}}'

    responses.add_callback("POST", f"{URL}/uploads", forty_seconds_later)
    http = HttpClient(URL, attempts=1, deadline=30, file_deadline=60, monotonic=lambda: now[0])
    assert http.json("POST", "uploads", data=b"file bytes") == {"upload": {"token": "t"}}
    with pytest.raises(RetryableError, match="30 s deadline") as err:
        http.json("POST", "uploads", json={"small": "body"})
    assert err.value.maybe_applied is True


def test_deadlines_come_from_the_system_options() -> None:
    settings = SystemSettings(
        name="vendor",
        type="zammad",
        url=URL,
        timeout=4,
        options={"request_deadline": 12, "file_deadline": "45"},
    )
    http = HttpClient.for_system(settings, URL)
    assert (http.timeout, http.deadline, http.file_deadline) == (4, 12, 45)
    assert http.system == "vendor"
    plain = HttpClient.for_system(replace(settings, options={}), URL)
    assert (plain.deadline, plain.file_deadline) == (REQUEST_DEADLINE, FILE_DEADLINE)
    assert REQUEST_DEADLINE < FILE_DEADLINE < Config.job_timeout


@pytest.mark.parametrize("value", [0, -5, "soon", None])
def test_a_bad_deadline_is_a_config_error(value: object) -> None:
    settings = SystemSettings(
        name="vendor", type="zammad", url=URL, options={"request_deadline": value}
    )
    with pytest.raises(ConfigError, match=r"vendor.*options\.request_deadline"):
        HttpClient.for_system(settings, URL)


# ------------------------------------------------------------------ downloads and origins


@pytest.mark.parametrize(
    ("url", "ours"),
    [
        (f"{URL}/files/1", True),
        ("https://API.example:443/other", True),  # case and the default port do not matter
        ("http://api.example/v1/files/1", False),  # a downgrade sends the token in clear
        ("https://api.example:8443/v1", False),
        ("https://api.example.evil.test/v1", False),
        ("https://api.example@evil.test/v1", False),  # user-info, not the host
        ("https://evil.test/?https://api.example/", False),
        ("https://api.example:notaport/", False),
    ],
)
def test_same_origin_compares_scheme_host_and_port(url: str, ours: bool) -> None:
    assert same_origin(url, URL) is ours


@responses.activate
def test_download_refuses_another_host_without_sending_anything() -> None:
    http = HttpClient(URL, headers={"Authorization": "Token token=t0k"}, system="vendor")
    with pytest.raises(PermanentError, match="refusing to send vendor credentials to"):
        http.download("https://evil.test/f", io.BytesIO(), 100, "download f")
    assert len(responses.calls) == 0


@responses.activate
def test_download_from_a_cdn_goes_without_credentials() -> None:
    responses.get(f"{URL}/f", status=302, headers={"Location": "https://cdn.test/f?sig=1"})
    responses.get("https://cdn.test/f", body=b"data")
    http = HttpClient(URL, headers={"X-Api-Key": "k3y"}, auth=("u", "p"))
    dest = io.BytesIO()
    assert http.download(f"{URL}/f", dest, 100, "f", foreign=ForeignHost.ANONYMOUS) == 4
    ours, cdn = (call.request.headers for call in responses.calls)
    assert ours["X-Api-Key"] == "k3y" and ours["Authorization"].startswith("Basic ")
    assert "X-Api-Key" not in cdn and "Authorization" not in cdn
    assert dest.getvalue() == b"data"


@responses.activate
def test_download_gives_up_after_too_many_redirects() -> None:
    for n in range(MAX_REDIRECTS + 1):
        responses.get(f"{URL}/f{n}", status=302, headers={"Location": f"{URL}/f{n + 1}"})
    with pytest.raises(PermanentError, match="redirects"):
        HttpClient(URL).download(f"{URL}/f0", io.BytesIO(), 100, "f")


# ------------------------------------------------------------------ a real misbehaving server


Handler = Callable[[socket.socket, threading.Event], None]


class TinyServer:
    """A raw-socket HTTP server on 127.0.0.1 whose every answer is scripted by `handler`.

    Written on plain sockets because the faults are the point: a trickled body, a close after
    half the Content-Length, a hang-up after the request. `connections` counts the requests
    that arrived; `stop` tells a trickling handler to end.
    """

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.stop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                try:
                    _read_request(conn)
                    self.connections += 1
                    self.handler(conn, self.stop)
                except OSError:
                    pass  # the client hung up: the behaviour under test

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.listener.close()


def _read_request(conn: socket.socket) -> None:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], TinyServer]]:
    started: list[TinyServer] = []

    def start(handler: Handler) -> TinyServer:
        started.append(TinyServer(handler))
        return started[-1]

    yield start
    for server in started:
        server.close()


TRICKLED = 3000  # bytes; a client that ignored its deadline ends on a short body instead


def trickle(conn: socket.socket, stop: threading.Event) -> None:
    """Headers at once, then one byte every 2 ms of a body said to be a megabyte long.

    After TRICKLED bytes it hangs up, so a client without a working deadline fails on the cut
    body after a few seconds instead of hanging the test run.
    """
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n")
    for _ in range(TRICKLED):
        if stop.wait(0.002):
            return
        conn.sendall(b"x")


def half_then_close(conn: socket.socket, stop: threading.Event) -> None:
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    conn.sendall(b'{"half": "' + b"y" * 40)


def hang_up(conn: socket.socket, stop: threading.Event) -> None:
    """Read the whole request, then close without a word: the write may have happened."""


@pytest.mark.realtime
def test_a_trickling_download_is_cut_at_its_deadline(
    serve: Callable[[Handler], TinyServer],
) -> None:
    server = serve(trickle)
    clock = Ticks(1.0)  # every look at the clock is a second later: deadline after ~20 reads
    http = HttpClient(server.url, system="vendor", file_deadline=20, monotonic=clock)
    dest = io.BytesIO()
    with pytest.raises(RetryableError) as err:
        http.download(f"{server.url}/files/7", dest, 10_000_000, "download trace.log")
    assert f"vendor: GET {server.url}/files/7 took longer than its 20 s deadline" in str(err.value)
    assert err.value.maybe_applied is False
    assert 0 < len(dest.getvalue()) < TRICKLED  # reading began, and stopped long before the end
    assert clock.calls <= 25  # one look per read: the deadline is checked between chunks
    assert server.connections == 1


@pytest.mark.realtime
def test_a_trickling_api_call_is_cut_and_a_write_may_have_happened(
    serve: Callable[[Handler], TinyServer],
) -> None:
    server = serve(trickle)
    http = HttpClient(server.url, attempts=3, wait_max=0, deadline=10, monotonic=Ticks(1.0))
    with pytest.raises(RetryableError, match="10 s deadline") as err:
        http.request("POST", "issues", "create issue", json={"summary": "s"})
    assert err.value.maybe_applied is True  # the request went out before the answer stalled
    assert server.connections == 1  # and it is not sent again inline


def test_a_body_cut_off_mid_way_is_retryable(serve: Callable[[Handler], TinyServer]) -> None:
    server = serve(half_then_close)
    http = HttpClient(server.url, attempts=2, wait_max=0)
    with pytest.raises(RetryableError, match="IncompleteRead") as read:
        http.json("GET", "issues/1")
    assert read.value.maybe_applied is False
    assert server.connections == 2  # a read is repeated inline
    with pytest.raises(RetryableError, match="IncompleteRead") as write:
        http.json("POST", "issues", json={})
    assert write.value.maybe_applied is True
    assert server.connections == 3  # a write is not
    with pytest.raises(RetryableError, match="IncompleteRead"):
        http.download(f"{server.url}/f", io.BytesIO(), 1000, "download f")


def test_a_hang_up_after_the_request_may_have_applied_a_write(
    serve: Callable[[Handler], TinyServer],
) -> None:
    server = serve(hang_up)
    http = HttpClient(server.url, attempts=2, wait_max=0)
    with pytest.raises(RetryableError) as write:
        http.request("POST", "issues", json={"summary": "s"})
    assert write.value.maybe_applied is True
    assert server.connections == 1
    with pytest.raises(RetryableError) as read:
        http.request("GET", "issues/1")
    assert read.value.maybe_applied is False
    assert server.connections == 3


def test_a_refused_connection_is_safe_to_repeat() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again below: nothing listens there
    http = HttpClient(f"http://127.0.0.1:{port}", attempts=1)
    with pytest.raises(RetryableError) as err:
        http.request("POST", "issues", json={})
    assert err.value.maybe_applied is False
    assert phase_of(err.value.__cause__) is Phase.NOT_SENT  # type: ignore[arg-type]


def test_a_whole_answer_within_the_deadline_keeps_the_connection(
    serve: Callable[[Handler], TinyServer],
) -> None:
    def ok(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        conn.sendall(b"Transfer-Encoding: chunked\r\n\r\n")
        for piece in (b'{"id": ', b"7}"):
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        conn.sendall(b"0\r\n\r\n")

    server = serve(ok)
    assert HttpClient(server.url).json("GET", "issues/7") == {"id": 7}


def test_a_gzip_answer_is_decoded_chunk_by_chunk(serve: Callable[[Handler], TinyServer]) -> None:
    body = gzip.compress(json.dumps({"notes": ["n"] * 20_000}).encode())

    def zipped(conn: socket.socket, stop: threading.Event) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(body)}\r\n\r\n"
        conn.sendall(head.encode() + body)

    server = serve(zipped)
    assert HttpClient(server.url).json("GET", "issues/7") == {"notes": ["n"] * 20_000}
