"""Shared by the operator-console tests: an app with ops access, and a parked escalation."""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from bridge.sandbox.stack import CATEGORY, CUSTOMER_NUMBER, DOMAIN, MAY_CONTACT, Stack
from bridge.settings.ops import OpsSchema, ops_settings
from bridge.web import create_app

COMPLETE = {CUSTOMER_NUMBER: "40711", DOMAIN: "shop.example.com", MAY_CONTACT: "kontakt_ja",
            CATEGORY: "technik"}  # fmt: skip
DESCRIPTION = "The checkout answers error 500 for every order since the update."
OPS = {
    "token": "ops-token-0123456789abcdef",
    "username": "oncall",
    "password": "correct horse battery",
    "secret_key": "ops-session-key-fedcba9876543210",
}


def ops_app(stack: Stack, **ops: Any) -> Flask:
    """The stack's config plus an `ops` section (validated like a config file's), served from
    the stack's Redis. A key set to None is left out; `enabled=False` means no section."""
    enabled = ops.pop("enabled", True)
    section = {k: v for k, v in {**OPS, **ops}.items() if v is not None}
    settings = ops_settings(OpsSchema().load(section)) if enabled else None
    config = dataclasses.replace(stack.config, ops=settings)
    return create_app(config, stack.redis)


def bearer(token: str = OPS["token"]) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf_of(client: FlaskClient, path: str = "/ops/", **kw: Any) -> str:
    page = client.get(path, **kw).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page[:500]
    return match.group(1)


def park_an_escalation(stack: Stack) -> int:
    """A complete technical ticket whose MantisBT create is refused with 403: parked job."""
    stack.mantis.fail_next(1, status=403)
    tid = stack.zendesk.create_ticket_as(
        stack.zd_customer, "Checkout broken", DESCRIPTION, custom_fields=COMPLETE
    )["id"]
    assert stack.settle()
    return int(tid)
