"""Zammad connector: REST API v1 client, ticket/article mapping and trigger webhook handling."""

from connectors.zammad.connector import ZammadConnector

__all__ = ["ZammadConnector"]
