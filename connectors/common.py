"""Small pieces every connector's webhook and payload parsing needs, kept in one place.

Everything here is a first line of defence against what a sender can post: a signed body is
still untrusted input (a leaked secret, a buggy trigger template, a fuzzer with the key), so
each function either returns a well-formed value or raises PayloadError naming what was wrong,
and never lets a Python limit (recursion, int-string length, datetime range) surface as a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

from bridge.errors import PayloadError

# Real payloads nest a handful of levels (Zammad's user preferences are the deepest, about 8).
# json's C scanner recurses per level until Python's recursion limit, so depth is checked first.
MAX_DEPTH = 64
# Longest number literal accepted (sign, digits, fraction, exponent). Ids are 64-bit (19
# digits); Python refuses to convert ints over 4,300 digits, and nothing legitimate comes close.
MAX_NUMBER_CHARS = 64
# Zendesk's and Zammad's ids are positive 64-bit integers (bigint columns).
MAX_ID = 2**63 - 1
# How much of a bad value an error message repeats: enough to recognise it, not a whole body.
SHOWN_CHARS = 60

# A JSON string, unrolled so each character is matched one way only. The closing quote is
# optional: an unterminated string then runs to the end in one match, instead of the search
# retrying from every later quote (quadratic on a body of escaped quotes). json.loads fails on
# an unterminated string without recursing, so skipping its brackets never undercounts.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
# A \uD800-\uDFFF escape: json decodes a lone one into a str that cannot be encoded as UTF-8
# (Redis, logs and the RQ payload would fail on it later, far from the request).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class TimeOutOfRange(ValueError):
    """An ISO-8601 time that parses but has no UTC equivalent a datetime can hold."""


def normalise_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Header names are case-insensitive; WSGI, proxies and tests all spell them differently."""
    return {str(k).lower(): str(v) for k, v in headers.items()}


def shown(value: Any) -> str:
    """A payload value as JSON (what the sender wrote), ASCII-escaped and cut to SHOWN_CHARS."""
    if isinstance(value, int) and value.bit_length() > 4 * SHOWN_CHARS:
        return f"<a number of {value.bit_length()} bits>"  # str() refuses over 4,300 digits
    text = json.dumps(value, default=repr)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def load_body(raw_body: bytes) -> dict[str, Any]:
    """Decode the body as a JSON object, with a PayloadError the sender's admin can act on.

    Bounded on purpose: at most MAX_DEPTH levels of nesting, number literals of at most
    MAX_NUMBER_CHARS characters, no NaN/Infinity (not JSON), no number that overflows a float,
    and no lone UTF-16 surrogate escape. Within those bounds the stdlib parser cannot fail in
    any way but JSONDecodeError.
    """
    if not raw_body or not raw_body.strip():
        raise PayloadError("body is empty: expected a JSON object")
    try:
        # The encoding json.loads(bytes) would pick (UTF-8, or UTF-16/32 by their byte
        # pattern), but decoded strictly: an encoded lone surrogate is not valid text.
        text = raw_body.decode(json.detect_encoding(raw_body))
    except UnicodeDecodeError as exc:
        raise PayloadError(f"body is not valid UTF-8: {exc.reason}") from exc
    _check_depth(text)
    try:
        payload = json.loads(
            text, parse_int=_parse_int, parse_float=_parse_float, parse_constant=_no_constant
        )
    except json.JSONDecodeError as exc:
        raise PayloadError(
            f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    if not isinstance(payload, dict):
        raise PayloadError(f"body must be a JSON object, got {type(payload).__name__}")
    if _SURROGATE_ESCAPE.search(text):
        _check_encodable(payload)
    return payload


def _check_depth(text: str) -> None:
    """Refuse nesting deeper than MAX_DEPTH before json recurses into it.

    The stdlib parser has no depth option and fails with RecursionError at whatever depth the
    caller's stack leaves, so the brackets outside strings are counted here (hand-written
    because no maintained stdlib-compatible parser takes a depth limit). Unbalanced or
    unterminated input is left to json.loads to report; this only has to never undercount.
    """
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return
    depth = 0
    for char in _NOT_BRACKET.sub("", _STRING.sub("", text)):
        if char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise PayloadError(f"body is nested deeper than {MAX_DEPTH} levels")
        else:
            depth -= 1


def _number_too_long(literal: str) -> NoReturn:
    raise PayloadError(
        f"body has a number of {len(literal)} characters ({literal[:20]}...); "
        f"at most {MAX_NUMBER_CHARS} are accepted"
    )


def _parse_int(literal: str) -> int:
    if len(literal) > MAX_NUMBER_CHARS:
        _number_too_long(literal)
    return int(literal)


def _parse_float(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        _number_too_long(literal)
    value = float(literal)
    if value in (float("inf"), float("-inf")):
        raise PayloadError(f"body has a number out of range: {literal}")
    return value


def _no_constant(name: str) -> NoReturn:
    raise PayloadError(f"body is not valid JSON: {name} is not a JSON value")


def _check_encodable(payload: dict[str, Any]) -> None:
    """Refuse a lone surrogate; only called when the text has a surrogate escape at all."""
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        char = exc.object[exc.start]
        raise PayloadError(
            f"body has an unpaired UTF-16 surrogate \\u{ord(char):04x}: not a character"
        ) from exc


def parse_utc(value: Any) -> datetime | None:
    """ISO-8601 ("...Z", milliseconds or more) as an aware UTC datetime; None when missing.

    Naive values are taken as UTC (Zendesk's and Zammad's APIs always mean UTC). Raises
    ValueError for text that is not a timestamp, so callers decide how strict to be, and its
    subclass TimeOutOfRange for a valid time outside datetime's range once in UTC (year 9999
    at -14:00 is year 10000 in UTC).
    """
    if value is None or value == "":
        return None
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:
        raise TimeOutOfRange("it falls outside the years 1 to 9999 in UTC") from exc


def hint_time(value: Any, field: str) -> datetime | None:
    """A payload time that is only a hint (jobs re-read the ticket).

    Lenient with text that is no timestamp (a trigger template may render a human date), but
    a timestamp out of range is a broken sender, answered 400 with the field's name.
    """
    try:
        return parse_utc(value)
    except TimeOutOfRange as exc:
        raise PayloadError(f"{field} {shown(value)} is out of range: {exc}") from exc
    except ValueError:
        return None


def whole_id(value: Any, field: str) -> str:
    """A required id: a positive 64-bit integer, as a JSON number or a string of digits.

    Custom payloads and placeholders render ids as text, so digit strings are accepted;
    booleans (an int subclass in Python), fractions, negatives and zero are not ids.
    """
    if isinstance(value, float):
        raise PayloadError(f"{field} {shown(value)} is not an integer")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise PayloadError(f"{field} {shown(value)} is not a number")
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):
            raise PayloadError(f"{field} {shown(value)} is not a number")
        # Leading zeros are harmless, but int() of a long string is not (4,300 digit limit).
        digits = text.lstrip("0") or "0"
        number = int(digits) if len(digits) <= len(str(MAX_ID)) else MAX_ID + 1
    else:
        number = value
    if not 1 <= number <= MAX_ID:
        raise PayloadError(f"{field} {shown(value)} is out of range (1 to {MAX_ID})")
    return str(number)


def optional_id(value: Any, field: str) -> str | None:
    """An optional id (an actor, an author): the text of a number or a string, or None.

    A missing value, an empty string or an unrendered placeholder stays unknown rather than an
    error; a value of the wrong type (bool, fraction, negative, object) is refused.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PayloadError(f"{field} {shown(value)} is not an id")
    return str(value)


def optional_flag(value: Any, field: str, default: bool = False) -> bool:
    """A JSON true/false; `bool("false")` is True, so anything else is refused."""
    if value is None:
        return default
    if not isinstance(value, bool):
        raise PayloadError(f"{field} {shown(value)} is not true or false")
    return value
