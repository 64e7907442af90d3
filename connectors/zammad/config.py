"""What a Zammad system block may say: its `auth` and its `options` (checked at config load)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bridge.option_fields import CommonOptions, name_field, secret_field


class ZammadAuth(Schema):
    """A personal access token (`Token token=...`) or an OAuth2 token (client.auth_headers)."""

    token = secret_field()
    oauth_token = secret_field()

    @validates_schema
    def _one_way_in(self, data: dict[str, Any], **_: Any) -> None:
        if not ("token" in data or "oauth_token" in data):
            raise ValidationError(
                "zammad needs auth.token (an access token of the bridge user) or auth.oauth_token"
            )


def _user_ref(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ValidationError("give the e-mail or the id of a user")


class ZammadOptions(CommonOptions):
    # connectors.zammad.connector
    external_id_field = name_field()  # the ticket attribute holding the other side's reference
    customer = fields.Raw(validate=_user_ref)  # e-mail or id of the customer user
    group = name_field()
    pending_hours = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
