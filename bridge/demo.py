"""`bridge demo`: the escalation story, played for real on local sandboxes.

Every step is checked by reading the sandboxes' own state (not the bridge's word for it), and
the demo exits non-zero if any check fails.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.models import SystemRef
from bridge.sandbox.stack import (
    CATEGORY,
    CUSTOMER_NUMBER,
    DOMAIN,
    MAY_CONTACT,
    Stack,
    post_zendesk_webhook,
)
from bridge.store import RedisStore

Echo = Callable[[str], Any]


class Story:
    def __init__(self, stack: Stack, echo: Echo) -> None:
        self.stack = stack
        self.echo = echo
        self.failures = 0

    def check(self, ok: bool, text: str) -> bool:
        self.echo(f"   {'ok ' if ok else 'FAIL'} {text}")
        self.failures += 0 if ok else 1
        return ok

    def step(self, text: str) -> None:
        self.echo(f"\n-> {text}")

    def bridge_comments(self, ticket_id: int) -> list[dict[str, Any]]:
        return [
            c
            for c in self.stack.zendesk.comments(ticket_id)
            if c["author_id"] == self.stack.zd_bridge
        ]

    def settle(self) -> None:
        if not self.stack.settle():
            self.check(False, "the queue did not drain within 20 s")

    # -- the story ---------------------------------------------------------------------
    def play(self) -> bool:
        zd, mt, s = self.stack.zendesk, self.stack.mantis, self.stack

        self.step("A customer opens a technical ticket without customer number, domain or consent")
        t1 = zd.create_ticket_as(
            s.zd_customer,
            "Checkout fails with error 500",
            "Since this morning every order in our shop ends with error 500 at the checkout.",
            type="problem",
            priority="high",
            custom_fields={CATEGORY: "technik"},
        )["id"]
        self.settle()
        asked = self.bridge_comments(t1)
        self.check(len(asked) == 1, f"Zendesk #{t1} got exactly one request for data")
        body = asked[0]["body"] if asked else ""
        for label in ("Customer number", "Domain", "May the end customer be contacted"):
            self.check(label in body, f"the request names '{label}'")
        self.check("Contact" not in body, "the contact is not asked for (requester e-mail used)")
        self.check(zd.ticket(t1)["status"] == "pending", "the ticket waits (status pending)")
        self.check(mt.issues() == [], "nothing was escalated to MantisBT yet")

        self.step("Zendesk delivers a webhook twice (same invocation id)")
        hook = {"ticket_id": str(t1), "current_user_id": str(s.zd_customer),
                "event": "ticket_updated"}  # fmt: skip
        first = post_zendesk_webhook(s, hook, "demo-replay-1")
        again = post_zendesk_webhook(s, hook, "demo-replay-1")
        self.settle()
        self.check(first.status_code == 202, f"first delivery accepted ({first.status_code})")
        self.check(
            again.status_code == 200 and again.json()["status"] == "duplicate",
            f"second delivery recognised as duplicate ({again.status_code})",
        )
        self.check(len(self.bridge_comments(t1)) == 1, "still exactly one request for data")

        self.step("The first-level agent fills in the missing fields")
        zd.update_ticket_as(
            s.zd_agent,
            t1,
            custom_fields={CUSTOMER_NUMBER: "40711", DOMAIN: "shop.kunde.example",
                           MAY_CONTACT: "kontakt_ja"},
        )  # fmt: skip
        self.settle()
        issues = mt.issues()
        self.check(len(issues) == 1, "exactly one MantisBT issue was created")
        if issues:
            self.check_issue(t1, issues[0])

        self.step("A non-technical question arrives")
        t2 = zd.create_ticket_as(
            s.zd_customer, "How do I change my invoice address?",
            "Where can I change the invoice address of our account?", type="question",
        )["id"]  # fmt: skip
        self.settle()
        self.check(len(mt.issues()) == 1, "no MantisBT issue for the question")
        self.check(self.bridge_comments(t2) == [], "no comment on the question")
        log = RedisStore(s.redis).timeline(SystemRef("helpdesk", str(t2)))
        reasons = [e.get("reason", "") for e in log if e["action"] == "not_technical"]
        self.check(bool(reasons), f"the bridge recorded why: {reasons[0] if reasons else '-'}")

        self.step("Four deliveries for one complete ticket arrive at the same moment")
        t3 = zd.create_ticket_as(
            s.zd_bridge, "Import job hangs", "The nightly product import hangs at 97 % since 2.4.",
            type="incident",
            custom_fields={CUSTOMER_NUMBER: "40712", DOMAIN: "b2b.kunde.example",
                           MAY_CONTACT: "kontakt_nein"},
        )["id"]  # fmt: skip
        race = {"ticket_id": str(t3), "current_user_id": str(s.zd_agent), "event": "ticket_created"}
        threads = [
            threading.Thread(target=post_zendesk_webhook, args=(s, race, f"race-{i % 2}"))
            for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.settle()
        url = f"/agent/tickets/{t3}\n"
        mine = [i for i in mt.issues() if url in i.get("description", "") + "\n"]
        self.check(len(mine) == 1, f"exactly one MantisBT issue for Zendesk #{t3}")
        self.check(len(mt.issues()) == 2, "two issues in MantisBT in total")

        self.echo("")
        if self.failures:
            self.echo(f"demo FAILED: {self.failures} check(s) did not hold")
            return False
        self.echo("demo passed: every step above was checked against the sandboxes' state")
        return True

    def check_issue(self, ticket_id: int, issue: dict[str, Any]) -> None:
        zd = self.stack.zendesk
        fields = {f["field"]["name"]: f["value"] for f in issue.get("custom_fields", [])}
        self.echo(f"   MantisBT issue #{issue['id']}: {issue['summary']}")
        self.check(issue["project"]["name"] == "Support", "in project Support")
        self.check(issue["category"]["name"] == "General", "in category General")
        self.check(issue["priority"]["name"] == "high", "priority high (Zendesk: high)")
        self.check(issue["summary"].startswith("[40711]"), "summary carries the customer number")
        self.check(
            fields.get("Kundennummer") == "40711" and fields.get("Domain") == "shop.kunde.example",
            "custom fields Kundennummer and Domain are set",
        )
        desc = issue.get("description", "")
        for needle in ("every order", "Customer number: 40711", "anna@kunde.example",
                       "May the end customer be contacted (yes/no): yes",
                       f"/agent/tickets/{ticket_id}"):  # fmt: skip
            self.check(needle in desc, f"the description contains {needle!r}")
        ticket = zd.ticket(ticket_id)
        self.check(
            ticket.get("external_id") == f"vendor:{issue['id']}",
            f"Zendesk external_id = {ticket.get('external_id')}",
        )
        notes = [c for c in self.bridge_comments(ticket_id) if not c["public"]]
        self.check(
            any(f"view.php?id={issue['id']}" in c["body"] for c in notes),
            "an internal note on the Zendesk ticket links to the MantisBT issue",
        )
        self.check(len(self.bridge_comments(ticket_id)) == 2, "no other bridge comments")


def run_demo(keep: Path | None, echo: Echo = print, redis_url: str | None = None) -> bool:
    """Start the stack, play the story, stop everything; True only if every check held."""
    with tempfile.TemporaryDirectory(prefix="bridge-demo-") as tmp:
        base = keep or Path(tmp)
        echo(f"Starting embedded Redis, sandbox Zendesk and MantisBT, web and worker in {base}")
        with Stack(base, redis_url=redis_url) as stack:
            echo(f"   bridge at {stack.bridge_url}, config {stack.config_path}")
            return Story(stack, echo).play()
