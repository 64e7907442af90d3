"""The shared body loader's bounds and the webhook parsers' field checks, from bytes alone.

Every case here was a 500 (OverflowError, RecursionError, ValueError, TypeError) or a value
silently misread (`bool("false")`, `True == 1`) before; each is now a 4xx error naming what
was wrong. The endpoint-level replay of the measured inputs is tests/integration/
test_webhook_limits.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.errors import PayloadError, SignatureError
from bridge.protocol import SystemSettings
from connectors import common
from connectors.common import (
    MAX_DEPTH,
    MAX_NUMBER_CHARS,
    TimeOutOfRange,
    hint_time,
    load_body,
    optional_id,
    parse_utc,
    whole_id,
)
from connectors.zammad import ZammadConnector
from connectors.zendesk import ZendeskConnector

FAR = "9999-12-31T23:59:59-14:00"
NOW = datetime(2021, 3, 25, 5, 9, 27, tzinfo=UTC)


def zendesk() -> ZendeskConnector:
    settings = SystemSettings(
        name="helpdesk",
        type="zendesk",
        url="https://acme.zendesk.com",
        auth={"email": "bridge@acme.test", "token": "t0k"},
        webhook_secret="s3cret",
        bridge_user="900",
    )
    return ZendeskConnector(settings, clock=lambda: NOW)


def zammad() -> ZammadConnector:
    settings = SystemSettings(
        name="vendor",
        type="zammad",
        url="https://zammad.vendor.example",
        auth={"token": "zm-token"},
        webhook_secret="s3cret",
        bridge_user="2",
    )
    return ZammadConnector(settings)


def refused(parse: Any, raw: bytes) -> str:
    with pytest.raises(PayloadError) as info:
        parse({}, raw)
    assert info.value.http_status == 400
    return str(info.value)


# ------------------------------------------------------------------------------ the loader


def nest(levels: int) -> bytes:
    return b'{"ticket_id": 1, "x": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


def test_nesting_up_to_the_bound_loads_and_one_more_is_refused() -> None:
    assert load_body(nest(MAX_DEPTH))["ticket_id"] == 1
    with pytest.raises(PayloadError, match=f"body is nested deeper than {MAX_DEPTH} levels"):
        load_body(nest(MAX_DEPTH + 1))


@pytest.mark.parametrize("levels", [999, 1000, 5000])
def test_nesting_past_the_recursion_limit_is_refused(levels: int) -> None:
    for raw in (b"[" * levels + b"]" * levels, b'{"a":' * levels + b"1" + b"}" * levels):
        with pytest.raises(PayloadError, match="nested deeper than 64 levels"):
            load_body(raw)


def test_brackets_inside_strings_are_not_nesting() -> None:
    raw = json.dumps({"ticket_id": 1, "body": "[" * 5000 + '\\"{' * 100}).encode()
    assert load_body(raw)["body"].startswith("[[[")


def test_an_unterminated_string_is_skipped_in_one_pass() -> None:
    """A body of escaped quotes after an open quote: a scan that retried from every quote
    took minutes on 1 MB. The string token now runs to the end in one match."""
    tail = '"' + '\\"' * 200_000
    assert common._STRING.fullmatch(tail) is not None
    with pytest.raises(PayloadError, match="nested deeper than 64 levels"):
        load_body(("[" * 70 + tail).encode())
    with pytest.raises(PayloadError, match="Unterminated string"):
        load_body(('{"a": ' + tail).encode())


def test_number_literals_are_bounded_before_conversion() -> None:
    assert load_body(b'{"n": ' + b"7" * MAX_NUMBER_CHARS + b"}")["n"] == int("7" * 64)
    with pytest.raises(PayloadError, match="body has a number of 4301 characters"):
        load_body(b'{"n": ' + b"7" * 4301 + b"}")
    with pytest.raises(PayloadError, match="body has a number of 65 characters"):
        load_body(b'{"n": 0.' + b"1" * 63 + b"}")


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b'{"n": NaN}', "body is not valid JSON: NaN is not a JSON value"),
        (b'{"n": -Infinity}', "body is not valid JSON: -Infinity is not a JSON value"),
        (b'{"n": 1e400}', "body has a number out of range: 1e400"),
        (b'{"s": "\\ud800"}', "body has an unpaired UTF-16 surrogate \\ud800"),
        (b'{"s": "\xed\xa0\x80"}', "body is not valid UTF-8"),
    ],
)
def test_values_json_cannot_carry_are_refused(raw: bytes, detail: str) -> None:
    with pytest.raises(PayloadError) as info:
        load_body(raw)
    assert detail in str(info.value)


def test_a_surrogate_pair_is_one_character() -> None:
    assert load_body(b'{"s": "\\ud83d\\ude00"}')["s"] == "\U0001f600"


# -------------------------------------------------------------------------------- times


@pytest.mark.parametrize("text", [FAR, "0001-01-01T00:00:00+14:00"])
def test_a_time_outside_utc_range_is_its_own_error(text: str) -> None:
    with pytest.raises(TimeOutOfRange, match="outside the years 1 to 9999 in UTC"):
        parse_utc(text)
    with pytest.raises(PayloadError) as info:
        hint_time(text, "updated_at")
    assert str(info.value).startswith(f'updated_at "{text}" is out of range')


def test_a_human_time_is_still_only_a_missing_hint() -> None:
    assert hint_time("March 25, 2021 05:09", "updated_at") is None
    assert hint_time("9999-12-31T23:59:59Z", "updated_at") == datetime(
        9999, 12, 31, 23, 59, 59, tzinfo=UTC
    )


def test_out_of_range_signature_timestamp_is_a_signature_error() -> None:
    raw = b'{"ticket_id": "7"}'
    mac = hmac.new(b"s3cret", FAR.encode() + raw, hashlib.sha256).digest()
    headers = {
        "X-Zendesk-Webhook-Signature": base64.b64encode(mac).decode(),
        "X-Zendesk-Webhook-Signature-Timestamp": FAR,
    }
    with pytest.raises(SignatureError) as info:
        zendesk().verify_webhook(headers, raw)
    assert info.value.http_status == 401
    assert str(info.value) == (
        f"x-zendesk-webhook-signature-timestamp '{FAR}' is out of range: "
        "it falls outside the years 1 to 9999 in UTC"
    )


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"ticket_id": 7, "updated_at": FAR}, f'updated_at "{FAR}" is out of range'),
        (
            {"type": "zen:event-type:ticket.created", "detail": {"id": "7"}, "time": FAR},
            f'time "{FAR}" is out of range',
        ),
    ],
)
def test_out_of_range_payload_times_are_400(payload: dict[str, Any], detail: str) -> None:
    assert detail in refused(zendesk().parse_webhook, json.dumps(payload).encode())


def test_out_of_range_zammad_updated_at_is_400() -> None:
    raw = json.dumps({"ticket": {"id": 19, "updated_at": FAR}, "article": {}}).encode()
    assert f'ticket.updated_at "{FAR}" is out of range' in refused(zammad().parse_webhook, raw)


# ---------------------------------------------------------------------------------- ids


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (True, "ticket_id true is not a number"),
        (1.5, "ticket_id 1.5 is not an integer"),
        (1.0, "ticket_id 1.0 is not an integer"),
        (-1, "ticket_id -1 is out of range (1 to 9223372036854775807)"),
        (0, "ticket_id 0 is out of range"),
        (2**63, "ticket_id 9223372036854775808 is out of range"),
        ("7" * 4301, "is out of range (1 to 9223372036854775807)"),
        ("-7", 'ticket_id "-7" is not a number'),
        ("\u0661\u0662", 'ticket_id "\\u0661\\u0662" is not a number'),
        ([7], "ticket_id [7] is not a number"),
    ],
)
def test_whole_ids_refuse_what_is_not_a_positive_integer(value: Any, detail: str) -> None:
    with pytest.raises(PayloadError) as info:
        whole_id(value, "ticket_id")
    assert detail in str(info.value)


def test_whole_ids_accept_numbers_and_digit_strings() -> None:
    assert whole_id(7, "id") == whole_id(" 007 ", "id") == "7"
    assert whole_id("9223372036854775807", "id") == "9223372036854775807"


@pytest.mark.parametrize("value", [True, 1.5, -3, {"id": 1}, [1]])
def test_optional_ids_refuse_the_wrong_type(value: Any) -> None:
    with pytest.raises(PayloadError, match=r"current_user_id .* is not an id"):
        optional_id(value, "current_user_id")


def test_optional_ids_keep_unknown_as_none() -> None:
    assert optional_id(None, "x") is None
    assert optional_id("  ", "x") is None
    assert optional_id(" 5 ", "x") == "5"
    assert optional_id(0, "x") == "0"


# ------------------------------------------------------------------------- zammad fields


@pytest.mark.parametrize("value", ["-1", "true", "1.5"])
def test_zammad_article_ids_that_are_not_a_list_are_400(value: str) -> None:
    raw = b'{"ticket": {"id": 19, "article_ids": %s}, "article": {"id": 32}}' % value.encode()
    detail = refused(zammad().parse_webhook, raw)
    assert detail == f"ticket.article_ids {value} is not a list of ids"


@pytest.mark.parametrize(
    ("ticket", "article", "detail"),
    [
        ({"article_ids": [31, True]}, {"id": 32}, "ticket.article_ids[1] true is not a number"),
        ({"article_ids": [31, -2]}, {"id": 32}, "ticket.article_ids[1] -2 is out of range"),
        ({"article_ids": [31, 1.5]}, {"id": 32}, "ticket.article_ids[1] 1.5 is not an integer"),
        ({"article_count": True}, {}, "ticket.article_count true is not a count"),
        ({"article_count": -1}, {}, "ticket.article_count -1 is not a count"),
        ({}, {"id": [32]}, "article.id [32] is not a number"),
        ({}, {"id": 32, "internal": "false"}, 'article.internal "false" is not true or false'),
        ({}, {"id": 32, "created_by_id": 1.5}, "article.created_by_id 1.5 is not an id"),
        ({"updated_by": {"id": True}}, {}, "ticket.updated_by.id true is not an id"),
    ],
)
def test_zammad_fields_of_the_wrong_type_are_named(
    ticket: dict[str, Any], article: dict[str, Any], detail: str
) -> None:
    raw = json.dumps({"ticket": {"id": 19, **ticket}, "article": article}).encode()
    assert detail in refused(zammad().parse_webhook, raw)


def test_zammad_article_count_true_is_not_one() -> None:
    """`True == 1` in Python: a boolean count used to classify a ticket as just created."""
    raw = json.dumps({"ticket": {"id": 19, "article_count": True}, "article": {"id": 5}})
    assert "article_count" in refused(zammad().parse_webhook, raw.encode())


# ------------------------------------------------------------------------ zendesk fields


def comment_event(comment: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "type": "zen:event-type:ticket.comment_added",
            "detail": {"id": "7"},
            "event": {"comment": comment},
        }
    ).encode()


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b'{"ticket_id": true}', "ticket_id true is not a number"),
        (b'{"ticket_id": 1.5}', "ticket_id 1.5 is not an integer"),
        (b'{"ticket_id": -7}', "ticket_id -7 is out of range"),
        (b'{"ticket": {"id": false}}', "ticket.id false is not a number"),
        (b'{"ticket_id": 7, "current_user_id": true}', "current_user_id true is not an id"),
        (b'{"ticket_id": 7, "actor_id": -1}', "actor_id -1 is not an id"),
        (
            b'{"type": "zen:event-type:ticket.created", "subject": "zen:ticket:-3"}',
            'subject "-3" is not a number',
        ),
        (comment_event({"id": {"a": 1}}), 'event.comment.id {"a": 1} is not a number'),
        (
            comment_event({"id": 1, "is_public": "no"}),
            'event.comment.is_public "no" is not true or false',
        ),
        (
            comment_event({"id": 1, "author": {"id": 2.5}}),
            "event.comment.author.id 2.5 is not an id",
        ),
    ],
)
def test_zendesk_fields_of_the_wrong_type_are_named(raw: bytes, detail: str) -> None:
    assert detail in refused(zendesk().parse_webhook, raw)


def test_zendesk_comment_visibility_is_read_as_given() -> None:
    [event] = zendesk().parse_webhook({}, comment_event({"id": "9", "is_public": False}))
    assert event.data["is_public"] is False
    assert event.data["comment_id"] == "9"
