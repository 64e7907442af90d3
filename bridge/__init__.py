"""Ticket Bridge: first-level helpdesk <-> second-level tracker synchronisation."""

__version__ = "0.1.0"
