"""Structured logs: one JSON object per line (or readable text), never a secret.

`bridge run`, `worker`, `cron` and `web` (and gunicorn, through bridge.web.gunicorn_conf) call
configure_logging(); BRIDGE_LOG_FORMAT=json|text picks the format (json by default, for log
shippers). Every line of every library goes through the one root handler, so RQ's, werkzeug's
and the start-up lines are JSON too (terminal colour codes stripped). A worker binds system,
ticket, link and job id at the start of each job and clears them after it, so every line of
that job carries them and no line of the next one does. A traceback is kept to
MAX_TRACEBACK characters (its start and its end, where the error is). Every configured
credential is replaced by `***` in the message and the traceback before the line is written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
from collections.abc import Iterable
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

FIELDS = ("system", "ticket", "link", "job")
FORMATS = ("json", "text")
MAX_TRACEBACK = 4096  # characters; a DNS failure's chained traceback is about 8 KB
_TRACEBACK_HEAD = 1024  # where it started; the rest of the budget goes to where it ended
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
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


def cap(text: str, limit: int = MAX_TRACEBACK) -> str:
    """`text` within `limit` characters: its start and its end, with what was cut in between
    counted (the end of a traceback names the error, the start the first frames)."""
    if len(text) <= limit:
        return text
    tail = limit - _TRACEBACK_HEAD
    left_out = len(text) - _TRACEBACK_HEAD - tail
    return f"{text[:_TRACEBACK_HEAD]}\n... {left_out} characters left out ...\n{text[-tail:]}"


class _Base(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = list(secrets)

    def message(self, record: logging.LogRecord) -> str:
        return redact(_ANSI.sub("", record.getMessage()), self.secrets)

    def traceback(self, record: logging.LogRecord) -> str | None:
        if not record.exc_info:
            return None
        return cap(redact(self.formatException(record.exc_info), self.secrets))

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
            "message": self.message(record),
            "logger": record.name,
            **self.fields(record),
        }
        exc = self.traceback(record)
        if exc:
            entry["exc"] = exc
        return json.dumps(entry, default=str)


class TextFormatter(_Base):
    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        ctx = " ".join(f"{k}={v}" for k, v in self.fields(record).items())
        line = f"{when} {record.levelname:<7} {record.name}: {self.message(record)}"
        if ctx:
            line += f" [{ctx}]"
        exc = self.traceback(record)
        if exc:
            line += "\n" + exc
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
    _route_python_reports()
    return handler


_python = logging.getLogger("bridge.python")


def _route_python_reports() -> None:
    """What Python itself prints to stderr (an uncaught exception, in the main thread or
    another one; an exception a finalizer could not raise) goes through the handler too, so
    it is a JSON line with a capped traceback like every other."""

    def uncaught(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, exc, tb)
            return
        _python.critical("uncaught %s: %s", kind.__name__, exc, exc_info=(kind, exc, tb))

    def in_thread(args: Any) -> None:
        if args.exc_type is SystemExit or args.exc_value is None:
            return
        name = args.thread.name if args.thread is not None else "?"
        _python.error(
            "uncaught in thread %s: %s: %s", name, args.exc_type.__name__, args.exc_value,
            exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
        )  # fmt: skip

    def unraisable(args: Any) -> None:
        where = args.err_msg or "Exception ignored in"
        what = f"{type(args.exc_value).__name__}: {args.exc_value}" if args.exc_value else "?"
        # A stop signal that lands in a finalizer (RQ raises StopRequested from its handler)
        # is expected and handled by the worker's flag; anything else is worth a look.
        level = (
            logging.DEBUG if type(args.exc_value).__name__ == "StopRequested" else logging.WARNING
        )
        _python.log(level, "%s %r: %s", where, args.object, what)

    sys.excepthook = uncaught
    threading.excepthook = in_thread
    sys.unraisablehook = unraisable
