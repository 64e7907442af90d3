"""Vendor connectors. Only code in here knows a vendor's JSON, headers and quirks."""
