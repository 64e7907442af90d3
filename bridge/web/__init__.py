"""Flask app factory: webhooks and health. No remote ticket-system call happens in a request."""

from __future__ import annotations

from typing import Any

from flask import Flask, jsonify
from redis import Redis
from werkzeug.exceptions import HTTPException

from bridge.config import Config
from bridge.queue import get_queue
from bridge.redis_runtime import connect_web
from bridge.registry import build_connector
from bridge.stores import Stores


def create_app(config: Config, redis: Redis | None = None) -> Flask:
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    redis = redis if redis is not None else connect_web(config.redis_url)
    app.extensions["bridge"] = {
        "config": config,
        "redis": redis,
        "connectors": {name: build_connector(s) for name, s in config.systems.items()},
        # Built once: a Queue caches the server version (one INFO call) and the intake store
        # its registered script; per request they would cost a round trip each.
        "queue": get_queue(redis, config),
        "stores": Stores.of(redis),
    }

    from bridge.web.health import bp as health_bp
    from bridge.web.webhooks import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    app.register_blueprint(health_bp)
    from bridge.web.ops import install as install_ops  # /ops console + /metrics

    install_ops(app, config)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Any:
        # Every error a sender can provoke is answered in JSON with a reason, never a trace.
        code = exc.code or 500
        reason = exc.description
        if code == 413:
            reason = f"body larger than {config.max_body_bytes} bytes"
        return jsonify(error=exc.name, detail=reason), code

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Any:
        app.logger.exception("unhandled error")
        return jsonify(error="Internal Server Error", detail=type(exc).__name__), 500

    return app
