"""The MantisBT sandbox keeps the rules a real, stock 2.28.4 applies (mantis-real.md).

Raw HTTP through Flask's test client: these pin the wire behaviour the connector and the
engine must live with (read-only resolved issues, `reassign_on_feedback`, unknown enum names
stored as `@0@`, non-atomic file errors, hidden real names, utf8mb3), not the connector.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from flask.testing import FlaskClient

from bridge.sandbox.drivers import MantisDriver
from bridge.sandbox.mantis import SERVER_TZ, MantisSandbox

BRIDGE, DEV, ADMIN = "bridge-token", "dev-token", "admin-token"


@dataclass
class Env:
    sandbox: MantisSandbox
    client: FlaskClient
    bridge: int
    dev: int
    project: int

    def call(self, method: str, path: str, token: str = BRIDGE, **kwargs: Any) -> Any:
        return self.client.open(
            f"/api/rest/{path}", method=method, headers={"Authorization": token}, **kwargs
        )

    def issue(self, token: str = BRIDGE, **fields: Any) -> int:
        body = {
            "summary": "Export crashes",
            "description": "Click export.",
            "project": {"id": self.project},
            "category": {"name": "General"},
            **fields,
        }
        answer = self.call("POST", "issues", token, json=body)
        assert answer.status_code == 201, answer.get_data(as_text=True)
        return int(answer.get_json()["issue"]["id"])

    def status(self, issue_id: int) -> dict[str, Any]:
        return dict(self.sandbox.issue(issue_id)["status"])


@pytest.fixture
def env() -> Env:
    sandbox = MantisSandbox(now=lambda: datetime(2026, 12, 1, 12, 0, tzinfo=SERVER_TZ))
    bridge = sandbox.add_user(
        "bridge", BRIDGE, "developer", real_name="Ticket Bridge", email="bridge@example.org"
    )
    dev = sandbox.add_user("dana", DEV, "developer", real_name="Dana Developer", email="d@v.x")
    sandbox.add_user("root", ADMIN, "administrator", real_name="Site Admin")
    project = sandbox.add_project("Support", ("General",), ("Ticket",))
    return Env(sandbox, sandbox.app.test_client(), bridge, dev, project)


# -- read-only resolved and closed issues ---------------------------------------------------


@pytest.mark.parametrize("status", ["resolved", "closed"])
def test_a_developer_may_not_touch_a_resolved_or_closed_issue(env: Env, status: str) -> None:
    issue_id = env.issue()
    env.sandbox.set_status_as(env.dev, issue_id, status)
    before = env.sandbox.issue(issue_id)

    note = env.call("POST", f"issues/{issue_id}/notes", json={"text": "Retest failed"})
    assert note.status == f"403 Issue '{issue_id}' is read-only."
    assert note.get_json() == {
        "message": f"Issue '{issue_id}' is read-only.",
        "code": 1103,
        "localized": f"Issue '{issue_id}' is read-only.",
    }
    reopen = env.call("PATCH", f"issues/{issue_id}", json={"status": {"name": "assigned"}})
    assert reopen.status_code == 403
    assert reopen.get_json() == {"message": f"Issue '{issue_id}' is readonly"}
    files = env.call(
        "POST", f"issues/{issue_id}/files", json={"files": [{"name": "a", "content": "YQ=="}]}
    )
    assert files.status_code == 403
    assert env.sandbox.issue(issue_id) == before


def test_a_manager_on_the_project_may_note_and_reopen(env: Env) -> None:
    issue_id = env.issue()
    env.sandbox.set_status_as(env.dev, issue_id, "resolved")
    env.sandbox.set_access(env.bridge, "manager", project_id=env.project)

    note = env.call("POST", f"issues/{issue_id}/notes", json={"text": "Retest failed"})
    assert note.status_code == 201
    reopen = env.call("PATCH", f"issues/{issue_id}", json={"status": {"name": "assigned"}})
    assert reopen.status_code == 200
    assert env.status(issue_id)["name"] == "assigned"


def test_open_issues_stay_writable_for_a_developer(env: Env) -> None:
    issue_id = env.issue()
    env.sandbox.set_status_as(env.dev, issue_id, "confirmed")
    assert env.call("POST", f"issues/{issue_id}/notes", json={"text": "x"}).status_code == 201


def test_access_levels_are_checked_when_set(env: Env) -> None:
    with pytest.raises(ValueError, match="unknown access level"):
        env.sandbox.set_access(env.bridge, "boss")
    with pytest.raises(ValueError, match="unknown project"):
        env.sandbox.set_access(env.bridge, "manager", project_id=99)


# -- reassign_on_feedback -------------------------------------------------------------------


def test_the_reporters_note_sends_feedback_back_to_new_as_the_note_author(env: Env) -> None:
    issue_id = env.issue()
    env.sandbox.set_status_as(env.dev, issue_id, "feedback")

    assert env.call("POST", f"issues/{issue_id}/notes", json={"text": "any"}).status_code == 201
    issue = env.sandbox.issue(issue_id)
    assert issue["status"]["name"] == "new"
    last = issue["history"][-1]
    assert (last["field"]["name"], last["old_value"], last["new_value"]) == (
        "status",
        "feedback",
        "new",
    )
    assert last["user"]["id"] == env.bridge


def test_with_a_handler_the_reporters_note_sends_feedback_to_assigned(env: Env) -> None:
    issue_id = env.issue(handler={"name": "dana"})
    env.sandbox.set_status_as(env.dev, issue_id, "feedback")
    env.call("POST", f"issues/{issue_id}/notes", json={"text": "any", "view_state": "private"})
    assert env.status(issue_id)["name"] == "assigned"


def test_a_note_by_anyone_else_or_with_the_option_off_leaves_feedback(env: Env) -> None:
    issue_id = env.issue()
    env.sandbox.set_status_as(env.dev, issue_id, "feedback")
    env.call("POST", f"issues/{issue_id}/notes", DEV, json={"text": "developer asks again"})
    assert env.status(issue_id)["name"] == "feedback"
    env.sandbox.reassign_on_feedback = False
    env.call("POST", f"issues/{issue_id}/notes", json={"text": "reporter"})
    assert env.status(issue_id)["name"] == "feedback"


# -- unknown enum names -----------------------------------------------------------------------


def test_an_unknown_status_name_is_taken_and_stored_as_id_0(env: Env) -> None:
    issue_id = env.issue()
    answer = env.call("PATCH", f"issues/{issue_id}", json={"status": {"name": "done"}})
    assert answer.status_code == 200
    assert answer.get_json()["issues"][0]["status"] == {
        "id": 0,
        "name": "@0@",
        "label": "@0@",
        "color": "currentcolor",
    }


def test_an_unknown_priority_on_create_is_201_with_at_0_at(env: Env) -> None:
    answer = env.call(
        "POST",
        "issues",
        json={
            "summary": "s",
            "description": "d",
            "project": {"id": env.project},
            "category": {"name": "General"},
            "priority": {"name": "critical"},
            "severity": {"name": "blocker"},
        },
    )
    assert answer.status_code == 201
    issue = answer.get_json()["issue"]
    assert (issue["priority"]["id"], issue["priority"]["name"]) == (0, "@0@")
    assert (issue["severity"]["id"], issue["severity"]["name"]) == (0, "@0@")


# -- people, text and files ---------------------------------------------------------------


def test_other_users_real_names_and_emails_are_hidden_from_a_developer(env: Env) -> None:
    issue_id = env.issue()
    env.sandbox.add_note_as(env.dev, issue_id, "from the vendor")

    seen = env.call("GET", f"issues/{issue_id}").get_json()["issues"][0]
    assert seen["reporter"] == {
        "id": env.bridge,
        "name": "bridge",
        "real_name": "Ticket Bridge",
        "email": "bridge@example.org",
    }
    assert seen["notes"][0]["reporter"] == {"id": env.dev, "name": "dana"}
    assert {h["user"].get("real_name") for h in seen["history"]} == {"Ticket Bridge", None}

    by_admin = env.call("GET", f"issues/{issue_id}", ADMIN).get_json()["issues"][0]
    assert by_admin["notes"][0]["reporter"]["real_name"] == "Dana Developer"


def test_four_byte_characters_are_stored_as_the_replacement_character(env: Env) -> None:
    issue_id = env.issue(summary="Crash \U0001f4a5 on export")
    env.call("POST", f"issues/{issue_id}/notes", json={"text": "thanks \U0001f44d\u00e4"})
    issue = env.sandbox.issue(issue_id)
    assert issue["summary"] == "Crash \ufffd on export"
    assert issue["notes"][0]["text"] == "thanks \ufffd\u00e4"


def test_the_effective_file_limit_is_the_least_of_php_and_max_file_size(env: Env) -> None:
    assert env.sandbox.max_file_size == 5 * 1024 * 1024
    assert env.sandbox.file_limit == 2 * 1024 * 1024  # Debian's upload_max_filesize
    big = base64.b64encode(b"x" * (2 * 1024 * 1024 + 1)).decode()
    small = base64.b64encode(b"ok").decode()
    answer = env.call(
        "POST",
        "issues",
        json={
            "summary": "with files",
            "description": "d",
            "project": {"id": env.project},
            "category": {"name": "General"},
            "files": [{"name": "a.txt", "content": small}, {"name": "dump.bin", "content": big}],
        },
    )
    assert answer.status == "400 File 'dump.bin' too big"
    assert answer.get_json()["message"] == "File 'dump.bin' too big"
    [issue] = env.sandbox.issues()  # created anyway, with the files before the big one
    assert issue["summary"] == "with files"
    assert [a["filename"] for a in issue["attachments"]] == ["a.txt"]


# -- meta: config, projects, users/me ---------------------------------------------------------


def test_config_answers_enums_as_lists_and_leaves_unknown_options_out(env: Env) -> None:
    query = (
        "option[]=status_enum_string&option[]=priority_enum_string&option[]=severity_enum_string"
        "&option[]=resolution_enum_string&option[]=max_file_size&option[]=no_such_option"
        f"&project_id={env.project}"
    )
    configs = env.call("GET", f"config?{query}").get_json()["configs"]
    by_option = {c["option"]: c["value"] for c in configs}
    assert list(by_option) == [
        "status_enum_string",
        "priority_enum_string",
        "severity_enum_string",
        "resolution_enum_string",
        "max_file_size",
    ]
    assert by_option["status_enum_string"][0] == {"id": 10, "name": "new", "label": "new"}
    assert [s["name"] for s in by_option["status_enum_string"]] == [
        "new",
        "feedback",
        "acknowledged",
        "confirmed",
        "assigned",
        "resolved",
        "closed",
    ]
    assert by_option["max_file_size"] == 5 * 1024 * 1024
    assert env.call("GET", "config?option[]=max_file_size&project_id=77").status_code == 404


def test_projects_carry_the_users_access_level_and_users_me_the_global_one(env: Env) -> None:
    env.sandbox.set_access(env.bridge, "manager", project_id=env.project)
    [project] = env.call("GET", f"projects/{env.project}").get_json()["projects"]
    assert project["access_level"] == {"id": 70, "name": "manager", "label": "manager"}
    assert [c["name"] for c in project["categories"]] == ["General"]
    [listed] = env.call("GET", "projects", DEV).get_json()["projects"]
    assert listed["access_level"]["name"] == "developer"
    me = env.call("GET", "users/me").get_json()
    assert me["access_level"]["name"] == "developer"
    assert me["projects"] == [{"id": env.project, "name": "Support"}]
    assert env.call("GET", "projects/77").status_code == 404


def test_the_driver_seeds_a_developer_bridge_unless_told_otherwise() -> None:
    plain, lifted = MantisDriver("vendor", "second"), MantisDriver("vendor", "second", "manager")
    for driver in (plain, lifted):
        driver.seed()
    assert plain.mantis._users[plain.bridge].access == "developer"
    assert lifted.mantis._users[lifted.bridge].access == "manager"
