"""What every `bridge` command shares: finding Redis, the exit codes, one clear line on failure.

An operator reaches for the CLI when something is broken. A command that cannot reach Redis or
a ticket system says so in one line on stderr (what, where without the password, what to check)
and exits UNREACHABLE; a traceback is kept for what really is a bug in the bridge.
"""

from __future__ import annotations

import json
import os
import shutil
import textwrap
from collections.abc import Sequence
from typing import Any

import click
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bridge.config import Config
from bridge.errors import RetryableError
from bridge.exit_codes import ExitCode
from bridge.ops.timeline import Narrator
from bridge.redis_runtime import connect_cli, redact, resolve_url, socket_of

_URL_KEY = "bridge.redis_url"  # in click's context meta: the URL a failure is about
_EMBEDDED_KEY = "bridge.redis_embedded"  # ... and whether it is `bridge run`'s own socket
NO_REDIS = "no Redis: start `bridge run` or set redis_url"


class CannotReach(click.ClickException):
    """Redis or a ticket system could not be reached; the message says which and what to check."""

    exit_code = ExitCode.UNREACHABLE


class ProblemFound(click.ClickException):
    """The command ran and found something wrong (the message says what)."""

    exit_code = ExitCode.PROBLEM


def configured_url(config: Config) -> str:
    """BRIDGE_REDIS_URL (as `bridge run` hands it to its children), else the config's."""
    return os.environ.get("BRIDGE_REDIS_URL") or config.redis_url


def redis_url(config: Config) -> str:
    """The URL to use: the configured one, else the socket of `bridge run`'s embedded Redis."""
    return resolve_url(configured_url(config), config.data_dir)


def find_redis(config: Config) -> str:
    """The URL of the config's Redis, remembered so a failure later names it.

    With no URL configured it is the embedded Redis's socket; a missing socket is said at once
    (nothing to wait for: `bridge run` is not running on this data_dir).
    """
    url = redis_url(config)
    embedded = not configured_url(config)
    remember(url, embedded)
    path = socket_of(url)
    if embedded and path is not None and not path.exists():
        raise CannotReach(f"{NO_REDIS} (no socket at {path})")
    return url


def open_redis(config: Config) -> Redis:
    """An operator command's client for the config's Redis (see find_redis), checked with a
    PING, so "cannot reach Redis" is said before anything else is tried."""
    redis = connect_cli(find_redis(config))
    redis.ping()
    return redis


def redis_or_none(config: Config) -> Redis | None:
    """The config's Redis, or None when it does not answer: for a command that still works
    without it (and says so)."""
    try:
        return open_redis(config)
    except (CannotReach, RedisConnectionError, RedisTimeoutError):
        return None


def remember(url: str, embedded: bool = False) -> None:
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[_URL_KEY] = url
        ctx.meta[_EMBEDDED_KEY] = embedded


def redis_failure(exc: Exception) -> CannotReach:
    ctx = click.get_current_context(silent=True)
    meta: dict[str, Any] = ctx.meta if ctx is not None else {}
    url = str(meta.get(_URL_KEY, ""))
    first = _first_line(exc)
    if url and meta.get(_EMBEDDED_KEY):
        return CannotReach(f"{NO_REDIS} (the socket {socket_of(url)} does not answer: {first})")
    where = f" at {redact(url)}" if url else ""
    return CannotReach(
        f"cannot reach Redis{where}: {first}; check that Redis runs and redis_url "
        "(or BRIDGE_REDIS_URL) points at it"
    )


def _first_line(exc: Exception) -> str:
    """The error's first line without its closing period (the message goes on after it)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


def system_failure(system: str, exc: RetryableError) -> CannotReach:
    first = _first_line(exc)
    return CannotReach(
        f"cannot reach system {system}: {first}; check its url in the config, the network "
        "and whether it is up"
    )


class BridgeGroup(click.Group):
    """The `bridge` group: turns "could not reach" into one line and exit UNREACHABLE.

    Only connection failures and timeouts are translated; any other exception is a bug and
    keeps its traceback.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise redis_failure(exc) from None
        except RetryableError as exc:
            raise CannotReach(f"a ticket system could not be reached: {_first_line(exc)}") from None


def echo_json(data: Any) -> None:
    """One JSON document on stdout (dates and paths as strings)."""
    click.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


def table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    max_width: int = 70,
    wrap_last: bool = False,
) -> str:
    """A plain aligned table. Long cells are cut with an ellipsis so rows stay one line; with
    `wrap_last` the last column is never cut but wrapped under itself (a reason is read in
    full, never guessed from its first 70 characters)."""
    last = len(headers) - 1
    cells = [
        [(" ".join(str(c).split()) if wrap_last and i == last else _cut(str(c), max_width))
         for i, c in enumerate(row)]
        for row in rows
    ]  # fmt: skip
    fixed = [max([len(h), *(len(r[i]) for r in cells)]) for i, h in enumerate(headers)]
    if wrap_last:
        fixed[last] = len(headers[last])
    indent = sum(fixed[:last]) + 2 * last
    room = max(30, shutil.get_terminal_size((120, 24)).columns - indent)
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, fixed, strict=True))]
    for r in cells:
        head = "  ".join(c.ljust(w) for c, w in zip(r[:last], fixed[:last], strict=True))
        tail = _wrap(r[last], room) if wrap_last else [r[last]]
        lines.append((head + "  " if last else "") + (tail[0] if tail else ""))
        lines += [" " * indent + more for more in tail[1:]]
    return "\n".join(line.rstrip() for line in lines)


def _wrap(text: str, width: int) -> list[str]:
    # URLs and ids stay whole: a line may run long rather than split a word.
    return textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def timeline_table(timeline: list[dict[str, Any]], config: Config | None = None) -> str:
    """A sync log as rows: when, which side, what happened in a sentence, and the details the
    sentence leaves out as `label: value` (bridge.ops.timeline)."""
    narrator = Narrator(config)
    rows = [
        [
            line.at[:19].replace("T", " "),
            line.ticket,
            line.sentence + "".join(f"; {k}: {v}" for k, v in line.fields),
        ]
        for line in narrator.lines(timeline)
    ]
    return table(["at (UTC)", "ticket", "what happened"], rows, wrap_last=True)
