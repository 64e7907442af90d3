"""The registry: connector types come from the `ticket_bridge.connectors` entry points, and
everything else (config validation, titles, statuses, demo routes) asks it."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import pytest
from marshmallow import Schema, fields

from bridge import registry
from bridge.config import load_config
from bridge.errors import ConfigError
from bridge.findings import Finding, Usage
from bridge.models import Comment, Event, NewComment, SystemRef, Ticket, TicketChanges, TicketDraft
from bridge.option_fields import CommonOptions
from bridge.protocol import (
    Capability,
    Connector,
    Hook,
    Hooks,
    Identity,
    Limits,
    SideStatuses,
    SystemSettings,
)
from bridge.registry import GROUP, Registry
from bridge.sandbox.catalog import routes
from bridge.texts import system_title

BUILT_IN = {"zendesk", "mantis", "zammad"}


class AcmeAuth(Schema):
    key = fields.String(required=True)


class AcmeOptions(CommonOptions):
    queue = fields.String()


class AcmeConnector:
    """A third party's connector, as its own package would ship it."""

    kind = "acme"
    title = "Acme Desk"
    capabilities = frozenset({Capability.POLLING})
    auth_schema = AcmeAuth
    options_schema = AcmeOptions
    limits = Limits(max_attachment_bytes=1024)
    statuses = SideStatuses(("open", "done"), frozenset(), None, None, None)
    hooks = frozenset({Hook.BEFORE_REQUEST})
    sandbox = None

    def __init__(self, settings: SystemSettings, *, hooks: Hooks | None = None) -> None:
        self.settings = settings
        self.given = hooks

    @property
    def max_attachment_bytes(self) -> int:
        return self.limits.max_attachment_bytes

    def whoami(self) -> Identity:
        return Identity("1", "acme bridge")

    def check_usage(self, usage: Usage, enums_only: bool = False) -> list[Finding]:
        return []

    def verify_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> None:
        return None

    def parse_webhook(self, headers: Mapping[str, str], raw_body: bytes) -> list[Event]:
        return []

    def get_ticket(self, ticket_id: str) -> Ticket:
        return Ticket(SystemRef(self.settings.name, ticket_id), "subject")

    def create_ticket(self, draft: TicketDraft) -> Ticket:
        return self.get_ticket("1")

    def update_ticket(self, ticket_id: str, changes: TicketChanges) -> Ticket:
        return self.get_ticket(ticket_id)

    def add_comment(self, ticket_id: str, comment: NewComment) -> str:
        return "1"

    def list_comments(self, ticket_id: str, since: datetime | None = None) -> list[Comment]:
        return []

    def recent_comments(self, ticket_id: str) -> Iterator[Comment]:
        return iter(())

    def stored_text(self, text: str) -> str:
        return text

    def ticket_url(self, ticket_id: str) -> str:
        return f"{self.settings.url}/{ticket_id}"

    def changes_since(self, since: datetime) -> list[Event]:
        return []


class Incomplete:
    kind = "half"
    title = "Half"


def point(name: str, target: str) -> EntryPoint:
    return EntryPoint(name=name, value=target, group=GROUP)


INSTALLED = [point(ep.name, ep.value) for ep in registry.entry_points(group=GROUP)]


def acme_registry() -> Registry:
    """The installed connectors plus a third party's."""
    return Registry([*INSTALLED, point("acme", f"{__name__}:AcmeConnector")])


def test_the_built_ins_are_registered_as_entry_points() -> None:
    assert set(registry.kinds()) >= BUILT_IN
    for kind in BUILT_IN:
        cls = registry.connector_class(kind)
        assert cls.kind == kind
        assert cls.__module__.startswith(f"connectors.{kind}.")


def test_every_registered_class_describes_itself() -> None:
    for kind in registry.kinds():
        cls = registry.connector_class(kind)
        assert cls.title and cls.limits.max_attachment_bytes > 0
        assert issubclass(cls.options_schema, CommonOptions), kind
        assert issubclass(cls.auth_schema, Schema), kind
        assert all(isinstance(c, Capability) for c in cls.capabilities)


def test_a_third_party_connector_is_found_built_and_given_its_hooks() -> None:
    found = acme_registry()
    assert "acme" in found.kinds()
    settings = SystemSettings("desk", "acme", "https://acme.example", {"key": "k"})
    connector = found.build(settings)
    assert isinstance(connector, Connector)
    assert isinstance(connector, AcmeConnector) and connector.given == Hooks()
    assert connector.whoami() == Identity("1", "acme bridge")


def test_config_validation_titles_and_statuses_follow_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_acme = acme_registry()
    monkeypatch.setattr(registry, "registry", lambda: with_acme)
    path = tmp_path / "bridge.yaml"
    config = """\
systems:
  desk:
    type: acme
    url: https://acme.example
    auth: AUTH
    bridge_user: "1"
    options: {queue: first}
  vendor:
    type: mantis
    url: https://mantis.example
    auth: {token: t}
    bridge_user: "7"
routes:
  - {name: r, from: desk, to: vendor, mapping: zendesk-mantis}
"""
    with pytest.raises(ConfigError, match=r"line 5: systems\.desk\.auth: Missing data"):
        path.write_text(config.replace("AUTH", "{}"))
        load_config(path, env={})
    with pytest.raises(ConfigError, match=r"systems\.desk\.auth\.token: unknown auth key"):
        path.write_text(config.replace("AUTH", "{key: k, token: t}"))
        load_config(path, env={})
    path.write_text(config.replace("AUTH", "{key: k}"))
    with pytest.raises(ConfigError, match=r"'solved' is not a Acme Desk status"):
        load_config(path, env={})  # the Zendesk mapping's statuses are not Acme's fixed ones
    settings = SystemSettings("desk", "acme", "https://acme.example")
    assert system_title(settings) == "Acme Desk"
    assert registry.statuses_of("acme") == AcmeConnector.statuses


def test_two_packages_registering_one_type_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="more than one connector registers the same type"):
        Registry([point("acme", f"{__name__}:AcmeConnector"), point("acme", "other:Thing")])


@pytest.mark.parametrize(
    ("target", "needle"),
    [
        (f"{__name__}:Incomplete", "does not declare: capabilities"),
        (f"{__name__}:point", "is not a class"),
        ("no_such_module:Thing", "cannot load no_such_module:Thing"),
    ],
)
def test_a_broken_registration_says_what_is_wrong(target: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Registry([point("half", target)]).connector_class("half")


def test_an_unknown_type_names_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"no connector for type 'jira' \(known: mantis, "):
        registry.connector_class("jira")


def test_a_request_budget_needs_the_hook() -> None:
    class NoHooks(AcmeConnector):
        hooks: frozenset[Hook] = frozenset()

    found = Registry([point("acme", f"{__name__}:AcmeConnector")])
    found._classes["acme"] = NoHooks
    budget = {"requests_per_minute": 5}
    settings = SystemSettings("desk", "acme", "https://a.example", options=budget)
    redis: Any = object()  # never reached: the missing hook is found first
    with pytest.raises(ConfigError, match="needs a connector that takes the before_request hook"):
        found.build(settings, redis)


def test_demo_routes_are_the_shipped_mappings_between_sandboxed_types() -> None:
    found = routes()
    assert next(iter(found)) == "zendesk-mantis"
    assert set(found) == {"zendesk-mantis", "zammad-mantis", "zendesk-zammad", "zammad-zendesk"}
    for name, (first, second) in found.items():
        assert name == f"{first}-{second}"
        assert registry.connector_class(first).sandbox and registry.connector_class(second).sandbox
