"""MantisBT connector: polled (no webhooks), token auth, notes as comments."""

from connectors.mantis.connector import MantisConnector

__all__ = ["MantisConnector"]
