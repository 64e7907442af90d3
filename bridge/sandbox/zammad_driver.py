"""The Zammad sandbox driver (see drivers.py): first level or second level of a route.

Zammad keeps custom attributes as top-level ticket keys, so the required data, the category and
the link back live in attributes seeded here with the names the shipped mappings use.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from bridge.sandbox.drivers import DATA, FIRST, Driver
from bridge.sandbox.signing import zammad_signature
from bridge.sandbox.zammad import ZammadSandbox
from bridge.sandbox.zammad.render import webhook_payload

# Attribute names of mappings/zammad-*.yaml (first level) and zendesk-zammad.yaml (second).
FIRST_ATTRIBUTES = (
    "customer_number", "customer_domain", "contact_person", "may_contact", "category",
    "vendor_ticket",
)  # fmt: skip
SECOND_ATTRIBUTES = ("customer_number", "customer_domain", "helpdesk_ticket")
LINK_ATTRIBUTE = "vendor_ticket"
VENDOR_GROUP = "Support"
VENDOR_CUSTOMER = "helpdesk@acme.example"  # the helpdesk company, as the vendor's customer


class ZammadDriver(Driver):
    kind = "zammad"
    title = "Zammad"
    delivery_header = "X-Zammad-Delivery"
    waiting_status = ask_status = "pending reminder"
    priorities: Mapping[str, str] = {"low": "1 low", "normal": "2 normal", "high": "3 high"}
    target = ("Support", None)  # the group; Zammad has no categories

    def __init__(self, system: str, role: str) -> None:
        super().__init__(system, role)
        self.zammad = ZammadSandbox()
        self.agent = self.customer = 0

    @property
    def sandbox(self) -> ZammadSandbox:
        return self.zammad

    def seed(self) -> None:
        zm = self.zammad
        domain = "acme.example" if self.role == FIRST else "vendor.example"
        self.bridge = zm.add_user("Ticket", "Bridge", f"bridge@{domain}", "Agent", "zm-token")
        if self.role == FIRST:
            self.agent = zm.add_user("Alex", "Agent", "alex@acme.example", "Agent", "agent-token")
            self.customer = zm.add_user("Anna", "Kundin", "anna@kunde.example")
            attributes: tuple[str, ...] = FIRST_ATTRIBUTES
        else:
            self.agent = zm.add_user("Dana", "Developer", "dana@vendor.example", "Agent", "dev")
            self.customer = zm.add_user("Acme", "Helpdesk", VENDOR_CUSTOMER)
            zm.add_group(VENDOR_GROUP)
            attributes = SECOND_ATTRIBUTES
        for name in attributes:
            zm.add_attribute(name)

    def system_config(self, secret: str) -> dict[str, Any]:
        options: dict[str, Any] = (
            {"external_id_field": LINK_ATTRIBUTE}
            if self.role == FIRST
            else {"customer": VENDOR_CUSTOMER, "group": VENDOR_GROUP}
        )
        return {
            "type": "zammad",
            "url": self.url,
            "auth": {"token": "zm-token"},
            "webhook_secret": secret,
            "bridge_user": str(self.bridge),
            "options": options,
        }

    def configure_webhook(self, bridge_url: str, secret: str, style: str = "trigger") -> None:
        super().configure_webhook(bridge_url, secret, style)
        self.zammad.url = self.url
        self.zammad.configure_webhook(self.hook_url, secret, exclude_user_id=self.bridge)

    def wait_for_deliveries(self, timeout: float) -> bool:
        return self.zammad.wait_for_deliveries(timeout)

    def close(self) -> None:
        self.zammad.close()

    # -- acting ---------------------------------------------------------------------------
    def _attributes(self, technical: bool | None, complete: bool, data: Mapping[str, Any]) -> dict:
        attributes: dict[str, Any] = {}
        if technical is not None:
            attributes["category"] = "technical" if technical else "question"
        if complete:
            attributes |= {
                "customer_number": data["customer_number"],
                "customer_domain": data["domain"],
                "may_contact": "yes" if data["may_contact"] else "no",
            }
        return attributes

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
        ticket = self.zammad.create_ticket_as(
            self.bridge if by_bridge else self.customer,
            subject,
            description,
            customer_id=self.customer,
            priority=self.priorities[priority] if priority else None,
            attributes=self._attributes(technical, complete, {**DATA, **(data or {})}),
        )
        return int(ticket["id"])

    def complete_ticket(self, ticket_id: int, data: Mapping[str, Any] | None = None) -> None:
        attributes = self._attributes(None, True, {**DATA, **(data or {})})
        self.zammad.update_ticket_as(self.agent, ticket_id, attributes=attributes)

    def deliver(self, ticket_id: int, delivery_id: str) -> requests.Response:
        """The default trigger payload of the ticket as it is now, signed, with the given
        X-Zammad-Delivery (Zammad keeps one across a delivery's retries)."""
        with self.zammad.lock:
            payload = webhook_payload(self.zammad.model, int(ticket_id), None, self.url)
        raw = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "Zammad User Agent",
            "X-Zammad-Trigger": "ticket bridge",
            "X-Zammad-Delivery": delivery_id,
            "X-Hub-Signature": zammad_signature(self.secret, raw),
        }
        return requests.post(self.hook_url, data=raw, headers=headers, timeout=10)

    def replay(self, ticket_id: int) -> requests.Response:
        """Post the sandbox's own last delivery for the ticket again, same delivery id."""
        sent = [d for d in self.zammad.deliveries if d["ticket_id"] == int(ticket_id)]
        if not sent:
            raise ValueError(f"no webhook was delivered for zammad ticket {ticket_id}")
        raw = json.dumps(sent[-1]["body"], separators=(",", ":")).encode()
        headers = dict(sent[-1]["headers"])
        headers["X-Hub-Signature"] = zammad_signature(self.secret, raw)
        return requests.post(self.hook_url, data=raw, headers=headers, timeout=10)

    def comment(self, ticket_id: int, text: str, public: bool = True) -> None:
        author = self.customer if self.role == FIRST and public else self.agent
        self.zammad.update_ticket_as(author, ticket_id, article=text, internal=not public)

    def comments(self, ticket_id: int) -> list[dict[str, Any]]:
        return [
            {"id": a["id"], "body": a["body"], "public": not a["internal"],
             "author_id": a["origin_by_id"] or a["created_by_id"]}
            for a in self.zammad.articles(ticket_id)
        ]  # fmt: skip

    def status(self, ticket_id: int) -> str:
        return str(self.zammad.ticket(ticket_id)["state"])

    def set_status(self, ticket_id: int, status: str) -> None:
        pending = None
        if status.startswith("pending"):
            moment = datetime.now(UTC) + timedelta(days=1)
            pending = moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        self.zammad.update_ticket_as(self.agent, ticket_id, state=status, pending_time=pending)

    def priority(self, ticket_id: int) -> str:
        return str(self.zammad.ticket(ticket_id)["priority"])

    def link_value(self, ticket_id: int) -> str | None:
        return self.zammad.ticket(ticket_id).get(LINK_ATTRIBUTE)

    def ticket_url(self, ticket_id: int) -> str:
        return f"{self.url}/#ticket/zoom/{ticket_id}"

    def issues(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        ticket_id = 1
        while True:
            try:
                ticket = self.zammad.ticket(ticket_id)
            except ValueError:
                return found
            ticket_id += 1
            if ticket["created_by_id"] != self.bridge:
                continue
            articles = self.zammad.articles(ticket["id"])
            found.append(
                {"id": ticket["id"], "subject": ticket["title"],
                 "description": articles[0]["body"] if articles else "",
                 "priority": ticket["priority"], "project": ticket["group"], "category": None,
                 "customer_number": ticket.get("customer_number"),
                 "domain": ticket.get("customer_domain")}
            )  # fmt: skip
