"""WSGI entry point for production servers: `gunicorn 'bridge.web.wsgi:app'`.

Reads BRIDGE_CONFIG (and BRIDGE_REDIS_URL, which overrides redis_url); a separate web process
needs a shared Redis, so the embedded one is not started here.

A config that cannot be used is one log line (JSON like every other) and exit code 4, which
gunicorn reads as "App failed to load.": its master stops instead of booting worker after
worker. An exception would be logged with a traceback and printed once more by gunicorn as
plain text, the only line of the web container that is not JSON.
"""

from __future__ import annotations

import logging
import os

from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.redis_runtime import connect_web
from bridge.telemetry.logs import configure_logging, secrets_of
from bridge.web import create_app

APP_LOAD_ERROR = 4  # gunicorn's exit code of a worker whose app cannot load: it does not retry

try:
    _config = load_config(os.environ.get("BRIDGE_CONFIG", "bridge.yaml"))
except ConfigError as exc:
    configure_logging()
    logging.getLogger("bridge").critical("cannot start the web app: %s", exc)
    raise SystemExit(APP_LOAD_ERROR) from None
configure_logging(secrets=secrets_of(_config))
_url = os.environ.get("BRIDGE_REDIS_URL") or _config.redis_url
if not _url:
    logging.getLogger("bridge").critical(
        "cannot start the web app: %s: redis_url is empty; the web process needs a shared Redis",
        _config.path,
    )
    raise SystemExit(APP_LOAD_ERROR)
app = create_app(_config, connect_web(_url))
