"""Property: no body or header set a sender can post makes POST /webhooks/<system> answer 5xx
or log a crash, signed or not.

Bodies are JSON text built from fragments (so they can hold what json.dumps never writes: deep
nesting, number literals of thousands of digits, NaN, lone surrogate escapes) in the shapes the
parsers read (Zendesk triggers and event subscriptions, Zammad trigger payloads) with odd values
and random extra fields, plus arbitrary bytes. Each goes to every endpoint of the sandbox
config, unsigned and correctly signed with that system's secret. Needs Redis: a signed body the
parsers accept is deduped and queued like a real delivery.

Deterministic (derandomized, no example database) and bounded, so it is a regular test.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis import Redis

from bridge.sandbox.signing import zammad_signature, zendesk_signature
from bridge.sandbox.stack import Stack
from bridge.web import create_app

# ---------------------------------------------------------------------- JSON text fragments

ODD_TIMES = [
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "2021-02-30T00:00:00Z",
    "2021-03-25T05:09:27.672717030Z",
    "2021-03-25T05:09:27+25:00",
    "March 25, 2021 05:09",
    "yesterday",
    "",
    "Z",
    "T",
]
NUMBERS = [
    "0", "-0", "1", "-1", "1.5", "-1.5", "1.0", "1e3", "1E-3", "1e-400",
    "9223372036854775807", "9223372036854775808", "18446744073709551616",
]  # fmt: skip
# What json.dumps never writes and the loader refuses (the first two are not JSON at all).
HOSTILE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", '"\\ud800"', '"a\\udfffb"']
ODD_STRINGS = ['"\\ud83d\\ude00"', '"\\u0000"', '"{{ticket.id}}"', '" 7 "', '"07"', '"-7"']


def text(value: Any) -> str:
    return json.dumps(value)


def obj(fields: dict[str, str]) -> str:
    return "{" + ",".join(f"{text(k)}:{v}" for k, v in fields.items()) + "}"


def nested(n: int, kind: str) -> str:
    return "[" * n + "]" * n if kind == "list" else '{"a":' * n + "1" + "}" * n


# Values the loader accepts, of every JSON type: wrong types for whatever field they land in.
scalar = st.one_of(
    st.sampled_from(["null", "true", "false", "{}", "[]"]),
    st.sampled_from(NUMBERS),
    st.integers(-(2**70), 2**70).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(text),
    st.text(max_size=20).map(text),
    st.sampled_from(ODD_TIMES).map(text),
    st.sampled_from(ODD_STRINGS),
    st.integers(1, 99_999).map(lambda n: text(str(n))),  # ids as custom payloads render them
)
# Values the loader must refuse with a 400: nesting around its bound and past Python's
# recursion limit (about 1,000 levels), numbers past the int-string limit, and the above.
hostile = st.one_of(
    st.sampled_from(HOSTILE),
    st.integers(4290, 4400).map(lambda n: "7" * n),
    st.builds(
        nested, st.sampled_from([63, 64, 65, 999, 1000, 3000]), st.sampled_from(["list", "object"])
    ),
)
json_text: st.SearchStrategy[str] = st.recursive(
    st.one_of(scalar, scalar, scalar, hostile),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda xs: "[" + ",".join(xs) + "]"),
        st.dictionaries(st.text(max_size=8), inner, max_size=4).map(obj),
    ),
    max_leaves=8,
)
# A field's odd value: most often a scalar of another type, else any fragment.
odd = st.one_of(scalar, scalar, json_text)
Path_ = tuple[str, ...]
# Weighted coins (hypothesis leans to the first choice when it simplifies).
PRESENT = st.sampled_from([True, True, True, False])
ODD = st.sampled_from([False] * 5 + [True])


@st.composite
def payload(
    draw: st.DrawFn, fields: dict[Path_, st.SearchStrategy[Any]], required: tuple[Path_, ...]
) -> bytes:
    """A payload of the real shape: every field plausible (optional ones mostly present), then
    each field or sub-object swapped for an odd fragment one time in six, plus noise fields.
    Mostly valid, so parsing gets past the first checks and reaches the odd field."""
    chosen = {
        path: draw(plausible.map(text))
        for path, plausible in fields.items()
        if path in required or draw(PRESENT)
    }
    containers = {path[:n] for path in chosen for n in range(1, len(path))}
    for path in sorted(set(chosen) | containers):
        if draw(ODD):
            chosen[path] = draw(odd)
    noise = draw(st.dictionaries(st.text(max_size=8), json_text, max_size=2))
    return render((), chosen, noise).encode()


def render(prefix: Path_, fragments: dict[Path_, str], noise: dict[str, str]) -> str:
    if prefix in fragments:  # a leaf, or a sub-object replaced by an odd fragment
        return fragments[prefix]
    keys = sorted(
        {p[len(prefix)] for p in fragments if len(p) > len(prefix) and p[: len(prefix)] == prefix}
    )
    return obj({**noise, **{k: render((*prefix, k), fragments, {}) for k in keys}})


an_id = st.one_of(st.integers(1, 10_000), st.integers(1, 10_000).map(str))
a_time = st.sampled_from(["2021-03-25T05:09:27Z", "2021-03-25T05:09:27.672Z", *ODD_TIMES])
a_name = st.sampled_from(["open", "SOLVED", "high", "2 normal", "new"])
EVENT_TYPES = ["created", "comment_added", "status_changed", "priority_changed", "tags_changed"]

zendesk_trigger = payload(
    {
        ("ticket_id",): an_id,
        ("id",): an_id,
        ("ticket", "id"): an_id,
        ("current_user_id",): an_id,
        ("actor_id",): an_id,
        ("event",): st.sampled_from(["ticket_created", "created", "Open"]),
        ("status",): a_name,
        ("priority",): a_name,
        ("updated_at",): a_time,
    },
    required=(("ticket_id",),),
)
zendesk_event = payload(
    {
        ("type",): st.sampled_from(EVENT_TYPES).map(lambda k: f"zen:event-type:ticket.{k}"),
        ("id",): st.uuids().map(str),
        ("time",): a_time,
        ("subject",): st.integers(1, 99).map(lambda n: f"zen:ticket:{n}"),
        ("detail", "id"): an_id,
        ("detail", "actor_id"): an_id,
        ("detail", "status"): a_name,
        ("detail", "priority"): a_name,
        ("event", "previous"): a_name,
        ("event", "current"): a_name,
        ("event", "comment", "id"): an_id,
        ("event", "comment", "is_public"): st.booleans(),
        ("event", "comment", "author", "id"): an_id,
    },
    required=(("type",), ("detail", "id")),
)
zammad_trigger = payload(
    {
        ("ticket", "id"): an_id,
        ("ticket", "article_ids"): st.lists(st.integers(1, 50), max_size=4),
        ("ticket", "article_count"): st.integers(0, 5),
        ("ticket", "created_at"): a_time,
        ("ticket", "updated_at"): a_time,
        ("ticket", "state"): a_name,
        ("ticket", "priority", "name"): a_name,
        ("ticket", "updated_by_id"): an_id,
        ("ticket", "updated_by", "id"): an_id,
        ("article", "id"): an_id,
        ("article", "internal"): st.booleans(),
        ("article", "origin_by_id"): an_id,
        ("article", "created_by_id"): an_id,
        ("article", "created_by", "id"): an_id,
    },
    required=(("ticket", "id"),),
)
anything = st.one_of(json_text.map(str.encode), st.binary(max_size=64))
BODIES: dict[str, st.SearchStrategy[bytes]] = {
    "zendesk": st.one_of(zendesk_trigger, zendesk_event, anything),
    "zammad": st.one_of(zammad_trigger, zammad_trigger, anything),
}
HEADERS = [
    "X-Zendesk-Webhook-Signature", "X-Zendesk-Webhook-Signature-Timestamp",
    "X-Zendesk-Webhook-Invocation-Id", "X-Hub-Signature", "X-Zammad-Delivery", "X-Zammad-Trigger",
]  # fmt: skip
header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255), max_size=40)

# ---------------------------------------------------------------------- the app under test


@pytest.fixture(params=[("zendesk-mantis", "zammad"), ("zammad-zendesk", None)], ids=str)
def stack(
    request: pytest.FixtureRequest, tmp_path: Path, redis: Redis, redis_url: str
) -> Iterator[Stack]:
    """Every webhook kind as first and as second level, and a system without webhooks."""
    route, extra = request.param
    with Stack(
        tmp_path, redis_url=redis_url, worker_process=False, route=route, extra_first_level=extra
    ) as s:
        yield s


def signed(kind: str, secret: str, raw: bytes, stamp: str) -> dict[str, str]:
    if kind == "zendesk":
        return {
            "X-Zendesk-Webhook-Signature-Timestamp": stamp,
            "X-Zendesk-Webhook-Signature": zendesk_signature(secret, stamp, raw),
        }
    if kind == "zammad":
        return {"X-Hub-Signature": zammad_signature(secret, raw)}
    return {}  # MantisBT has no webhooks: nothing to sign


def fresh_stamp() -> str:
    # The app's Zendesk connector checks the signature's age on the wall clock.
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_no_webhook_input_is_a_server_error(stack: Stack, caplog: pytest.LogCaptureFixture) -> None:
    client: FlaskClient = create_app(stack.config, stack.redis).test_client()
    systems = sorted(stack.config.systems.items())
    hooked = [n for n, (_, s) in enumerate(systems) if s.type in BODIES]
    caplog.set_level(logging.DEBUG)
    answered: set[int] = set()
    deliveries = itertools.count()

    @settings(
        max_examples=400,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        data=st.data(),
        # Mostly the systems with webhooks, sometimes the polled one or an unknown name.
        pick=st.sampled_from([*hooked, *hooked, *hooked, *range(len(systems) + 1)]),
        # Mostly signed, so bodies reach the parsers; the rest exercise the signature checks.
        signing=st.sampled_from(["valid"] * 6 + ["odd-timestamp", "none", "garbage"]),
        stamp=st.sampled_from(ODD_TIMES),
        garbage=st.dictionaries(st.sampled_from(HEADERS), header_text),
    )
    def post_one(
        data: st.DataObject,
        pick: int,
        signing: str,
        stamp: str,
        garbage: dict[str, str],
    ) -> None:
        name, kind = ("nowhere", "none") if pick == len(systems) else (
            systems[pick][0], systems[pick][1].type
        )  # fmt: skip
        raw = data.draw(BODIES.get(kind, anything), label="raw")
        secret = stack.secrets.get(name, "unknown")
        headers = {"Content-Type": "application/json"}
        if signing == "valid":
            headers |= signed(kind, secret, raw, fresh_stamp())
            # A new delivery id each time, so accepted bodies are queued, not deduped.
            delivery = f"fuzz-{next(deliveries)}"
            headers |= {"X-Zammad-Delivery": delivery, "X-Zendesk-Webhook-Invocation-Id": delivery}
        elif signing == "odd-timestamp":
            headers |= signed(kind, secret, raw, stamp)
        elif signing == "garbage":
            headers |= garbage
        before = len(caplog.records)
        answer = client.post(f"/webhooks/{name}", data=raw, headers=headers)
        answered.add(answer.status_code)
        assert answer.status_code < 500, (answer.status_code, answer.get_data()[:300])
        body = answer.get_json()
        assert isinstance(body, dict) and ("error" in body or "status" in body)
        new = caplog.records[before:]
        assert not [r for r in new if r.exc_info], [r.getMessage() for r in new]
        logged = "\n".join(r.getMessage() for r in new)
        assert "Traceback" not in logged and "unhandled error" not in logged

    post_one()
    # The property only means something if the generated requests reach every outcome:
    # refused signatures, refused payloads, unknown systems and accepted deliveries.
    assert {202, 400, 401, 404} <= answered, answered
