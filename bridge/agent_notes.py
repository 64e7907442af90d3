"""Notes to the helpdesk agent about a stuck or recovered ticket, for the jobs.

What to say and when is decided in `bridge.plan_notes`; these read the ticket's notes, run that
plan and say whether a note was written now. A note to the agent must never change what the
job does: a failure to write it is logged and left for the next occasion.
"""

from __future__ import annotations

from bridge import plan_notes
from bridge.context import RouteContext
from bridge.executor import Executor
from bridge.plan_notes import DEFAULTS, JOB_CAUSES, NoteCause
from bridge.reader import read_notes
from bridge.snapshot import RouteFacts

__all__ = ["DEFAULTS", "JOB_CAUSES", "NoteCause", "job_recovered", "job_stuck", "tell_agent"]


def tell_agent(ctx: RouteContext, first_id: str, cause: NoteCause, reason: str) -> bool:
    """One note per cause until it recovers; True when a note was written now."""
    snap = read_notes(ctx, first_id)
    plan = plan_notes.tell_agent(RouteFacts.of(ctx), snap, first_id, cause, reason)
    return Executor(ctx, first_id)(plan)


def job_recovered(ctx: RouteContext, first_id: str) -> bool:
    """A job of the ticket succeeded: one note if the agent was told it was stuck."""
    plan = plan_notes.job_recovered(RouteFacts.of(ctx), read_notes(ctx, first_id), first_id)
    return Executor(ctx, first_id)(plan)


def job_stuck(ctx: RouteContext, first_id: str, reason: str, parked: bool) -> bool:
    """A job of the ticket parked (or retries past the threshold): tell the agent once."""
    snap = read_notes(ctx, first_id)
    plan = plan_notes.job_stuck(RouteFacts.of(ctx), snap, first_id, reason, parked)
    return Executor(ctx, first_id)(plan)
