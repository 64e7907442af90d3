"""The bridge's one config file: systems, routes, Redis, web and queue settings.

Validated with marshmallow at start-up; every problem is reported with the file, the line and
the key path, so a support lead can fix a typo without reading a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from bridge import registry
from bridge.durations import parse_duration
from bridge.errors import ConfigError
from bridge.mapping import RouteMapping, load_mapping
from bridge.protocol import SystemSettings
from bridge.retry import Backoff
from bridge.settings.alerts import AlertSettings, AlertsSchema, alert_settings
from bridge.settings.ops import OpsSchema, OpsSettings, ops_settings
from bridge.system_options import check_auth, load_options
from bridge.texts import LANGUAGES
from bridge.yamlfile import interpolate_env, load_located, validation_error

NAME = validate.Regexp(r"^[a-z0-9][a-z0-9_-]*$", error="use lower-case letters, digits, - and _")


class _RegisteredType(validate.Validator):
    """One of the registered connector types (bridge.registry), read when a config is loaded so
    a connector installed after this module was imported still counts."""

    def __call__(self, value: Any) -> Any:
        return validate.OneOf(registry.kinds())(value)


class SystemSchema(Schema):
    type = fields.String(required=True, validate=_RegisteredType())
    url = fields.Url(required=True, require_tld=False, schemes={"http", "https"})
    auth = fields.Dict(keys=fields.String(), values=fields.String(), load_default=dict)
    webhook_secret = fields.String(load_default=None, allow_none=True)
    bridge_user = fields.String(required=True)
    timeout = fields.Float(load_default=10.0, validate=validate.Range(min=0.5, max=120))
    options = fields.Dict(keys=fields.String(), load_default=dict)
    # How the bridge names the system in what it writes ("" = its type: "MantisBT"), and the
    # language of the team working on it where it differs from the route's (bridge.texts).
    display_name = fields.String(load_default="", validate=validate.Length(max=80))
    language = fields.String(load_default=None, allow_none=True, validate=validate.OneOf(LANGUAGES))

    @validates_schema(skip_on_field_errors=False)
    def _auth_for_type(self, data: dict[str, Any], **_: Any) -> None:
        """The credentials the type's connector needs (its auth_schema)."""
        if isinstance(data.get("auth"), dict) and data.get("type") in registry.kinds():
            try:
                check_auth(data["type"], data["auth"])
            except ValidationError as exc:
                raise ValidationError({"auth": exc.messages}) from exc

    @validates_schema(skip_on_field_errors=False)
    def _typed_options(self, data: dict[str, Any], **_: Any) -> None:
        """Every option of the system's type is known and well typed (its options_schema)."""
        if isinstance(data.get("options"), dict) and data.get("type") in registry.kinds():
            try:
                load_options(data["type"], data["options"])
            except ValidationError as exc:
                raise ValidationError({"options": exc.messages}) from exc


class RouteSchema(Schema):
    name = fields.String(required=True, validate=NAME)
    from_ = fields.String(required=True, data_key="from")
    to = fields.String(required=True)
    mapping = fields.String(required=True)
    language = fields.String(load_default="en", validate=validate.OneOf(LANGUAGES))


class WebSchema(Schema):
    host = fields.String(load_default="127.0.0.1")
    port = fields.Integer(load_default=8080, validate=validate.Range(min=1, max=65535))
    max_body_bytes = fields.Integer(load_default=1_048_576, validate=validate.Range(min=1024))


class Duration(fields.Field):
    """Seconds, given as a number or with a unit (90s, 15m, 24h, 2d)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValidationError(f"{value!r} is not a duration: {exc}") from exc


_BACKOFF = Backoff()


class RetrySchema(Schema):
    """`queue.retry`: capped exponential backoff with jitter over a horizon (bridge.retry)."""

    base = Duration(load_default=_BACKOFF.base)
    cap = Duration(load_default=_BACKOFF.cap)
    horizon = Duration(load_default=_BACKOFF.horizon)
    jitter = fields.Float(load_default=_BACKOFF.jitter)

    @validates_schema
    def _workable(self, data: dict[str, Any], **_: Any) -> None:
        problem = Backoff(**data).problem()
        if problem is not None:
            raise ValidationError(problem[1], problem[0])


class QueueSchema(Schema):
    name = fields.String(load_default="bridge", validate=NAME)
    job_timeout = fields.Integer(load_default=120, validate=validate.Range(min=1))
    # A fixed list of waits (the older setting) replaces the backoff when given.
    retry_intervals = fields.List(
        fields.Integer(validate=validate.Range(min=1)),
        load_default=list,
        validate=validate.Length(max=500),
    )
    retry = fields.Nested(RetrySchema, load_default=None)
    dedupe_ttl = fields.Integer(load_default=7 * 24 * 3600, validate=validate.Range(min=60))
    # A parked or delayed escalation or sync is told to the agent (bridge.agent_notes) after this.
    notify_agent_after = Duration(load_default=3600.0)

    @validates_schema
    def _one_schedule(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("retry_intervals") and data.get("retry") is not None:
            raise ValidationError(
                "give either retry (backoff over a horizon) or retry_intervals (a fixed list)",
                "retry",
            )


class ConfigSchema(Schema):
    redis_url = fields.String(load_default="", allow_none=True)
    data_dir = fields.String(load_default="./data")
    web = fields.Nested(WebSchema, load_default=lambda: WebSchema().load({}))
    queue = fields.Nested(QueueSchema, load_default=lambda: QueueSchema().load({}))
    systems = fields.Dict(
        keys=fields.String(validate=NAME),
        values=fields.Nested(SystemSchema),
        required=True,
        validate=validate.Length(min=1),
    )
    routes = fields.List(fields.Nested(RouteSchema), required=True, validate=validate.Length(min=1))
    ops = fields.Nested(OpsSchema, load_default=None, allow_none=True)  # console access
    alerts = fields.Nested(AlertsSchema, load_default=None, allow_none=True)  # notifications


@dataclass(frozen=True)
class Route:
    """First-level system -> second-level system with its mapping."""

    name: str
    first: str
    second: str
    mapping: RouteMapping
    language: str = "en"


@dataclass(frozen=True)
class Config:
    path: Path
    systems: Mapping[str, SystemSettings]
    routes: tuple[Route, ...]
    redis_url: str = ""
    data_dir: Path = Path("data")
    web_host: str = "127.0.0.1"
    web_port: int = 8080
    max_body_bytes: int = 1_048_576
    queue_name: str = "bridge"
    job_timeout: int = 120
    retry_intervals: tuple[int, ...] = ()  # a fixed schedule; empty: `retry` below
    retry: Backoff = _BACKOFF
    dedupe_ttl: int = 7 * 24 * 3600
    notify_agent_after: float = 3600.0  # seconds
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    ops: OpsSettings | None = None  # None = operator console disabled
    alerts: AlertSettings | None = None  # None = no notifications (bridge.ops.alerts)

    def routes_from(self, system: str) -> list[Route]:
        return [r for r in self.routes if r.first == system]

    def routes_to(self, system: str) -> list[Route]:
        return [r for r in self.routes if r.second == system]

    def route(self, name: str) -> Route:
        for r in self.routes:
            if r.name == name:
                return r
        raise ConfigError(f"no route named {name!r} in {self.path}")


def resolve_mapping_path(value: str, base: Path) -> Path:
    """A mapping path is relative to the config file; a bare name picks a shipped mapping."""
    candidate = Path(value)
    if not candidate.is_absolute():
        candidate = base / candidate
    if candidate.exists():
        return candidate
    shipped = resources.files("ticket_bridge_mappings") / Path(value).name
    if not shipped.name.endswith(".yaml"):
        shipped = resources.files("ticket_bridge_mappings") / f"{Path(value).name}.yaml"
    if shipped.is_file():
        return Path(str(shipped))
    return candidate


def load_config(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate the config file and every mapping it names."""
    doc = load_located(Path(path))
    data = interpolate_env(doc, env)
    try:
        loaded = ConfigSchema().load(data if isinstance(data, dict) else {})
    except ValidationError as exc:
        raise validation_error(doc, exc.messages) from exc
    if not isinstance(data, dict):
        raise doc.error((), "the config file must be a mapping with systems and routes")

    systems = {
        name: SystemSettings(
            name=name,
            type=s["type"],
            url=s["url"].rstrip("/"),
            auth=s["auth"],
            webhook_secret=s["webhook_secret"],
            bridge_user=s["bridge_user"],
            timeout=s["timeout"],
            options=load_options(s["type"], s["options"]),  # typed: durations in seconds
            display_name=s["display_name"],
            language=s["language"],
        )
        for name, s in loaded["systems"].items()
    }
    routes: list[Route] = []
    seen: set[str] = set()
    for i, r in enumerate(loaded["routes"]):
        for key, system in (("from", r["from_"]), ("to", r["to"])):
            if system not in systems:
                known = ", ".join(sorted(systems))
                raise doc.error(("routes", i, key), f"unknown system {system!r} (known: {known})")
        if r["from_"] == r["to"]:
            raise doc.error(("routes", i, "to"), "a route needs two different systems")
        if r["name"] in seen:
            raise doc.error(("routes", i, "name"), f"route name {r['name']!r} is used twice")
        seen.add(r["name"])
        mapping_path = resolve_mapping_path(r["mapping"], doc.path.parent)
        if not mapping_path.exists():
            raise doc.error(("routes", i, "mapping"), f"mapping file {mapping_path} does not exist")
        types = (systems[r["from_"]].type, systems[r["to"]].type)
        mapping = load_mapping(mapping_path, env, *types)  # statuses checked per system type
        routes.append(Route(r["name"], r["from_"], r["to"], mapping, r["language"]))

    data_dir = Path(loaded["data_dir"])
    if not data_dir.is_absolute():
        data_dir = doc.path.parent / data_dir
    return Config(
        path=doc.path,
        systems=systems,
        routes=tuple(routes),
        redis_url=loaded["redis_url"] or "",
        data_dir=data_dir,
        web_host=loaded["web"]["host"],
        web_port=loaded["web"]["port"],
        max_body_bytes=loaded["web"]["max_body_bytes"],
        queue_name=loaded["queue"]["name"],
        job_timeout=loaded["queue"]["job_timeout"],
        retry_intervals=tuple(loaded["queue"]["retry_intervals"]),
        retry=Backoff(**(loaded["queue"]["retry"] or {})),
        dedupe_ttl=loaded["queue"]["dedupe_ttl"],
        notify_agent_after=loaded["queue"]["notify_agent_after"],
        raw=data,
        ops=ops_settings(loaded.get("ops")),
        alerts=alert_settings(loaded.get("alerts")),
    )
