"""The connector contract (tests/contract/live_suite.py) against a live Redmine 5."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.models import TicketDraft
from bridge.protocol import SystemSettings
from connectors.redmine import RedmineConnector
from connectors.redmine.client import REST
from tests.contract.live_suite import *  # noqa: F403 - the suite's tests run here
from tests.contract.live_suite import LiveCase
from tests.redmine.live import LiveRedmine, free_port


class RedmineLive(LiveCase):
    name = "redmine"

    def __init__(self, server: LiveRedmine) -> None:
        self.server = server

    def connector_with(self, *, url: str | None = None, credentials: str | None = None) -> Any:
        settings = SystemSettings(
            name="vendor",
            type="redmine",
            url=url or self.server.url,
            auth={"api_key": credentials or self.server.key("bridge")},
            bridge_user=self.server.user_id("bridge"),
            options={"project": self.server.project, "tracker": "Bug"},
        )
        return RedmineConnector(settings, REST.client(settings, attempts=1, wait_max=0))

    def connector(self) -> Any:
        return self.connector_with()

    def draft(self, source_url: str) -> TicketDraft:
        return TicketDraft(
            subject="Export crashes",
            description=f"Open invoice 0\n\nHelpdesk ticket: {source_url}",
            priority="high",
        )

    @property
    def status(self) -> str:
        return "in progress"

    def comment_as_someone_else(self, ticket_id: str, text: str) -> None:
        self.server.api("dana", "PUT", f"issues/{ticket_id}.json", json={"issue": {"notes": text}})

    def file_as_someone_else(self, ticket_id: str, filename: str, content: bytes) -> None:
        token = self.server.api(
            "dana",
            "POST",
            "uploads.json",
            params={"filename": filename},
            data=content,
            headers={"Content-Type": "application/octet-stream"},
        ).json()["upload"]["token"]
        upload = {"token": token, "filename": filename, "content_type": "text/plain"}
        body = {"issue": {"notes": f"see {filename}", "uploads": [upload]}}
        self.server.api("dana", "PUT", f"issues/{ticket_id}.json", json=body)

    def closed_port_url(self) -> str:
        return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def live(redmine: LiveRedmine) -> LiveCase:
    return RedmineLive(redmine)
