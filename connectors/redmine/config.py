"""What a Redmine system block may say: its `auth` and its `options` (checked at config load)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields, validate

from bridge.option_fields import AuthSchema, CommonOptions, WholeNumber, name_field, secret_field


class RedmineAuth(AuthSchema):
    """The bridge user's API key (My account > API access key), sent as X-Redmine-API-Key."""

    api_key = secret_field()

    ways_in = (("api_key",),)
    needs = "redmine needs auth.api_key (the API key of the bridge user)"


class _FieldId(fields.Field):
    """A custom field id: Redmine writes custom fields by id only (names are per language)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit():
            raise ValidationError(
                f"give the id of a Redmine custom field (a number), got {value!r}"
            )
        return text


class _Projects(fields.Field):
    """Projects to poll: ids or identifiers, one or a list."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[str]:
        items = value if isinstance(value, list | tuple) else [value]
        found = [str(item).strip() for item in items if not isinstance(item, bool)]
        if len(found) != len(items) or not all(found):
            raise ValidationError("list Redmine project ids or identifiers")
        return found


class RedmineOptions(CommonOptions):
    # connectors.redmine.connector
    project = name_field()  # id, identifier or name, when the route's mapping names none
    tracker = name_field()  # Bug, Feature, Support...: when the mapping's category is not set
    external_id_field = _FieldId()  # the custom field holding the helpdesk reference
    projects = _Projects()  # projects polled (default: every project the user sees)
    poll_page_size = WholeNumber(validate=validate.Range(min=1, max=100))  # Redmine's max: 100
