"""Run a WSGI app on a free loopback port in a background thread.

waitress, not werkzeug's development server: werkzeug closes the connection after every
response, so each request cost a new TCP connection and a new handler thread on both sides.
The real services keep connections alive, and a benchmark should measure the bridge, not the
sandbox's connection set-up (measured: about 0.7 ms of CPU per request, client and server).
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from waitress import wasyncore
from waitress.server import create_server

# Enough handler threads for every concurrent request the benchmarks make (16 workers, each
# reading three or four things at once, while the injected latency holds each thread).
THREADS = 96


class BackgroundServer:
    """`with BackgroundServer(app) as url:` serves `app` until the block ends."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server: Any = create_server(
            app,
            host=host,
            port=port,
            threads=THREADS,
            connection_limit=1000,
            ident="sandbox",
        )
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        # waitress's own run() loops until its socket map is empty; closing sockets from another
        # thread while it polls them fails with EBADF, so the loop thread closes them itself.
        while not self._stopping.is_set():
            wasyncore.loop(timeout=0.05, map=self._server._map, count=1)
        wasyncore.close_all(self._server._map)  # listening socket and kept-alive connections

    @property
    def url(self) -> str:
        return f"http://{self._server.effective_host}:{self._server.effective_port}"

    def start(self) -> str:
        self._thread.start()
        return self.url

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._server.task_dispatcher.shutdown(cancel_pending=True, timeout=5)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
