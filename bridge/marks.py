"""Marks: what the bridge recorded about an item it writes, as a type instead of a string.

A store keeps them as short strings (the formats below are what existing stores hold), so they
are parsed where they are read and formatted where they are written: only at the store's edge
(`bridge.reader`, `bridge.executor`). The planner matches on the types, and cannot mistake an
unfinished write for a copy or a refusal for a skip.
"""

from __future__ import annotations

from dataclasses import dataclass

UNSURE = "?"  # prefix of a stored mark whose write may or may not have happened
# Prefix of a comment mark whose copy was refused for good (followed by the source's
# fingerprint): it is tried again only when the source changes or an operator resyncs.
PARKED = "!"
# Pair-state key of the status write-ahead: the status the second level must keep while the
# bridge's notes land on it. Set before the first note, cleared once the status is checked: a
# worker killed in between leaves it, so the next sync still tells the tracker's side effect
# from a vendor's change.
EXPECT = "second_expect"
# Prefix of the mark a copy the bridge made carries (followed by its source's key): a system
# name starts with a letter or digit, so no copy key (`Copied`) starts with it.
_ECHO = "="
_SKIPPED = "skip"  # the spelling of Visibility.SKIP, kept so existing stores read the same
_HISTORY = "before"


@dataclass(frozen=True)
class History:
    """The comment existed before the escalation: context, not conversation; never copied."""


@dataclass(frozen=True)
class Skipped:
    """Not copied on purpose: the route's flow skips comments of its visibility."""


@dataclass(frozen=True)
class Unsure:
    """Write-ahead: the write was started and may or may not have happened, so the next
    attempt looks for it on the target before writing. `intent` names what was being written
    where one slot serves several (the fingerprint of the data being asked for)."""

    intent: str = ""


@dataclass(frozen=True)
class Parked:
    """Refused for good while the source said what `fingerprint` stands for."""

    fingerprint: str


@dataclass(frozen=True)
class Copied:
    """Copied: `key` is the copy's comment key on the other side ("<system>:<id>")."""

    key: str


@dataclass(frozen=True)
class Written:
    """A single write done: the id of the note it made (or the fingerprint asked for)."""

    value: str


@dataclass(frozen=True)
class Echo:
    """This comment is the bridge's own copy of `source`: never copied back. The author says
    so too, but an incremental read sees only the marks of the comments it read, not the
    source's `Copied` mark that names this one."""

    source: str


CommentMark = History | Skipped | Unsure | Parked | Copied | Echo


def item_key(system: str, item_id: str) -> str:
    """The key of a comment in the marks: "<system>:<id>" (a system name has no colon)."""
    return f"{system}:{item_id}"


WriteMark = Unsure | Written  # the link note, a note to the agent, the request for data


def parse_comment_mark(raw: str) -> CommentMark:
    if raw == _HISTORY:
        return History()
    if raw == _SKIPPED:
        return Skipped()
    if raw.startswith(UNSURE):
        return Unsure(raw.removeprefix(UNSURE))
    if raw.startswith(PARKED):
        return Parked(raw.removeprefix(PARKED))
    if raw.startswith(_ECHO):
        return Echo(raw.removeprefix(_ECHO))
    return Copied(raw)


def format_comment_mark(mark: CommentMark) -> str:
    match mark:
        case History():
            return _HISTORY
        case Skipped():
            return _SKIPPED
        case Unsure(intent):
            return UNSURE + intent
        case Parked(fingerprint):
            return PARKED + fingerprint
        case Copied(key):
            return key
        case Echo(source):
            return _ECHO + source


def parse_write_mark(raw: str) -> WriteMark:
    if raw.startswith(UNSURE):
        return Unsure(raw.removeprefix(UNSURE))
    return Written(raw)


def format_write_mark(mark: WriteMark) -> str:
    match mark:
        case Unsure(intent):
            return UNSURE + intent
        case Written(value):
            return value
