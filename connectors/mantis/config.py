"""What a MantisBT system block may say: its `auth` and its `options` (checked at config load)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from bridge.option_fields import AuthSchema, CommonOptions, WholeNumber, name_field, secret_field


class MantisAuth(AuthSchema):
    """An API token of the bridge user (sent bare in `Authorization`, client.py)."""

    token = secret_field()

    ways_in = (("token",),)
    needs = "mantis needs auth.token (an API token of the bridge user)"


class _ProjectIds(fields.Field):
    """MantisBT project ids: one id or a list of them (names would need a lookup)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[int]:
        items = value if isinstance(value, list | tuple) else [value]
        ids = []
        for item in items:
            text = str(item).strip()
            if isinstance(item, bool) or not text.isdigit():
                raise ValidationError(f"list MantisBT project ids (numbers), got {item!r}")
            ids.append(int(text))
        return ids


class MantisOptions(CommonOptions):
    # connectors.mantis.connector
    external_id_field = name_field()  # a custom field holding the helpdesk reference
    projects = _ProjectIds()  # projects polled (default: every project the user sees)
    poll_history = fields.Boolean()
    poll_page_size = WholeNumber(validate=validate.Range(min=1, max=1000))
    project = name_field()  # fallbacks when the route's mapping names none
    category = name_field()
    severity = name_field()
