"""Route mapping files (mappings/*.yaml): data, not code.

A mapping says where each required datum lives in the first-level ticket, what makes a request
technical, how priorities translate, where the escalated issue goes, and the texts the bridge
writes (per language). Loaded and validated once at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bridge.mapping_checks import check_mapping, resolve_statuses
from bridge.texts import LANGUAGES
from bridge.yamlfile import interpolate_env, load_located, validation_error

REQUIRED_FIELDS = (
    "customer_number",
    "domain",
    "contact",
    "error_description",
    "may_contact_customer",
)
KINDS = ("text", "domain", "email", "email_or_user", "yes_no")
SOURCE = re.compile(
    r"^(subject|description|requester_email|requester_name|type|priority|status|external_id"
    r"|tags|field:[^\s]+|tag_prefix:[^\s]+)$"
)
SOURCE_ERROR = (
    "unknown source; use subject, description, requester_email, requester_name, type, "
    "priority, status, external_id, tags, field:<custom field id>, or tag_prefix:<prefix>"
)


class Hint(fields.Field):
    """What a valid value looks like, in words: one text for every language or one per language
    (`{de: "4 bis 10 Ziffern", en: "4 to 10 digits"}`). A regular expression means nothing to
    the agent who has to fix the value."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Any, **kwargs: Any
    ) -> dict[str, str]:
        if isinstance(value, str):
            return dict.fromkeys(LANGUAGES, value)
        if isinstance(value, dict) and all(
            k in LANGUAGES and isinstance(v, str) for k, v in value.items()
        ):
            return {str(k): str(v) for k, v in value.items()}
        raise ValidationError(f"a text, or one text per language ({', '.join(LANGUAGES)})")


def _word() -> fields.String:
    return fields.String(
        error_messages={
            "invalid": "not a text; quote yes/no/on/off/true/false, YAML reads them as booleans"
        }
    )


class RequiredFieldSchema(Schema):
    from_ = fields.List(
        fields.String(validate=validate.Regexp(SOURCE, error=SOURCE_ERROR)),
        data_key="from",
        required=True,
        validate=validate.Length(min=1),
    )
    kind = fields.String(load_default="text", validate=validate.OneOf(KINDS))
    pattern = fields.String(load_default=None, allow_none=True)
    hint = Hint(load_default=dict)
    min_length = fields.Integer(load_default=1, validate=validate.Range(min=1))
    # Not `yes:`/`no:`: YAML 1.1 reads those keys as booleans.
    yes_values = fields.List(_word(), load_default=lambda: ["yes", "ja", "true", "1"])
    no_values = fields.List(_word(), load_default=lambda: ["no", "nein", "false", "0"])

    @validates_schema
    def _pattern_compiles(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("pattern"):
            try:
                re.compile(data["pattern"])
            except re.error as exc:
                raise ValidationError(f"not a valid regular expression: {exc}", "pattern") from exc


class ConditionSchema(Schema):
    source = fields.String(required=True, validate=validate.Regexp(SOURCE, error=SOURCE_ERROR))
    in_ = fields.List(fields.String(), data_key="in", load_default=None)
    contains = fields.String(load_default=None)

    @validates_schema
    def _one_test(self, data: dict[str, Any], **_: Any) -> None:
        if (data.get("in_") is None) == (data.get("contains") is None):
            raise ValidationError("give exactly one of `in` (list) or `contains` (value)")


class TechnicalSchema(Schema):
    any = fields.List(fields.Nested(ConditionSchema), load_default=list)
    none = fields.List(fields.Nested(ConditionSchema), load_default=list)


class PrioritySchema(Schema):
    map = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    default = fields.String(load_default="normal")


class ProjectBySchema(Schema):
    """Pick the target project from a required datum, e.g. one project per customer number."""

    field = fields.String(required=True, validate=validate.OneOf(REQUIRED_FIELDS))
    map = fields.Dict(keys=fields.String(), values=fields.String(), required=True)


class TargetSchema(Schema):
    project = fields.String(required=True)
    project_by = fields.Nested(ProjectBySchema, load_default=None, allow_none=True)
    category = fields.String(load_default=None, allow_none=True)
    custom_fields = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    tags = fields.List(fields.String(), load_default=list)


class LinkSchema(Schema):
    first_level_field = fields.String(
        load_default="external_id",
        validate=validate.Regexp(r"^(external_id|field:\S+)$", error="external_id or field:<id>"),
    )
    format = fields.String(load_default="{system}:{id}")


class MissingDataSchema(Schema):
    # An unset status is resolved by the first level's type (mapping_checks.resolve_statuses):
    # an internal note asks the agent, so the ticket is `open`, not waiting on the requester.
    public = fields.Boolean(load_default=False)
    status = fields.String(load_default=None, allow_none=True)


class Visibility(StrEnum):
    """A comment's visibility on one side, and where a copy of it goes on the other."""

    PUBLIC = "public"
    INTERNAL = "internal"
    SKIP = "skip"  # not copied at all


VISIBILITY = tuple(v.value for v in Visibility)
# Safe by default: what reaches the end customer, and what leaves the helpdesk's internal notes,
# is the route's explicit choice. A vendor's public note is for the agent first (an internal
# note), and the agent's internal notes stay on the helpdesk.
TO_SECOND_DEFAULT = {Visibility.PUBLIC: Visibility.PUBLIC, Visibility.INTERNAL: Visibility.SKIP}
TO_FIRST_DEFAULT = {Visibility.PUBLIC: Visibility.INTERNAL, Visibility.INTERNAL: Visibility.SKIP}


class CommentFlowSchema(Schema):
    """Where a comment of each visibility goes on the other side (or `skip`)."""

    public = fields.String(validate=validate.OneOf(VISIBILITY))
    internal = fields.String(validate=validate.OneOf(VISIBILITY))


class DirectionMapsSchema(Schema):
    to_second = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    to_first = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


class SyncSchema(Schema):
    comments_to_second = fields.Nested(CommentFlowSchema, load_default=dict)
    comments_to_first = fields.Nested(CommentFlowSchema, load_default=dict)
    status = fields.Nested(
        DirectionMapsSchema, load_default=lambda: {"to_second": {}, "to_first": {}}
    )
    priority = fields.Nested(
        DirectionMapsSchema, load_default=lambda: {"to_second": {}, "to_first": {}}
    )


class MessagesSchema(Schema):
    missing_data = fields.String(required=True)
    link_note = fields.String(required=True)
    description = fields.String(required=True)
    summary = fields.String(load_default="{subject}")
    comment_header = fields.String(load_default="{author} ({system}):")
    labels = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    # Notes to the agent (parked, delayed, recovered); unset keys: bridge.agent_notes defaults.
    agent_notes = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)

    @validates_schema
    def _labels_complete(self, data: dict[str, Any], **_: Any) -> None:
        missing = [f for f in REQUIRED_FIELDS if f not in data.get("labels", {})]
        if missing:
            raise ValidationError(f"labels missing for: {', '.join(missing)}", "labels")


class MappingSchema(Schema):
    required = fields.Dict(
        keys=fields.String(validate=validate.OneOf(REQUIRED_FIELDS)),
        values=fields.Nested(RequiredFieldSchema),
        required=True,
    )
    technical = fields.Nested(TechnicalSchema, required=True)
    priority = fields.Nested(PrioritySchema, required=True)
    target = fields.Nested(TargetSchema, required=True)
    link = fields.Nested(LinkSchema, load_default=lambda: LinkSchema().load({}))
    missing_data = fields.Nested(
        MissingDataSchema, load_default=lambda: {"public": False, "status": None}
    )
    # The first-level status once escalated (waiting on the vendor); unset: by the first level's
    # type (Zendesk `hold`, Zammad `open`); null leaves the status alone.
    escalated_status = fields.String(load_default=None, allow_none=True)
    sync = fields.Nested(SyncSchema, load_default=lambda: SyncSchema().load({}))
    messages = fields.Dict(
        keys=fields.String(validate=validate.OneOf(LANGUAGES)),
        values=fields.Nested(MessagesSchema),
        required=True,
    )

    @validates_schema
    def _all_required_present(self, data: dict[str, Any], **_: Any) -> None:
        missing = [f for f in REQUIRED_FIELDS if f not in data.get("required", {})]
        if missing:
            raise ValidationError(f"say where to find: {', '.join(missing)}", "required")


@dataclass(frozen=True)
class RequiredField:
    name: str
    sources: tuple[str, ...]
    kind: str = "text"
    pattern: str | None = None
    min_length: int = 1
    yes: tuple[str, ...] = ()
    no: tuple[str, ...] = ()
    hint: Mapping[str, str] = field(default_factory=dict)  # language -> what a valid value is


@dataclass(frozen=True)
class Condition:
    source: str
    in_: tuple[str, ...] | None = None
    contains: str | None = None


@dataclass(frozen=True)
class Messages:
    missing_data: str
    link_note: str
    description: str
    summary: str
    labels: Mapping[str, str]
    comment_header: str = "{author} ({system}):"
    agent_notes: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SyncRules:
    """Two-way sync after escalation. Maps are keyed by the source side's lower-case names."""

    comments_to_second: Mapping[Visibility, Visibility] = field(
        default_factory=lambda: dict(TO_SECOND_DEFAULT)
    )
    comments_to_first: Mapping[Visibility, Visibility] = field(
        default_factory=lambda: dict(TO_FIRST_DEFAULT)
    )
    status_to_second: Mapping[str, str] = field(default_factory=dict)
    status_to_first: Mapping[str, str] = field(default_factory=dict)
    priority_to_second: Mapping[str, str] = field(default_factory=dict)
    priority_to_first: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RouteMapping:
    path: Path
    required: Mapping[str, RequiredField]
    technical_any: tuple[Condition, ...]
    technical_none: tuple[Condition, ...]
    priority_map: Mapping[str, str]
    priority_default: str
    project: str
    category: str | None
    custom_fields: Mapping[str, str]
    tags: tuple[str, ...]
    link_field: str
    link_format: str
    missing_public: bool
    missing_status: str | None
    messages: Mapping[str, Messages] = field(default_factory=dict)
    escalated_status: str | None = None  # the first level's status while the vendor works
    sync: SyncRules = field(default_factory=SyncRules)
    project_by_field: str | None = None
    project_map: Mapping[str, str] = field(default_factory=dict)

    def texts(self, language: str) -> Messages:
        """The route's language, falling back to any shipped one."""
        return self.messages.get(language) or next(iter(self.messages.values()))


def _conditions(items: list[dict[str, Any]]) -> tuple[Condition, ...]:
    return tuple(
        Condition(
            c["source"], tuple(x.lower() for x in c["in_"]) if c["in_"] else None, c["contains"]
        )
        for c in items
    )


def _flow(
    given: Mapping[str, str], default: Mapping[Visibility, Visibility]
) -> dict[Visibility, Visibility]:
    return {**default, **{Visibility(k): Visibility(v) for k, v in given.items()}}


def load_mapping(
    path: Path,
    env: Mapping[str, str] | None = None,
    first_type: str | None = None,
    second_type: str | None = None,
) -> RouteMapping:
    """Load and validate a mapping file; errors name the file, line and field.

    With the route's system types, status names are checked against a system's fixed list
    (Zendesk's) and unset statuses get that system's defaults.
    """
    doc = load_located(path)
    data = interpolate_env(doc, env)
    try:
        m = MappingSchema().load(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        raise validation_error(doc, exc.messages) from exc
    resolve_statuses(m, data if isinstance(data, dict) else {}, first_type)
    check_mapping(doc, m, first_type, second_type, REQUIRED_FIELDS)
    required = {
        name: RequiredField(
            name=name,
            sources=tuple(spec["from_"]),
            kind=spec["kind"],
            pattern=spec["pattern"],
            min_length=spec["min_length"],
            yes=tuple(v.lower() for v in spec["yes_values"]),
            no=tuple(v.lower() for v in spec["no_values"]),
            hint=spec["hint"],
        )
        for name, spec in m["required"].items()
    }
    return RouteMapping(
        path=path,
        required=required,
        technical_any=_conditions(m["technical"]["any"]),
        technical_none=_conditions(m["technical"]["none"]),
        priority_map={k.lower(): v for k, v in m["priority"]["map"].items()},
        priority_default=m["priority"]["default"],
        project=m["target"]["project"],
        project_by_field=(m["target"]["project_by"] or {}).get("field"),
        project_map=(m["target"]["project_by"] or {}).get("map", {}),
        category=m["target"]["category"],
        custom_fields=m["target"]["custom_fields"],
        tags=tuple(m["target"]["tags"]),
        link_field=m["link"]["first_level_field"],
        link_format=m["link"]["format"],
        missing_public=m["missing_data"]["public"],
        missing_status=m["missing_data"]["status"],
        escalated_status=m["escalated_status"],
        messages={lang: Messages(**msgs) for lang, msgs in m["messages"].items()},
        sync=SyncRules(
            comments_to_second=_flow(m["sync"]["comments_to_second"], TO_SECOND_DEFAULT),
            comments_to_first=_flow(m["sync"]["comments_to_first"], TO_FIRST_DEFAULT),
            status_to_second=_lower_keys(m["sync"]["status"]["to_second"]),
            status_to_first=_lower_keys(m["sync"]["status"]["to_first"]),
            priority_to_second=_lower_keys(m["sync"]["priority"]["to_second"]),
            priority_to_first=_lower_keys(m["sync"]["priority"]["to_first"]),
        ),
    )


def _lower_keys(values: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in values.items()}
