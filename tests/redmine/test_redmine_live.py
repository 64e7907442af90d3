"""What a real Redmine 5 does with the bridge's writes, and what the bridge decides about it.

Against the live instance of tests/redmine/conftest.py: the project and tracker of a route,
custom fields by id, files through upload tokens, private notes that stay private, the
workflow that drops a status silently, a role that would publish an internal note, polling by
project, and the online check.
"""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bridge.checks import check_system
from bridge.config import load_config
from bridge.errors import PermanentError
from bridge.findings import Level, Usage
from bridge.models import Attachment, NewComment, TicketChanges, TicketDraft
from bridge.protocol import SystemSettings
from bridge.registry import build_connector
from connectors.redmine import RedmineConnector
from tests.redmine.live import LiveRedmine

ROOT = Path(__file__).resolve().parents[2]


def connector(redmine: LiveRedmine, login: str = "bridge", **options: Any) -> RedmineConnector:
    settings = SystemSettings(
        name="vendor",
        type="redmine",
        url=redmine.url,
        auth={"api_key": redmine.key(login)},
        bridge_user=redmine.user_id(login),
        options={"project": redmine.project, **options},
    )
    built = build_connector(settings)  # through the registry, as the workers build it
    assert isinstance(built, RedmineConnector)
    return built


def issue_as(redmine: LiveRedmine, login: str, issue_id: str) -> dict[str, Any]:
    path = f"issues/{issue_id}.json"
    data: dict[str, Any] = redmine.api(
        login, "GET", path, params={"include": "journals,attachments"}
    ).json()["issue"]
    return data


def test_create_uses_the_routes_project_tracker_priority_fields_and_files(
    redmine: LiveRedmine,
) -> None:
    bridge = connector(redmine, external_id_field=redmine.field("Helpdesk-Ticket"))
    draft = TicketDraft(
        subject="[40711] Checkout fails",
        description="Every order ends with error 500.\n\nHelpdesk ticket: https://zd.example/t/1",
        priority="urgent",
        project="Bridge Test",  # a route names the project by name; identifiers work too
        category="Support",  # the mapping's category is the tracker
        fields={redmine.field("Kundennummer"): "40711", redmine.field("Domain"): "shop.example"},
        attachments=(Attachment("screen.png", "image/png", content=b"\x89PNG fake"),),
    )
    ticket = bridge.create_ticket(draft)
    raw = issue_as(redmine, "dana", ticket.ref.id)  # what the vendor's developer sees
    assert raw["project"]["id"] == redmine.seed["project"]["id"]
    assert raw["tracker"]["name"] == "Support" and raw["priority"]["name"] == "Urgent"
    values = {str(f["id"]): f["value"] for f in raw["custom_fields"]}
    assert values[redmine.field("Kundennummer")] == "40711"
    assert values[redmine.field("Domain")] == "shop.example"
    assert [(a["filename"], a["filesize"]) for a in raw["attachments"]] == [("screen.png", 9)]
    assert ticket.status == "new" and ticket.priority == "urgent" and ticket.type == "support"

    linked = bridge.update_ticket(ticket.ref.id, TicketChanges(external_id="helpdesk:1"))
    assert linked.external_id == "helpdesk:1"
    assert bridge.get_ticket(ticket.ref.id).external_id == "helpdesk:1"


def test_a_tracker_the_project_lacks_is_refused_before_creating(redmine: LiveRedmine) -> None:
    """Redmine itself would file the issue under the project's default tracker, silently."""
    bridge = connector(redmine)
    before = redmine.api("admin", "GET", "issues.json", params={"status_id": "*"}).json()
    draft = TicketDraft("Crash", "Steps", project="other-product", category="Support")
    with pytest.raises(PermanentError, match=r"has no tracker 'Support' \(it has: bug\)") as info:
        bridge.create_ticket(draft)  # Other Product has only the Bug tracker
    assert info.value.status == 422
    after = redmine.api("admin", "GET", "issues.json", params={"status_id": "*"}).json()
    assert after["total_count"] == before["total_count"]


def test_internal_notes_are_private_and_stay_hidden_from_who_may_not_see_them(
    redmine: LiveRedmine,
) -> None:
    bridge = connector(redmine)
    ticket = bridge.create_ticket(TicketDraft("Notes", "Steps", category="Bug"))
    internal = bridge.add_comment(ticket.ref.id, NewComment("agent only: VIP customer", False))
    public = bridge.add_comment(ticket.ref.id, NewComment("customer can retest", True))
    journals = {str(j["id"]): j for j in issue_as(redmine, "dana", ticket.ref.id)["journals"]}
    assert journals[internal]["private_notes"] is True
    assert journals[public]["private_notes"] is False
    reporter_sees = [j["notes"] for j in issue_as(redmine, "rita", ticket.ref.id)["journals"]]
    assert reporter_sees == ["customer can retest"]  # no view_private_notes: hidden from her


def test_a_note_with_files_carries_them_as_the_journals_attachments(redmine: LiveRedmine) -> None:
    bridge = connector(redmine)
    ticket = bridge.create_ticket(TicketDraft("Files", "Steps", category="Bug"))
    files = (Attachment("a.log", "text/plain", content=b"first"),
             Attachment("b.log", "text/plain", content=b"second!"))  # fmt: skip
    note_id = bridge.add_comment(ticket.ref.id, NewComment("logs attached", True, files))
    comment = next(c for c in bridge.list_comments(ticket.ref.id) if c.id == note_id)
    assert [(a.filename, a.size) for a in comment.attachments] == [("a.log", 5), ("b.log", 7)]
    dest = io.BytesIO()
    bridge.fetch_attachment(comment.attachments[1], dest, 100)
    assert dest.getvalue() == b"second!"


def test_a_status_the_workflow_drops_is_a_refusal_naming_the_workflow(
    redmine: LiveRedmine,
) -> None:
    ticket = connector(redmine).create_ticket(TicketDraft("Workflow", "Steps", category="Bug"))
    reporter = connector(redmine, "rita")  # a bridge user with the stock Reporter role
    with pytest.raises(PermanentError, match=r"kept status 'new' instead of 'closed'.*Workflow"):
        reporter.update_ticket(ticket.ref.id, TicketChanges(status="closed"))
    assert issue_as(redmine, "dana", ticket.ref.id)["status"]["name"] == "New"


def test_an_internal_note_the_role_would_publish_is_refused_before_writing(
    redmine: LiveRedmine,
) -> None:
    ticket = connector(redmine).create_ticket(TicketDraft("Private", "Steps", category="Bug"))
    reporter = connector(redmine, "rita")  # Reporter: no set_notes_private
    with pytest.raises(PermanentError, match="Set notes as private") as info:
        reporter.add_comment(ticket.ref.id, NewComment("internal only", public=False))
    assert info.value.status == 403
    assert issue_as(redmine, "dana", ticket.ref.id)["journals"] == []  # nothing was written
    assert reporter.add_comment(ticket.ref.id, NewComment("public is fine", public=True))


def test_an_unknown_status_is_refused_without_a_write(redmine: LiveRedmine) -> None:
    bridge = connector(redmine)
    ticket = bridge.create_ticket(TicketDraft("Unknown", "Steps", category="Bug"))
    with pytest.raises(PermanentError, match=r"has no status 'done'.*known: closed, feedback"):
        bridge.update_ticket(ticket.ref.id, TicketChanges(status="done"))
    assert issue_as(redmine, "dana", ticket.ref.id)["journals"] == []


def test_the_vendors_status_change_is_seen_with_who_and_when(redmine: LiveRedmine) -> None:
    bridge = connector(redmine)
    ticket = bridge.create_ticket(TicketDraft("Status", "Steps", category="Bug"))
    redmine.api("dana", "PUT", f"issues/{ticket.ref.id}.json",
                json={"issue": {"status_id": 4, "notes": "Which browser?"}})  # fmt: skip
    redmine.api("dana", "PUT", f"issues/{ticket.ref.id}.json", json={"issue": {"notes": "ping"}})
    seen, comments = bridge.get_ticket_and_comments(ticket.ref.id)
    assert seen.status == "feedback"
    assert seen.status_changed_by == redmine.user_id("dana")
    assert seen.updated_by == redmine.user_id("dana")
    assert seen.status_changed_at == comments[0].created_at  # the note of the change
    assert [c.body for c in comments] == ["Which browser?", "ping"]


def test_polling_covers_the_configured_projects_only(redmine: LiveRedmine) -> None:
    bridge = connector(redmine)
    here = bridge.create_ticket(TicketDraft("Here", "Steps", category="Bug"))
    there = bridge.create_ticket(TicketDraft("There", "Steps", project="other-product"))
    assert here.created_at is not None
    since = here.created_at - timedelta(seconds=1)
    everywhere = {e.ref.id for e in bridge.changes_since(since)}
    assert {here.ref.id, there.ref.id} <= everywhere
    scoped = connector(redmine, projects=["other-product"])
    assert {e.ref.id for e in scoped.changes_since(since)} & {here.ref.id, there.ref.id} == {
        there.ref.id
    }


def test_the_online_check_of_the_shipped_mapping(redmine: LiveRedmine, tmp_path: Path) -> None:
    """`check-config --online` for a config with mappings/zendesk-redmine.yaml, against the
    live Redmine: the ids and names the example uses are the ones this instance was seeded
    with, so the Redmine side passes; a Reporter bridge user is told what it cannot do."""
    # Without an admin key the check reads the custom fields off an issue of the project: the
    # project has one whichever tests ran before.
    redmine.api("dana", "POST", "issues.json", json={"issue": {
        "project_id": redmine.project, "subject": "Search finds no products",
    }})  # fmt: skip
    config = tmp_path / "bridge.yaml"
    mapping = ROOT / "mappings" / "zendesk-redmine.yaml"
    config.write_text(f"""\
systems:
  helpdesk:
    type: zendesk
    url: https://acme.zendesk.com
    auth: {{email: bridge@acme.example, token: t}}
    bridge_user: "42"
  vendor:
    type: redmine
    url: {redmine.url}
    auth: {{api_key: "${{KEY}}"}}
    bridge_user: "${{BRIDGE}}"
    options: {{external_id_field: "{redmine.field("Helpdesk-Ticket")}"}}
routes:
  - {{name: acme, from: helpdesk, to: vendor, mapping: {mapping}}}
""")
    good = load_config(config, env={"KEY": redmine.key("bridge"), "BRIDGE": "5"})
    findings = check_system(good, "vendor")
    assert [f.text for f in findings if f.level is not Level.OK] == []
    assert any("credentials of Ticket Bridge (id 5)" in f.text for f in findings)

    weak = load_config(config, env={"KEY": redmine.key("rita"), "BRIDGE": redmine.user_id("rita")})
    problems = [f.text for f in check_system(weak, "vendor") if f.level is Level.PROBLEM]
    assert any("cannot change status and priority" in p for p in problems), problems
    assert any("is no member" in p for p in problems) is False


def test_the_enum_check_at_worker_start_names_an_unknown_status(redmine: LiveRedmine) -> None:
    findings = connector(redmine).check_usage(
        Usage(statuses={"resolved": "a", "done": "route acme: sync.status.to_second"}),
        enums_only=True,
    )
    assert [f.level for f in findings] == [Level.PROBLEM]
    assert "status 'done' (route acme: sync.status.to_second) does not exist" in findings[0].text
