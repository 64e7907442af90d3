"""The bridge's own words, per language: validator messages, file notices, system names.

Texts a support lead may want to reword live in the mapping (`messages`); these are the
sentences the code composes around data (a rejected value, a file left behind), so they are
kept here, one table per language, and looked up by the language of the side being written to.
A German helpdesk must never read English or a regular expression.
"""

from __future__ import annotations

from enum import StrEnum

from bridge.protocol import SystemSettings
from bridge.registry import title_of


class Language(StrEnum):
    """The languages every built-in text and every shipped mapping is written in."""

    DE = "de"
    EN = "en"


LANGUAGES = tuple(lang.value for lang in Language)

_TEXTS: dict[Language, dict[str, str]] = {
    Language.EN: {
        "pattern": "does not have the expected format",
        "min_length": "is too short (at least {n} characters)",
        "domain": "is not a domain name like example.com",
        "email": "is not an e-mail address",
        "email_or_user": "is neither an e-mail address nor a user name",
        "yes_no": "is neither yes nor no",
        "file_no_transfer": "File {file} was not copied: {src} -> {dst} cannot transfer files.",
        "file_too_big": "File {file}{size} was not copied: larger than the {limit} {dst} accepts.",
        "file_refused": "File {file} was not copied: {reason}",
        "file_left_out": (
            "File {file} of the comment above was not copied: {dst} took the comment but "
            "refused the file as too big."
        ),
        "bytes": "{n} bytes",
        "yes": "yes",
        "no": "no",
    },
    Language.DE: {
        "pattern": "hat nicht das erwartete Format",
        "min_length": "ist zu kurz (mindestens {n} Zeichen)",
        "domain": "ist kein Domainname wie example.com",
        "email": "ist keine E-Mail-Adresse",
        "email_or_user": "ist weder eine E-Mail-Adresse noch ein Benutzername",
        "yes_no": "ist weder ja noch nein",
        "file_no_transfer": (
            "Die Datei {file} wurde nicht übertragen: {src} -> {dst} kann keine Dateien übertragen."
        ),
        "file_too_big": (
            "Die Datei {file}{size} wurde nicht übertragen: größer als die {limit}, die {dst} "
            "annimmt."
        ),
        "file_refused": "Die Datei {file} wurde nicht übertragen: {reason}",
        "file_left_out": (
            "Die Datei {file} des Kommentars oben wurde nicht übertragen: {dst} hat den "
            "Kommentar angenommen, die Datei aber als zu groß abgelehnt."
        ),
        "bytes": "{n} Byte",
        "yes": "ja",
        "no": "nein",
    },
}


def language(value: str | None) -> Language:
    """A configured language name as the enum; anything unknown reads as English."""
    try:
        return Language(value or Language.EN)
    except ValueError:
        return Language.EN


def text(lang: str | None, key: str, **values: object) -> str:
    """One built-in sentence in `lang`, with its values filled in."""
    return _TEXTS[language(lang)][key].format(**values)


def system_title(settings: SystemSettings) -> str:
    """What a person calls the system: its `display_name`, else the title its connector class
    declares ("MantisBT"), for link notes and comment headers: the config key ("vendor") means
    nothing to the person reading the ticket."""
    return settings.display_name or title_of(settings.type) or settings.name


def side_language(settings: SystemSettings, route_language: str) -> Language:
    """The language of the team working on this system: the system's own `language` where the
    two teams differ (a German helpdesk, an English vendor), else the route's."""
    return language(settings.language or route_language)
