"""What a failure is *about*, without the ids that make every reason text unique.

A revoked token parks every ticket with "GET tickets/4711.json failed: 401 Unauthorized: ..."
and an unreachable tracker fails each poll with a new connection id in the text. Grouped by the
raw text, that is one inbox entry per ticket or per minute; grouped by the normalised cause
(error class plus HTTP status, transport error or a masked message) it is one entry per system
and cause, which is what an operator fixes.

Pure functions, no Redis: the inbox (bridge.failures.inbox) stores what these return.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

from bridge.registry import title_of

GAVE_UP = re.compile(r"^gave up after \d+ attempts? over [^:]+: ")
# The vendor's own text after the status carries ids and stays out of the cause; the phrase
# shown is the standard one for the code (servers and proxies word their own differently).
HTTP_STATUS = re.compile(r"failed: (?P<status>[1-5]\d\d)\b")
TRANSPORT = re.compile(r": (?P<name>[A-Z][A-Za-z]*(?:Error|Exception|Timeout|Refused)): ")
DEADLINE = re.compile(r"took longer than its [\d.]+ s deadline")
URL = re.compile(r"\b[a-z][a-z0-9+.-]*://\S+")
QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# Ids: numbers, uuids, hex digests and RQ job ids; words with digits in them.
ID = re.compile(r"\b(?:tb-[\w-]+|[0-9a-f]{8,}(?:-[0-9a-f]{4,})*|\w*\d[\w.-]*)\b", re.I)
MAX_CAUSE = 120


@dataclass(frozen=True)
class Cause:
    """`error` is the exception class; `detail` the normalised reason (HTTP status and its
    phrase, a transport error's class, or the message with ids, URLs and quotes masked)."""

    error: str
    detail: str
    status: int | None = None

    @property
    def text(self) -> str:
        return f"{self.error}: {self.detail}" if self.detail else self.error


def strip_gave_up(reason: str) -> str:
    """The fault behind "gave up after N attempts over T: ...": a pair that is still retrying
    and one that gave up on the same fault belong to one entry."""
    return GAVE_UP.sub("", reason.strip(), count=1)


def classify(reason: str, error: str = "", status: int | None = None) -> Cause:
    """The cause of a failure from its reason text, its exception class and HTTP status."""
    text = strip_gave_up(reason)
    first = (text.splitlines() or [""])[0]
    error = error or "Error"
    found = HTTP_STATUS.search(first)
    code = int(found["status"]) if found is not None else status
    if code is not None:
        return Cause(error, http_text(code), code)
    if DEADLINE.search(first):
        return Cause(error, "deadline exceeded (the system answers too slowly)")
    transport = TRANSPORT.search(first)
    if transport is not None:
        return Cause(error, transport["name"])
    return Cause(error, mask(first))


def http_text(code: int) -> str:
    """`HTTP 403 Forbidden`; the bare number for a code without a standard phrase."""
    try:
        return f"HTTP {code} {HTTPStatus(code).phrase}"
    except ValueError:
        return f"HTTP {code}"


def mask(text: str) -> str:
    """The message with what differs between occurrences replaced (ids, URLs, quoted values)."""
    text = URL.sub("<url>", text)
    text = QUOTED.sub("'…'", text)
    text = ID.sub("#", text)
    text = " ".join(text.split())
    return text if len(text) <= MAX_CAUSE else text[: MAX_CAUSE - 1] + "…"


def blamed_system(
    reason: str,
    candidates: Iterable[str],
    types: Mapping[str, str],
    named: str | None = None,
    default: str = "",
) -> str:
    """The system a failure came from: the one the error names (`named`, from Unreachable),
    else the one the reason names ("... failed: vendor: http://..." for transport errors),
    else the only candidate whose type the reason names ("create MantisBT issue"), else
    `default`. `types` maps a system name to its type (zendesk, mantis, zammad)."""
    names = list(candidates)
    if named:
        return named
    for name in names:
        if re.search(rf"(?<![\w-]){re.escape(name)}:", reason):
            return name
    titled = [n for n in names if (title_of(types.get(n, "")) or "\0") in reason]
    if len(titled) == 1:
        return titled[0]
    return default
