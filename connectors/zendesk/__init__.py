"""Zendesk Support connector: REST API v2 client, ticket mapping and webhook handling."""

from connectors.zendesk.connector import ZendeskConnector

__all__ = ["ZendeskConnector"]
