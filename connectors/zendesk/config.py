"""What a Zendesk system block may say: its `auth` and its `options` (checked at config load)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, validates_schema

from bridge.option_fields import CommonOptions, secret_field


class ZendeskAuth(Schema):
    """An API token (Basic `{email}/token`) or an OAuth access token (client.auth_for)."""

    email = secret_field()
    token = secret_field()
    oauth_token = secret_field()

    @validates_schema
    def _one_way_in(self, data: dict[str, Any], **_: Any) -> None:
        if not (("email" in data and "token" in data) or "oauth_token" in data):
            raise ValidationError("zendesk needs auth.email + auth.token, or auth.oauth_token")


class ZendeskOptions(CommonOptions):
    """Zendesk reads no options of its own."""
