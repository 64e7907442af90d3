"""`bridge demo`: the escalation story, played for real on local sandboxes.

Every step is checked by reading the sandboxes' own state (not the bridge's word for it), and
the demo exits non-zero if any check fails. `--route` picks which sandboxes play the first and
the second level; the story is the same, told through the stack's drivers.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bridge.models import SystemRef
from bridge.registry import statuses_of
from bridge.sandbox.drivers import Driver
from bridge.sandbox.stack import ROUTES, Stack
from bridge.stores import SyncLog

Echo = Callable[[str], Any]
RACE_DATA = {"customer_number": "40712", "domain": "b2b.kunde.example", "may_contact": False}


class Story:
    def __init__(self, stack: Stack, echo: Echo) -> None:
        self.stack = stack
        self.first: Driver = stack.first_level
        self.second: Driver = stack.second_level
        self.echo = echo
        self.failures = 0

    def check(self, ok: bool, text: str) -> bool:
        self.echo(f"   {'ok ' if ok else 'FAIL'} {text}")
        self.failures += 0 if ok else 1
        return ok

    def step(self, text: str) -> None:
        self.echo(f"\n-> {text}")

    def settle(self) -> None:
        if not self.stack.catch_up():
            self.check(False, "the queue did not drain within 20 s")

    # -- the story ---------------------------------------------------------------------
    def play(self) -> bool:
        f, v = self.first, self.second
        F, V = f.title, v.title
        self.settle()  # a polled second level: the first poll sets the high-water mark

        self.step("A customer opens a technical ticket without customer number, domain or consent")
        t1 = f.open_ticket(
            False,
            subject="Checkout fails with error 500",
            description="Since this morning every order in our shop ends with error 500 at "
            "the checkout.",
            priority="high",
        )
        self.settle()
        asked = f.bridge_comments(t1)
        self.check(len(asked) == 1, f"{F} #{t1} got exactly one request for data")
        body = asked[0]["body"] if asked else ""
        self.check(not asked or not asked[0]["public"], "the request is an internal note")
        for label in ("Customer number", "Domain", "May the end customer be contacted"):
            self.check(label in body, f"the request names '{label}'")
        self.check("Contact" not in body, "the contact is not asked for (requester e-mail used)")
        status = f.status(t1)
        self.check(status == "open", f"the ticket is open for the agent (status {status})")
        self.check(v.issues() == [], f"nothing was escalated to {V} yet")

        self.step(f"{F} delivers a webhook twice (same {f.delivery_header})")
        first = f.deliver(t1, "demo-replay-1")
        again = f.deliver(t1, "demo-replay-1")
        own = f.replay(t1)  # the sandbox's own last delivery, once more
        self.settle()
        self.check(first.status_code == 202, f"first delivery accepted ({first.status_code})")
        for name, answer in (("second delivery", again), (f"replay of {F}'s delivery", own)):
            self.check(
                answer.status_code == 200 and answer.json()["status"] == "duplicate",
                f"{name} recognised as duplicate ({answer.status_code})",
            )
        self.check(len(f.bridge_comments(t1)) == 1, "still exactly one request for data")

        self.step("The first-level agent fills in the missing data")
        f.complete_ticket(t1)
        self.settle()
        issues = v.issues()
        self.check(len(issues) == 1, f"exactly one {V} ticket was created")
        if issues:
            self.check_issue(t1, issues[0])
            status = f.status(t1)
            # The shipped mappings' `escalated_status`: the first level's "waits on a third
            # party" (Zendesk's on-hold; a fresh Zammad has none, so open).
            side = statuses_of(f.kind)
            wanted = side.escalated if side is not None else None
            self.check(status == wanted, f"the ticket waits on the vendor (status {status})")

            self.step(f"The vendor asks a question in {V}")
            v.comment(issues[0]["id"], "Which PHP version runs the shop?")
            self.settle()
            copies = [c for c in f.comments(t1) if "Which PHP version" in c["body"]]
            self.check(len(copies) == 1, f"it reached the {F} ticket once")
            self.check(
                bool(copies) and not copies[0]["public"],
                "as an internal note for the agent, not as a reply to the customer",
            )

        self.step("A non-technical question arrives")
        t2 = f.open_ticket(
            False,
            technical=False,
            subject="How do I change my invoice address?",
            description="Where can I change the invoice address of our account?",
        )
        self.settle()
        self.check(len(v.issues()) == 1, f"no {V} ticket for the question")
        self.check(f.bridge_comments(t2) == [], "no comment on the question")
        log = SyncLog(self.stack.redis).timeline(SystemRef(f.system, str(t2)))
        reasons = [e.get("reason", "") for e in log if e["action"] == "not_technical"]
        self.check(bool(reasons), f"the bridge recorded why: {reasons[0] if reasons else '-'}")

        self.step("Four deliveries for one complete ticket arrive at the same moment")
        t3 = f.open_ticket(
            True,
            subject="Import job hangs",
            description="The nightly product import hangs at 97 % since 2.4.",
            data=RACE_DATA,
            by_bridge=True,  # no trigger fires for the bridge's own tickets: only ours count
        )
        threads = [
            threading.Thread(target=f.deliver, args=(t3, f"race-{t3}-{i % 2}")) for i in range(4)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.settle()
        mine = v.find_issues(f.ticket_url(t3))
        self.check(len(mine) == 1, f"exactly one {V} ticket for {F} #{t3}")
        self.check(len(v.issues()) == 2, f"two tickets in {V} in total")

        self.echo("")
        if self.failures:
            self.echo(f"demo FAILED: {self.failures} check(s) did not hold")
            return False
        self.echo("demo passed: every step above was checked against the sandboxes' state")
        return True

    def check_issue(self, ticket_id: int, issue: dict[str, Any]) -> None:
        f, v = self.first, self.second
        self.echo(f"   {v.title} #{issue['id']}: {issue['subject']}")
        project, category = v.target
        if project is not None:
            self.check(issue["project"] == project, f"in {project} ({issue['project']})")
        if category is not None:
            self.check(issue["category"] == category, f"in category {category}")
        wanted = v.priorities["high"]
        self.check(
            issue["priority"] == wanted,
            f"priority {issue['priority']} ({f.title}: {f.priorities['high']})",
        )
        self.check(issue["subject"].startswith("[40711]"), "summary carries the customer number")
        self.check(
            issue["customer_number"] == "40711" and issue["domain"] == "shop.kunde.example",
            "custom fields for customer number and domain are set",
        )
        desc = issue["description"]
        for needle in ("every order", "Customer number: 40711", "anna@kunde.example",
                       "May the end customer be contacted (yes/no): yes",
                       f.ticket_url(ticket_id)):  # fmt: skip
            self.check(needle in desc, f"the description contains {needle!r}")
        link = f.link_value(ticket_id)
        self.check(link == f"vendor:{issue['id']}", f"the {f.title} ticket links back: {link}")
        notes = [c for c in f.bridge_comments(ticket_id) if not c["public"]]
        self.check(
            any(v.ticket_url(issue["id"]) in c["body"] for c in notes),
            f"an internal note on the {f.title} ticket links to the {v.title} ticket",
        )
        self.check(len(f.bridge_comments(ticket_id)) == 2, "no other bridge comments")


def fresh(base: Path) -> None:
    """Drop the embedded Redis data a previous run left in `base`: its links and cursors
    name tickets of sandboxes that no longer exist (the sandboxes keep nothing on disk)."""
    shutil.rmtree(base / "redis", ignore_errors=True)


def run_demo(
    keep: Path | None,
    echo: Echo = print,
    redis_url: str | None = None,
    route: str = "zendesk-mantis",
) -> bool:
    """Start the stack, play the story, stop everything; True only if every check held."""
    if route not in ROUTES:
        raise ValueError(f"unknown route {route!r}; known: {', '.join(ROUTES)}")
    with tempfile.TemporaryDirectory(prefix="bridge-demo-") as tmp:
        base = keep or Path(tmp)
        fresh(base)
        stack = Stack(base, redis_url=redis_url, route=route)
        f, v = stack.first_level.title, stack.second_level.title
        echo(f"Route {route}: starting embedded Redis, sandbox {f} (first level) and {v}")
        echo(f"   (second level), web and worker in {base}")
        with stack:
            stack.second_level.set_up_as_documented()
            echo(f"   bridge at {stack.bridge_url}, config {stack.config_path}")
            ok = Story(stack, echo).play()
        if keep is not None:
            for line in kept_note(stack.config_path.resolve()):
                echo(line)
        return ok


def kept_note(config: Path) -> list[str]:
    """What a kept demo directory is good for once its servers are gone: its config still
    names the sandboxes' and Redis's addresses, and nothing listens there any more."""
    return [
        "",
        f"The sandboxes, web, worker and Redis are stopped; {config} points at them.",
        f"   works offline: bridge check-config --config {config}",
        "   needs the servers (exits 3, cannot reach): status, failed, links, resync, dry-run",
        f"   for a world that stays up: bridge sandbox --keep {config.parent}",
    ]
