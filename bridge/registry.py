"""Connector registry keyed by system type.

The engine never imports connectors; the wiring layers (web, jobs, CLI) build them here from the
validated settings. Imports are lazy so a deployment only loads the vendors it configures.
"""

from __future__ import annotations

import importlib

from bridge.errors import ConfigError
from bridge.protocol import Connector, SystemSettings

CONNECTORS: dict[str, str] = {
    "zendesk": "connectors.zendesk:ZendeskConnector",
    "mantis": "connectors.mantis:MantisConnector",
    "zammad": "connectors.zammad:ZammadConnector",
}


def build_connector(settings: SystemSettings) -> Connector:
    target = CONNECTORS.get(settings.type)
    if target is None:
        raise ConfigError(f"system {settings.name}: no connector for type {settings.type!r}")
    module_name, _, class_name = target.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    connector: Connector = cls(settings)
    return connector
