"""gunicorn's settings for the bridge: `gunicorn -c python:bridge.web.gunicorn_conf ...`.

gunicorn installs text handlers of its own on `gunicorn.error` and `gunicorn.access`, so its
start-up lines ("Starting gunicorn", "Listening at", "Booting worker with pid"), a worker's
crash and its shutdown would be the only lines of the web container a log shipper cannot
parse. JsonLogger keeps gunicorn's loggers but lets them propagate to the root logger, where
bridge.telemetry.logs's one handler writes every line (JSON, or text with BRIDGE_LOG_FORMAT=text).

The master process never reads the bridge's config (gunicorn loads the app in each worker), so
its handler knows no credential to blank out; the master logs none. Each worker's
bridge.web.wsgi installs the handler again, with every configured secret.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from gunicorn.glogging import Logger

from bridge.telemetry.logs import configure_logging

_access = logging.getLogger("bridge.web.access")


class JsonLogger(Logger):
    """gunicorn's logger through the bridge's handler; access lines as `bridge web` has them.

    An access line is a `debug` line of `bridge.web.access` (method, path without the query,
    status), as the development server writes it, so health checks and `/metrics` scrapes do
    not fill the log; `--log-level debug` shows them. gunicorn's `--error-logfile` and
    `--access-logfile` are not used: every line goes to stderr, where the container's log is.
    """

    def setup(self, cfg: Any) -> None:
        self.cfg = cfg
        self.loglevel = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        configure_logging()
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True
        self.error_log.setLevel(self.loglevel)
        # The logger's own level, not the root's: each worker's configure_logging() resets
        # the root to info, and gunicorn's --log-level must still decide.
        _access.setLevel(self.loglevel)
        self._access_log_enabled = self.loglevel <= logging.DEBUG

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: timedelta) -> None:
        if not _access.isEnabledFor(logging.DEBUG):
            return
        status = str(resp.status).split(None, 1)[0]
        _access.debug(
            "%s %s %s", environ.get("REQUEST_METHOD", "-"), environ.get("PATH_INFO", ""),
            int(status) if status.isdigit() else status,
            extra={"client": environ.get("REMOTE_ADDR", "-")},
        )  # fmt: skip


logger_class = JsonLogger
