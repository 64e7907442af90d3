"""The development server's request handler (`bridge web`, `bridge run`): access lines at debug.

werkzeug logs every request at info, with terminal colours: every /metrics scrape and every
health check would be a line. Here each request is one debug line of the bridge's logger,
with method, path (the query left out: it can carry a token) and status.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from werkzeug.serving import WSGIRequestHandler

log = logging.getLogger("bridge.web.access")


class QuietRequestHandler(WSGIRequestHandler):
    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        if not log.isEnabledFor(logging.DEBUG):
            return
        path = urlsplit(getattr(self, "path", "") or "").path
        status = int(code) if str(code).isdigit() else str(code)
        log.debug(
            "%s %s %s", getattr(self, "command", "-"), path, status,
            extra={"client": self.address_string()},
        )  # fmt: skip
