"""What a Zammad system block may say: its `auth` and its `options` (checked at config load)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from bridge.option_fields import AuthSchema, CommonOptions, name_field, secret_field


class ZammadAuth(AuthSchema):
    """A personal access token (`Token token=...`) or an OAuth2 token (client.credentials)."""

    token = secret_field()
    oauth_token = secret_field()

    ways_in = (("token",), ("oauth_token",))
    needs = "zammad needs auth.token (an access token of the bridge user) or auth.oauth_token"


def _user_ref(value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
        raise ValidationError("give the e-mail or the id of a user")


class ZammadOptions(CommonOptions):
    # connectors.zammad.connector
    external_id_field = name_field()  # the ticket attribute holding the other side's reference
    customer = fields.Raw(validate=_user_ref)  # e-mail or id of the customer user
    group = name_field()
    pending_hours = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
