"""What every connector's online check (`<vendor>/check.py`) reads of the connector it checks.

The connector calls its check with itself; the check names the members it reads as a protocol,
so it sits below the connector instead of importing the connector's class back.
"""

from __future__ import annotations

from typing import Protocol

from bridge.protocol import Identity, SystemSettings
from connectors.http import HttpClient


class Checked(Protocol):
    """The members every vendor's check reads: the HTTP client, the settings, the identity."""

    @property
    def http(self) -> HttpClient: ...

    @property
    def settings(self) -> SystemSettings: ...

    def whoami(self) -> Identity: ...
