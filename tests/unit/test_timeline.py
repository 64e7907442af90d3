"""The sync log in sentences: every action the bridge writes reads as words, never a dict."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.config import Config, load_config
from bridge.ops.timeline import BAD, WAIT, Narrator, readable
from tests.unit.test_config import GOOD, write

AT = "2030-01-31T05:00:00.123456+00:00"


@pytest.fixture()
def narrator(tmp_path: Path) -> Narrator:
    config: Config = load_config(write(tmp_path, GOOD), env={"ZD_TOKEN": "t"})
    return Narrator(config)


def line_of(narrator: Narrator, action: str, **details: object) -> tuple[str, dict[str, str]]:
    entry = {"at": AT, "action": action, "ticket": "helpdesk#12", "route": "acme", **details}
    line = narrator.line(entry)
    assert line.at == AT and line.ticket == "helpdesk #12 (Zendesk)"
    return line.sentence, dict(line.fields)


@pytest.mark.parametrize(
    ("action", "details", "sentence", "fields"),
    [
        ("comment_copied", {"from": "helpdesk:12", "to": "vendor:100", "public": True,
                            "attachments": 2, "not_copied": 0},
         "Comment copied: helpdesk comment 12 \u2192 vendor note 100 (MantisBT), public, "
         "2 file(s)", {}),
        ("escalated", {"second": "vendor#100", "url": "https://m/view.php?id=100",
                       "priority": "high"},
         "Escalated: to vendor #100 (MantisBT), priority high",
         {"url": "https://m/view.php?id=100"}),
        ("synced", {"second": "vendor#100", "comments": ["helpdesk:12", "vendor:7"],
                    "changes": {"second_status": "assigned", "first_priority": "high"}},
         "Synced: with vendor #100 (MantisBT): copied helpdesk comment 12, vendor note 7; "
         "set vendor status \u2192 assigned, helpdesk priority \u2192 high", {}),
        ("missing_data_requested", {"missing": {"customer_number": "missing",
                                                "domain": "is not a domain name"},
                                    "comment_id": "900"},
         "Asked for missing data: customer_number, domain (is not a domain name)",
         {"comment": "900"}),
        ("status_set", {"second_status": "assigned", "why": "the customer replied"},
         "Status set: vendor \u2192 assigned (the customer replied)", {}),
        ("status_set", {"status": "pending"}, "Status set: helpdesk \u2192 pending", {}),
        ("parked", {"job": "tb-acme-1", "reason": "403 Forbidden"}, "Parked: 403 Forbidden",
         {"job": "tb-acme-1"}),
        ("retry", {"job": "j", "reason": "503 from vendor", "retries_left": 2},
         "Will retry: 503 from vendor (2 retries left)", {"job": "j"}),
        ("held", {"job": "j", "scope": "system vendor", "reason": "MantisBT upgrade"},
         "Held: system vendor is paused (MantisBT upgrade)", {"job": "j"}),
        ("not_copied", {"from": "vendor:7", "to": "helpdesk",
                        "reason": "not copied: 422 too large"},
         "Not copied: vendor note 7 \u2192 helpdesk: 422 too large", {}),
        ("not_copied", {"from": "#status:vendor", "to": "vendor",
                        "reason": "status not set: MantisBT refuses changes to resolved issue 7"},
         "Status not set: on vendor (MantisBT): MantisBT refuses changes to resolved issue 7", {}),
        ("link_written", {"second": "vendor#100", "url": "u", "marked": "mantis:100",
                          "status": "hold", "note_id": "55"},
         "Link written: to vendor #100 (MantisBT): reference mantis:100 written into the "
         "ticket, status hold, link note 55 posted", {}),
        ("operator_resync", {"job": "j"}, "Resync: queued by an operator", {"job": "j"}),
    ],
)  # fmt: skip
def test_each_action_reads_as_a_sentence(
    narrator: Narrator,
    action: str,
    details: dict[str, object],
    sentence: str,
    fields: dict[str, str],
) -> None:
    said, left = line_of(narrator, action, **details)
    assert said == sentence
    assert left == fields
    assert "{" not in said and "[" not in said


def test_an_unknown_action_keeps_every_detail_readable(narrator: Narrator) -> None:
    said, fields = line_of(narrator, "something_new", counts={"a": 1}, ids=["x", "y"], ok=False)
    assert said == "Something new"
    assert fields == {"counts": "a: 1", "ids": "x, y", "ok": "no"}


def test_tones_mark_what_went_wrong_and_what_waits(narrator: Narrator) -> None:
    entry = {"at": AT, "ticket": "helpdesk#1"}
    assert narrator.line({**entry, "action": "parked", "reason": "x"}).tone == BAD
    assert narrator.line({**entry, "action": "held", "scope": "route acme"}).tone == WAIT


def test_without_a_config_names_stay_as_logged() -> None:
    line = Narrator().line({"action": "created_from", "ticket": "vendor#3", "first": "hd#9"})
    assert line.sentence == "Created: from hd #9" and line.ticket == "vendor #3"


def test_readable_values() -> None:
    assert readable({"a": [1, 2], "b": None}) == "a: 1, 2; b: none"
    assert readable(True) == "yes" and readable([]) == "none"
