"""Redmine connector: REST API (JSON, X-Redmine-API-Key), issues and journals, polled."""

from connectors.redmine.connector import RedmineConnector

__all__ = ["RedmineConnector"]
