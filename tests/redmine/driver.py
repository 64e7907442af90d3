"""The stack's second-level driver for a live Redmine (bridge.sandbox.drivers' verbs).

The vendor's developer (Dana, stock Developer role) acts through Redmine's REST API; reads go
through the admin's key, so private notes are seen too. Only issues created after `seed()` are
this stack's: the session's Redmine is shared with the other tests in this folder.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bridge.sandbox.drivers import SECOND, Driver
from bridge.sandbox.stack import Stack
from tests.redmine.live import LiveRedmine


class RedmineDriver(Driver):
    kind = "redmine"
    title = "Redmine"
    polled = True
    ask_status = "feedback"
    target = ("Bridge Test", "Support")  # the shipped zendesk-redmine mapping's
    priorities: Mapping[str, str] = {"low": "low", "normal": "normal", "high": "high"}

    def __init__(self, server: LiveRedmine, system: str = "vendor") -> None:
        super().__init__(system, SECOND)
        self.server = server
        self.url = server.url  # a running system: the stack serves no sandbox for it
        self.developer = 0
        self.first_issue = 0

    @property
    def sandbox(self) -> Any:
        raise NotImplementedError("a live Redmine is not served by the stack")

    def seed(self) -> None:
        self.bridge = int(self.server.user_id("bridge"))
        self.developer = int(self.server.user_id("dana"))
        latest = {"status_id": "*", "sort": "id:desc", "limit": 1}
        issues = self.server.api("admin", "GET", "issues.json", params=latest).json()["issues"]
        self.first_issue = int(issues[0]["id"]) + 1 if issues else 1

    def system_config(self, secret: str) -> dict[str, Any]:
        return {
            "type": "redmine",
            "url": self.url,
            "auth": {"api_key": self.server.key("bridge")},
            "bridge_user": str(self.bridge),
            "options": {"external_id_field": self.server.field("Helpdesk-Ticket")},
        }

    def configure_webhook(self, bridge_url: str, secret: str, style: str = "trigger") -> None:
        return None  # Redmine has no webhooks: the stack polls it

    def _issue(self, ticket_id: int) -> dict[str, Any]:
        data: dict[str, Any] = self.server.api(
            "admin", "GET", f"issues/{ticket_id}.json", params={"include": "journals"}
        ).json()["issue"]
        return data

    def _as_developer(self, ticket_id: int, **changes: Any) -> None:
        self.server.api("dana", "PUT", f"issues/{ticket_id}.json", json={"issue": changes})

    def comment(self, ticket_id: int, text: str, public: bool = True) -> None:
        self._as_developer(ticket_id, notes=text, private_notes=not public)

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        return [
            {"id": j["id"], "body": j["notes"], "public": not j["private_notes"],
             "author_id": j["user"]["id"]}
            for j in self._issue(ticket_id).get("journals", [])
            if j.get("notes")
        ]  # fmt: skip

    def status(self, ticket_id: int) -> str:
        return str(self._issue(ticket_id)["status"]["name"]).lower()

    def set_status(self, ticket_id: int, status: str) -> None:
        statuses = self.server.api("admin", "GET", "issue_statuses.json").json()["issue_statuses"]
        (wanted,) = [s["id"] for s in statuses if s["name"].lower() == status.lower()]
        self._as_developer(ticket_id, status_id=wanted)

    def priority(self, ticket_id: int) -> str:
        return str(self._issue(ticket_id)["priority"]["name"]).lower()

    def ticket_url(self, ticket_id: int) -> str:
        return f"{self.url}/issues/{ticket_id}"

    def issues(self) -> list[dict[str, Any]]:
        listed = self.server.api(
            "admin", "GET", "issues.json",
            params={"status_id": "*", "author_id": self.bridge, "sort": "id", "limit": 100},
        ).json()["issues"]  # fmt: skip
        found = []
        for issue in listed:
            if int(issue["id"]) < self.first_issue:
                continue
            fields = {str(f["id"]): f.get("value") for f in issue.get("custom_fields", [])}
            found.append(
                {"id": issue["id"], "subject": issue["subject"],
                 "description": issue.get("description") or "",
                 "priority": str(issue["priority"]["name"]).lower(),
                 "project": issue["project"]["name"], "category": issue["tracker"]["name"],
                 "customer_number": fields.get(self.server.field("Kundennummer")),
                 "domain": fields.get(self.server.field("Domain"))}
            )  # fmt: skip
        return found


@contextmanager
def live_stack(tmp_path: Path, redis_url: str, server: LiveRedmine, route: str) -> Iterator[Stack]:
    """A stack of `route` (a shipped `<first>-redmine` mapping) whose second level is the live
    Redmine; a sandbox plays the first level."""
    with Stack(tmp_path, redis_url=redis_url, worker_process=False, route=route,
               second_level=RedmineDriver(server)) as s:  # fmt: skip
        assert s.catch_up()  # the first poll sets the high-water mark
        yield s
