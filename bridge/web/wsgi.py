"""WSGI entry point for production servers: `gunicorn 'bridge.web.wsgi:app'`.

Reads BRIDGE_CONFIG (and BRIDGE_REDIS_URL, which overrides redis_url); a separate web process
needs a shared Redis, so the embedded one is not started here.
"""

from __future__ import annotations

import os

from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.ops.logs import configure_logging, secrets_of
from bridge.redis_runtime import connect_web
from bridge.web import create_app

_config = load_config(os.environ.get("BRIDGE_CONFIG", "bridge.yaml"))
configure_logging(secrets=secrets_of(_config))
_url = os.environ.get("BRIDGE_REDIS_URL") or _config.redis_url
if not _url:
    raise ConfigError(f"{_config.path}: redis_url is empty; the web process needs a shared Redis")
app = create_app(_config, connect_web(_url))
