"""One small driver per sandbox, with the same verbs whichever side of a route it plays.

Tests and `bridge demo` talk to "the first level" and "the second level" through these, so one
story runs on every route: a driver seeds its sandbox for its role (users, custom fields or
attributes, projects or groups), writes its system block for the config, wires the webhook and
acts as the people on that side (customer and agent on the first level, a vendor developer on
the second). Reads go to the sandbox's own state, never through the bridge.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import requests

from bridge.sandbox.mantis import MantisSandbox
from bridge.sandbox.signing import zendesk_signature
from bridge.sandbox.zendesk import ZendeskSandbox

# Custom field ids of the sandbox Zendesk, matching mappings/zendesk-*.yaml (first level) ...
CUSTOMER_NUMBER, DOMAIN, CONTACT, MAY_CONTACT, CATEGORY = 360001, 360002, 360003, 360004, 360005
# ... and of a vendor's Zendesk, matching mappings/zammad-zendesk.yaml (second level).
VENDOR_CUSTOMER_NUMBER, VENDOR_DOMAIN, VENDOR_SOURCE = 360101, 360102, 360103

# The data a complete first-level ticket carries unless a test says otherwise.
DATA: Mapping[str, Any] = {
    "customer_number": "40711",
    "domain": "shop.kunde.example",
    "may_contact": True,
}
FIRST, SECOND = "first", "second"


class Driver:
    """The verbs every sandbox offers; first-level-only and second-level-only ones raise."""

    kind = ""
    title = ""  # how the vendor calls itself, for the demo's lines
    delivery_header = ""  # what identifies one webhook delivery (and its retries)
    polled = False  # True: no webhooks, changes are found by polling
    waiting_status = ""  # first level: where the bridge parks a ticket while data is missing
    ask_status = ""  # second level: "the vendor asks the customer something"
    priorities: Mapping[str, str] = {"low": "low", "normal": "normal", "high": "high"}
    # Second level: the project (or group) and category the shipped mappings send tickets to
    # here (None: the system has no such thing).
    target: tuple[str | None, str | None] = (None, None)

    def __init__(self, system: str, role: str) -> None:
        if role not in (FIRST, SECOND):
            raise ValueError(f"role must be {FIRST!r} or {SECOND!r}, not {role!r}")
        self.system = system
        self.role = role
        self.url = ""  # set once the sandbox is served
        self.bridge = 0  # the bridge's user id in this system
        self.hook_url = ""
        self.secret = ""

    # -- set-up (the stack calls these) ----------------------------------------------------
    @property
    def sandbox(self) -> Any:
        raise NotImplementedError

    def seed(self) -> None:
        raise NotImplementedError

    def system_config(self, secret: str) -> dict[str, Any]:
        raise NotImplementedError

    def configure_webhook(self, bridge_url: str, secret: str, style: str = "trigger") -> None:
        """Point the system's webhook at `/webhooks/<system>`, excluding the bridge's writes."""
        self.hook_url, self.secret = f"{bridge_url}/webhooks/{self.system}", secret

    def wait_for_deliveries(self, timeout: float) -> bool:
        return True

    def set_up_as_documented(self) -> None:
        """Give the bridge user what the README's set-up asks for (the demo runs that way;
        tests start from a stock install)."""
        return None

    def close(self) -> None:
        return None

    # -- acting ---------------------------------------------------------------------------
    def open_ticket(
        self,
        complete: bool,
        *,
        subject: str = "Checkout fails with error 500",
        description: str = "Since this morning every order in our shop ends with error 500.",
        technical: bool = True,
        priority: str | None = None,
        data: Mapping[str, Any] | None = None,
        by_bridge: bool = False,
    ) -> int:
        """A first-level ticket from the customer (or, `by_bridge`, one no trigger fires for).

        `complete` fills customer number, domain and consent (`data` overrides DATA); the
        contact is always the requester's e-mail. `priority` is low, normal or high.
        """
        raise NotImplementedError(f"{self.kind} plays no first level here")

    def complete_ticket(self, ticket_id: int, data: Mapping[str, Any] | None = None) -> None:
        """The first-level agent fills in the missing data."""
        raise NotImplementedError(f"{self.kind} plays no first level here")

    def deliver(self, ticket_id: int, delivery_id: str) -> requests.Response:
        """Post a signed webhook for the ticket as the system would, with this delivery id."""
        raise NotImplementedError(f"{self.kind} sends no webhooks")

    def replay(self, ticket_id: int) -> requests.Response:
        """Post the sandbox's own last webhook for the ticket again, same delivery id."""
        raise NotImplementedError(f"{self.kind} sends no webhooks")

    def comment(self, ticket_id: int, text: str, public: bool = True) -> None:
        """A comment by a person: the customer (public) or agent (internal) on the first
        level, the vendor developer on the second."""
        raise NotImplementedError

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        """Every comment, oldest first, as {id, body, public, author_id}."""
        raise NotImplementedError

    def bridge_comments(self, ticket_id: int) -> list[dict[str, Any]]:
        return [c for c in self.comments(ticket_id) if c["author_id"] == self.bridge]

    def status(self, ticket_id: int) -> str:
        raise NotImplementedError

    def set_status(self, ticket_id: int, status: str) -> None:
        """Change the status as the agent (first level) or developer (second level)."""
        raise NotImplementedError

    def priority(self, ticket_id: int) -> str:
        raise NotImplementedError

    def link_value(self, ticket_id: int) -> str | None:
        """Where the mapping writes the second-level reference into a first-level ticket."""
        raise NotImplementedError(f"{self.kind} plays no first level here")

    def ticket_url(self, ticket_id: int) -> str:
        raise NotImplementedError

    def issues(self) -> list[dict[str, Any]]:
        """Tickets the bridge created here, oldest first, as {id, subject, description,
        priority, project, category, customer_number, domain}."""
        raise NotImplementedError(f"{self.kind} plays no second level here")

    def find_issues(self, source_url: str) -> list[dict[str, Any]]:
        """Issues whose description links exactly to `source_url` (ticket 1 is not 10)."""
        return [i for i in self.issues() if source_url in i["description"].split()]


class ZendeskDriver(Driver):
    kind = "zendesk"
    title = "Zendesk"
    delivery_header = "X-Zendesk-Webhook-Invocation-Id"
    waiting_status = ask_status = "pending"

    def __init__(self, system: str, role: str) -> None:
        super().__init__(system, role)
        self.zendesk = ZendeskSandbox()
        self.agent = self.customer = 0

    @property
    def sandbox(self) -> ZendeskSandbox:
        return self.zendesk

    def seed(self) -> None:
        zd = self.zendesk
        if self.role == FIRST:
            self.bridge = zd.add_user("Ticket Bridge", "bridge@acme.example", "agent", "zd-token")
            self.agent = zd.add_user("Alex Agent", "alex@acme.example", "agent", "agent-token")
            self.customer = zd.add_user("Anna Kundin", "anna@kunde.example", "end-user")
            fields = {CUSTOMER_NUMBER: "Kundennummer", DOMAIN: "Domain", CONTACT: "Contact",
                      MAY_CONTACT: "May contact", CATEGORY: "Category"}  # fmt: skip
        else:
            self.bridge = zd.add_user("Ticket Bridge", "bridge@vendor.example", "agent", "zd-token")
            self.agent = zd.add_user("Dana Developer", "dana@vendor.example", "agent", "dev-token")
            fields = {VENDOR_CUSTOMER_NUMBER: "Customer number", VENDOR_DOMAIN: "Domain",
                      VENDOR_SOURCE: "Helpdesk ticket"}  # fmt: skip
        for field_id, title in fields.items():
            zd.add_field(field_id, title)

    def system_config(self, secret: str) -> dict[str, Any]:
        email = "bridge@acme.example" if self.role == FIRST else "bridge@vendor.example"
        return {
            "type": "zendesk",
            "url": self.url,
            "auth": {"email": email, "token": "zd-token"},
            "webhook_secret": secret,
            "bridge_user": str(self.bridge),
        }

    def configure_webhook(self, bridge_url: str, secret: str, style: str = "trigger") -> None:
        super().configure_webhook(bridge_url, secret, style)
        self.zendesk.configure_webhook(
            self.hook_url, secret, exclude_user_id=self.bridge, style=style
        )

    def wait_for_deliveries(self, timeout: float) -> bool:
        return self.zendesk.wait_for_deliveries(timeout)

    def close(self) -> None:
        self.zendesk.close()

    def _fields(self, technical: bool, complete: bool, data: Mapping[str, Any]) -> dict[int, Any]:
        fields: dict[int, Any] = {CATEGORY: "technik"} if technical else {}
        if complete:
            fields |= {
                CUSTOMER_NUMBER: data["customer_number"],
                DOMAIN: data["domain"],
                MAY_CONTACT: "kontakt_ja" if data["may_contact"] else "kontakt_nein",
            }
        return fields

    def open_ticket(
        self,
        complete: bool,
        *,
        subject: str = "Checkout fails with error 500",
        description: str = "Since this morning every order in our shop ends with error 500.",
        technical: bool = True,
        priority: str | None = None,
        data: Mapping[str, Any] | None = None,
        by_bridge: bool = False,
    ) -> int:
        fields = self._fields(technical, complete, {**DATA, **(data or {})})
        ticket = self.zendesk.create_ticket_as(
            self.bridge if by_bridge else self.customer,
            subject,
            description,
            type="problem" if technical else "question",
            priority=self.priorities[priority] if priority else None,
            custom_fields=fields or None,
        )
        return int(ticket["id"])

    def complete_ticket(self, ticket_id: int, data: Mapping[str, Any] | None = None) -> None:
        fields = self._fields(False, True, {**DATA, **(data or {})})
        self.zendesk.update_ticket_as(self.agent, ticket_id, custom_fields=fields)

    def deliver(self, ticket_id: int, delivery_id: str) -> requests.Response:
        body = {"ticket_id": str(ticket_id), "current_user_id": str(self.customer or self.agent),
                "event": "ticket_updated"}  # fmt: skip
        return self._post(body, delivery_id)

    def replay(self, ticket_id: int) -> requests.Response:
        sent = [d for d in self.zendesk.deliveries if d["ticket_id"] == int(ticket_id)]
        if not sent:
            raise ValueError(f"no webhook was delivered for zendesk ticket {ticket_id}")
        return self._post(sent[-1]["body"], sent[-1]["invocation_id"])

    def _post(self, body: Mapping[str, Any], invocation_id: str) -> requests.Response:
        """Signed now (Zendesk signs each attempt with its timestamp), same invocation id."""
        raw = json.dumps(body).encode()
        timestamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        headers = {
            "Content-Type": "application/json",
            "X-Zendesk-Webhook-Invocation-Id": invocation_id,
            "X-Zendesk-Webhook-Signature-Timestamp": timestamp,
            "X-Zendesk-Webhook-Signature": zendesk_signature(self.secret, timestamp, raw),
        }
        return requests.post(self.hook_url, data=raw, headers=headers, timeout=10)

    def comment(self, ticket_id: int, text: str, public: bool = True) -> None:
        author = self.customer if self.role == FIRST and public else self.agent
        self.zendesk.update_ticket_as(author, ticket_id, comment=text, public=public)

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        return [
            {"id": c["id"], "body": c["body"], "public": c["public"], "author_id": c["author_id"]}
            for c in self.zendesk.comments(ticket_id)
        ]

    def status(self, ticket_id: int) -> str:
        return str(self.zendesk.ticket(ticket_id)["status"])

    def set_status(self, ticket_id: int, status: str) -> None:
        self.zendesk.update_ticket_as(self.agent, ticket_id, status=status)

    def priority(self, ticket_id: int) -> str:
        return str(self.zendesk.ticket(ticket_id)["priority"])

    def link_value(self, ticket_id: int) -> str | None:
        return self.zendesk.ticket(ticket_id).get("external_id")

    def ticket_url(self, ticket_id: int) -> str:
        return f"{self.url}/agent/tickets/{ticket_id}"

    def issues(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        ticket_id = 1
        while True:
            try:
                ticket = self.zendesk.ticket(ticket_id)
            except KeyError:
                return found
            ticket_id += 1
            if ticket["submitter_id"] != self.bridge:
                continue
            fields = {f["id"]: f["value"] for f in ticket["custom_fields"]}
            found.append(
                {"id": ticket["id"], "subject": ticket["subject"],
                 "description": ticket["description"], "priority": ticket["priority"],
                 "project": None, "category": None,
                 "customer_number": fields.get(VENDOR_CUSTOMER_NUMBER),
                 "domain": fields.get(VENDOR_DOMAIN)}
            )  # fmt: skip


class MantisDriver(Driver):
    kind = "mantis"
    title = "MantisBT"
    polled = True
    ask_status = "feedback"
    target = ("Support", "General")

    def __init__(self, system: str, role: str, bridge_access: str = "developer") -> None:
        """`bridge_access` is the bridge user's level. DEVELOPER by default, the level most
        installs start with (resolved and closed issues are then read-only to it, as on the
        real server); the README asks for MANAGER, which `bridge demo` sets."""
        if role != SECOND:
            raise ValueError("MantisBT plays only the second level")
        super().__init__(system, role)
        self.mantis = MantisSandbox()
        self.bridge_access = bridge_access
        self.developer = self.project = 0

    @property
    def sandbox(self) -> MantisSandbox:
        return self.mantis

    def seed(self) -> None:
        mt = self.mantis
        self.bridge = mt.add_user("bridge", "mantis-token", self.bridge_access, "Ticket Bridge")
        self.developer = mt.add_user("dev", "dev-token", "developer", "Dana Developer")
        self.project = mt.add_project(
            "Support", ("General", "Crash"), ("Kundennummer", "Domain", "Helpdesk-Ticket")
        )

    def system_config(self, secret: str) -> dict[str, Any]:
        return {
            "type": "mantis",
            "url": self.url,
            "auth": {"token": "mantis-token"},
            "bridge_user": str(self.bridge),
        }

    def configure_webhook(self, bridge_url: str, secret: str, style: str = "trigger") -> None:
        return None  # MantisBT has no webhooks: the stack polls it

    def set_up_as_documented(self) -> None:
        """MANAGER, so resolved issues take the retest reply (README, MantisBT)."""
        self.mantis.set_access(self.bridge, "manager")

    def comment(self, ticket_id: int, text: str, public: bool = True) -> None:
        self.mantis.add_note_as(self.developer, ticket_id, text, private=not public)

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        return [
            {"id": n["id"], "body": n["text"], "public": n["view_state"]["name"] == "public",
             "author_id": n["reporter"]["id"]}
            for n in self.mantis.issue(ticket_id).get("notes", [])
        ]  # fmt: skip

    def status(self, ticket_id: int) -> str:
        return str(self.mantis.issue(ticket_id)["status"]["name"])

    def set_status(self, ticket_id: int, status: str) -> None:
        self.mantis.set_status_as(self.developer, ticket_id, status)

    def priority(self, ticket_id: int) -> str:
        return str(self.mantis.issue(ticket_id)["priority"]["name"])

    def ticket_url(self, ticket_id: int) -> str:
        return f"{self.url}/view.php?id={ticket_id}"

    def issues(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for issue in self.mantis.issues():
            fields = {f["field"]["name"]: f["value"] for f in issue.get("custom_fields", [])}
            found.append(
                {"id": issue["id"], "subject": issue["summary"],
                 "description": issue.get("description", ""),
                 "priority": issue["priority"]["name"], "project": issue["project"]["name"],
                 "category": issue["category"]["name"],
                 "customer_number": fields.get("Kundennummer"), "domain": fields.get("Domain")}
            )  # fmt: skip
        return found
