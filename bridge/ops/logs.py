"""Structured logs: one JSON object per line (or readable text), never a secret.

`bridge run`, `worker` and `web` call configure_logging(); BRIDGE_LOG_FORMAT=json|text picks the
format (json by default, for log shippers). Jobs bind system, ticket, link and job id once with
bind(); every line logged afterwards in that job carries them. Every configured credential is
replaced by `***` in the message and the traceback before the line is written.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

FIELDS = ("system", "ticket", "link", "job")
FORMATS = ("json", "text")
_context: ContextVar[dict[str, str] | None] = ContextVar("bridge_log_context", default=None)


def bind(replace: bool = False, **values: Any) -> None:
    """Attach ticket context to every log line of this job (or request) from now on.

    `replace` starts afresh: a SimpleWorker runs many jobs in one process, and a job must not
    log under the previous job's ticket.
    """
    current = {} if replace else dict(_context.get() or {})
    current.update({k: str(v) for k, v in values.items() if v is not None and k in FIELDS})
    _context.set(current)


def clear_context() -> None:
    _context.set(None)


def secrets_of(config: Any) -> list[str]:
    """Every credential a config holds: API tokens, passwords, webhook secrets, ops keys."""
    found: list[str] = []
    for settings in getattr(config, "systems", {}).values():
        found.extend(str(v) for v in (settings.auth or {}).values())
        if settings.webhook_secret:
            found.append(settings.webhook_secret)
    ops = getattr(config, "ops", None)
    if ops is not None:
        found.extend(ops.secrets())
    # Short values would blank out ordinary words; real credentials are longer.
    return sorted({s for s in found if len(s) >= 6}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, "***")
    return text


class _Base(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def fields(self, record: logging.LogRecord) -> dict[str, str]:
        ctx = _context.get() or {}
        out = {}
        for name in FIELDS:
            value = getattr(record, name, None) or ctx.get(name)
            if value:
                out[name] = str(value)
        return out


class JsonFormatter(_Base):
    """time, level, message, logger, then system/ticket/link/job where known, exc on errors."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "message": redact(record.getMessage(), self.secrets),
            "logger": record.name,
            **self.fields(record),
        }
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info), self.secrets)
        return json.dumps(entry, default=str)


class TextFormatter(_Base):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        ctx = " ".join(f"{k}={v}" for k, v in self.fields(record).items())
        line = f"{when} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if ctx:
            line += f" [{ctx}]"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line, self.secrets)


_HANDLER_NAME = "bridge-ops"


def configure_logging(
    fmt: str | None = None,
    secrets: Iterable[str] = (),
    level: int = logging.INFO,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Install the bridge's handler on the root logger (replacing an earlier one of ours).

    RQ and werkzeug only add their own handlers when none is effective, so theirs defer to this.
    """
    chosen = (fmt or os.environ.get("BRIDGE_LOG_FORMAT") or "json").strip().lower()
    if chosen not in FORMATS:
        chosen = "json"
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name(_HANDLER_NAME)
    formatter = JsonFormatter(secrets) if chosen == "json" else TextFormatter(secrets)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
