"""Shipped route mappings (installed as the ticket_bridge_mappings package)."""
