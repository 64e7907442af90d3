"""The agent is never left guessing: one internal note per cause, one when it recovers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bridge.agent_notes import NoteCause, job_recovered, job_stuck, tell_agent
from bridge.context import RouteContext
from bridge.engine import handle_first_level
from bridge.models import Comment
from bridge.records import PairKey
from bridge.writes import UNSURE
from tests.unit.fakes import FakeConnector, MemoryStore
from tests.unit.helpers import ticket
from tests.unit.test_engine import make

REASON = "create MantisBT issue: 404 Category 'General' not found."


def notes(first: FakeConnector) -> list[Comment]:
    return [c for c in first.comments.get("1", []) if c.author_id == first.bridge_user]


def waiting(language: str = "en") -> tuple[RouteContext, FakeConnector, MemoryStore]:
    ctx, first, _, store = make(language)
    first.tickets["1"] = ticket("1")
    return ctx, first, store


@pytest.mark.parametrize(
    ("steps", "told"),
    [
        # (what happened, in order) -> the notes the agent reads
        (["parked"], ["escalation_parked"]),
        (["parked", "parked", "parked"], ["escalation_parked"]),
        (["delayed", "delayed"], ["delayed"]),
        (["delayed", "parked"], ["delayed", "escalation_parked"]),  # two causes, one each
        (["parked", "ok"], ["escalation_parked", "recovered"]),
        (["parked", "ok", "ok"], ["escalation_parked", "recovered"]),
        (["ok", "ok"], []),  # nothing was wrong: nothing to say
        (["delayed", "parked", "ok"], ["delayed", "escalation_parked", "recovered"]),
        (["parked", "ok", "parked", "ok"],
         ["escalation_parked", "recovered", "escalation_parked", "recovered"]),
    ],
)  # fmt: skip
def test_one_note_per_cause_and_one_on_recovery(steps: list[str], told: list[str]) -> None:
    ctx, first, store = waiting()
    for step in steps:
        if step == "ok":
            job_recovered(ctx, "1")
        else:
            job_stuck(ctx, "1", REASON, parked=step == "parked")
    said = [e["cause"] for _, action, e in store.entries if action == "agent_told"]
    assert said == told
    assert len(notes(first)) == len(told)
    assert all(not c.public for c in notes(first))


def test_the_note_says_why_in_plain_words_and_what_to_do() -> None:
    ctx, first, _ = waiting()
    job_stuck(ctx, "1", REASON, parked=True)
    (note,) = notes(first)
    assert note.body.startswith(f"The escalation to MantisBT is on hold: {REASON}\n")
    assert "What to do:" in note.body and "bridge resync" in note.body


def test_a_parked_sync_names_the_vendor_issue() -> None:
    ctx, first, _, _ = make()
    first.tickets["1"] = ticket("1")
    handle_first_level(ctx, "1")  # escalated: vendor #100
    job_stuck(ctx, "1", "update MantisBT issue 100: 401 Valid API token required", parked=True)
    assert notes(first)[-1].body.startswith(
        "This ticket is no longer kept in step with MantisBT #100"
    )
    job_recovered(ctx, "1")
    assert notes(first)[-1].body.startswith("The bridge works on this ticket again: MantisBT #100")


def test_a_german_route_tells_the_agent_in_german() -> None:
    ctx, first, _ = waiting("de")
    job_stuck(ctx, "1", REASON, parked=False)
    job_recovered(ctx, "1")
    assert notes(first)[0].body.startswith("MantisBT ist für die Bridge seit einer Weile nicht")
    assert "Was tun:" in notes(first)[0].body
    assert notes(first)[1].body.startswith("Die Bridge arbeitet wieder an diesem Ticket")


def test_a_mapping_may_reword_a_note() -> None:
    ctx, first, _ = waiting()
    texts = ctx.mapping.texts("en")
    own = replace(texts, agent_notes={"escalation_parked": "Stuck ({target}): {reason}"})
    ctx = replace(ctx, mapping=replace(ctx.mapping, messages={"en": own}))
    job_stuck(ctx, "1", REASON, parked=True)
    job_stuck(ctx, "1", REASON, parked=False)  # not reworded: the default
    assert notes(first)[0].body == f"Stuck (MantisBT): {REASON}"
    assert notes(first)[1].body.startswith("MantisBT has not been reachable")


def test_a_note_whose_answer_was_lost_is_not_written_twice() -> None:
    ctx, first, store = waiting()
    first.applied_then_timeout = {"comment"}
    assert tell_agent(ctx, "1", NoteCause.DELAYED, REASON) is False  # logged, not raised
    assert store.agent_notes(PairKey("acme", "1")) == {"delayed": UNSURE}
    assert tell_agent(ctx, "1", NoteCause.DELAYED, REASON) is True  # looked for, found
    assert len(notes(first)) == 1
    assert store.agent_notes(PairKey("acme", "1"))["delayed"] == notes(first)[0].id


def test_a_helpdesk_that_refuses_the_note_changes_nothing_else() -> None:
    ctx, first, store = waiting()
    first.fail_on = {"comment"}
    assert job_stuck(ctx, "1", REASON, parked=True) is False
    assert store.actions()[-1] == "agent_not_told"
    first.fail_on = set()
    assert job_stuck(ctx, "1", REASON, parked=True) is True  # told at the next occasion
    assert len(notes(first)) == 1
