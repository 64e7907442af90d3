"""Route mapping files (mappings/*.yaml): data, not code.

A mapping says where each required datum lives in the first-level ticket, what makes a request
technical, how priorities translate, where the escalated issue goes, and the texts the bridge
writes (per language). Loaded and validated once at start-up.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bridge.yamlfile import interpolate_env, load_located, validation_error

REQUIRED_FIELDS = (
    "customer_number",
    "domain",
    "contact",
    "error_description",
    "may_contact_customer",
)
KINDS = ("text", "domain", "email", "email_or_user", "yes_no")
LANGUAGES = ("de", "en")
MESSAGE_KEYS = ("missing_data", "link_note", "description", "summary")
SOURCE = re.compile(
    r"^(subject|description|requester_email|requester_name|type|priority|status|external_id"
    r"|tags|field:[^\s]+|tag_prefix:[^\s]+)$"
)
SOURCE_ERROR = (
    "unknown source; use subject, description, requester_email, requester_name, type, "
    "priority, status, external_id, tags, field:<custom field id>, or tag_prefix:<prefix>"
)


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
    public = fields.Boolean(load_default=False)
    status = fields.String(load_default="pending", allow_none=True)


VISIBILITY = ("public", "internal", "skip")


class CommentFlowSchema(Schema):
    """Where a comment of each visibility goes on the other side (or `skip`)."""

    public = fields.String(load_default="public", validate=validate.OneOf(VISIBILITY))
    internal = fields.String(load_default="internal", validate=validate.OneOf(VISIBILITY))


class DirectionMapsSchema(Schema):
    to_second = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    to_first = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)


class SyncSchema(Schema):
    comments_to_second = fields.Nested(
        CommentFlowSchema, load_default=lambda: {"public": "public", "internal": "internal"}
    )
    comments_to_first = fields.Nested(
        CommentFlowSchema, load_default=lambda: {"public": "public", "internal": "skip"}
    )
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
        MissingDataSchema, load_default=lambda: {"public": False, "status": "pending"}
    )
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


@dataclass(frozen=True)
class SyncRules:
    """Two-way sync after escalation. Maps are keyed by the source side's lower-case names."""

    comments_to_second: Mapping[str, str] = field(
        default_factory=lambda: {"public": "public", "internal": "internal"}
    )
    comments_to_first: Mapping[str, str] = field(
        default_factory=lambda: {"public": "public", "internal": "skip"}
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


def load_mapping(path: Path, env: Mapping[str, str] | None = None) -> RouteMapping:
    """Load and validate a mapping file; errors name the file, line and field."""
    doc = load_located(path)
    data = interpolate_env(doc, env)
    try:
        m = MappingSchema().load(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        raise validation_error(doc, exc.messages) from exc
    required = {
        name: RequiredField(
            name=name,
            sources=tuple(spec["from_"]),
            kind=spec["kind"],
            pattern=spec["pattern"],
            min_length=spec["min_length"],
            yes=tuple(v.lower() for v in spec["yes_values"]),
            no=tuple(v.lower() for v in spec["no_values"]),
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
        messages={lang: Messages(**msgs) for lang, msgs in m["messages"].items()},
        sync=SyncRules(
            comments_to_second=m["sync"]["comments_to_second"],
            comments_to_first=m["sync"]["comments_to_first"],
            status_to_second=_lower_keys(m["sync"]["status"]["to_second"]),
            status_to_first=_lower_keys(m["sync"]["status"]["to_first"]),
            priority_to_second=_lower_keys(m["sync"]["priority"]["to_second"]),
            priority_to_first=_lower_keys(m["sync"]["priority"]["to_first"]),
        ),
    )


def _lower_keys(values: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in values.items()}
