"""Everything the bridge writes is in the language of the team reading it, in words."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bridge.attachments import carry_attachments
from bridge.context import RouteContext
from bridge.engine import handle_first_level
from bridge.errors import ConfigError
from bridge.mapping import RequiredField, load_mapping
from bridge.models import Attachment
from bridge.protocol import Capability
from bridge.rules import check_required
from bridge.texts import Language, system_title
from tests.unit.fakes import FakeConnector, MemoryStore
from tests.unit.helpers import COMPLETE_FIELDS, SHIPPED, shipped_mapping, ticket

MAPPING = shipped_mapping()
DE, EN = Language.DE, Language.EN
DEV = "701"


def problem(field_id: str, value: object, lang: Language, mapping=MAPPING) -> str:  # type: ignore[no-untyped-def]
    gate = check_required(ticket(fields={**COMPLETE_FIELDS, field_id: value}), mapping, lang)
    (text,) = gate.problems.values()
    return text


@pytest.mark.parametrize(
    ("field_id", "value", "lang", "expected"),
    [
        ("360001", "12ab", DE, "'12ab' muss aus 4 bis 10 Ziffern bestehen"),
        ("360001", "12ab", EN, "'12ab' must consist of 4 to 10 digits"),
        ("360002", "not a domain", DE, "'not a domain' ist kein Domainname wie example.com"),
        ("360002", "not a domain", EN, "'not a domain' is not a domain name like example.com"),
        ("360003", "!", DE, "'!' ist weder eine E-Mail-Adresse noch ein Benutzername"),
        ("360003", "!", EN, "'!' is neither an e-mail address nor a user name"),
        ("360004", "vielleicht", DE, "'vielleicht' ist weder ja noch nein"),
        ("360004", "vielleicht", EN, "'vielleicht' is neither yes nor no"),
    ],
)
def test_validator_messages_in_words(
    field_id: str, value: str, lang: Language, expected: str
) -> None:
    text = problem(field_id, value, lang)
    assert text == expected
    assert "^" not in text and "[0-9]" not in text  # never the regular expression


def test_a_pattern_without_hint_gets_a_general_sentence() -> None:
    spec = replace(MAPPING.required["customer_number"], hint={})
    mapping = replace(MAPPING, required={**MAPPING.required, "customer_number": spec})
    assert problem("360001", "12ab", DE, mapping) == "'12ab' hat nicht das erwartete Format"
    assert problem("360001", "12ab", EN, mapping) == "'12ab' does not have the expected format"


def test_too_short_says_how_long() -> None:
    def short(lang: Language) -> str:
        gate = check_required(ticket(description="crash"), MAPPING, lang)
        return gate.problems["error_description"]

    assert short(DE) == "ist zu kurz (mindestens 20 Zeichen)"
    assert short(EN) == "is too short (at least 20 characters)"


def test_email_kind_in_both_languages() -> None:
    spec = RequiredField("contact", ("field:360003",), kind="email")
    mapping = replace(MAPPING, required={**MAPPING.required, "contact": spec})
    assert problem("360003", "anna", DE, mapping) == "'anna' ist keine E-Mail-Adresse"
    assert problem("360003", "anna", EN, mapping) == "'anna' is not an e-mail address"


def make(
    route_language: str = "de", **second_settings: str
) -> tuple[RouteContext, FakeConnector, FakeConnector]:
    first = FakeConnector("helpdesk", kind="zendesk", bridge_user="99")
    second = FakeConnector("vendor", kind="mantis", bridge_user="7")
    second.settings = replace(second.settings, **second_settings)
    ctx = RouteContext("acme", MAPPING, route_language, first, second, MemoryStore().as_stores())
    return ctx, first, second


def test_the_german_request_names_the_problem_in_german() -> None:
    ctx, first, _ = make("de")
    first.tickets["1"] = ticket(fields={**COMPLETE_FIELDS, "360001": "12ab"})
    handle_first_level(ctx, "1")
    body = first.comments["1"][0].body
    assert "- Kundennummer: '12ab' muss aus 4 bis 10 Ziffern bestehen" in body
    assert "does not match" not in body


def test_display_name_in_the_link_note_and_comment_headers() -> None:
    ctx, first, second = make("de", display_name="Hersteller-Tracker")
    first.tickets["1"] = ticket()
    handle_first_level(ctx, "1")
    (issue,) = second.tickets
    note = first.comments["1"][-1].body
    assert note.startswith(f"An den Hersteller eskaliert: Hersteller-Tracker #{issue} (")
    assert "vendor #" not in note  # never the config key
    second.say(issue, DEV, "Welche PHP-Version?")
    handle_first_level(ctx, "1")
    assert first.comments["1"][-1].body.startswith(f"User {DEV} (Hersteller-Tracker) schreibt:")


def test_display_name_defaults_to_the_name_of_the_type() -> None:
    assert system_title(FakeConnector("vendor", kind="mantis").settings) == "MantisBT"
    assert system_title(FakeConnector("helpdesk", kind="zendesk").settings) == "Zendesk"
    assert system_title(FakeConnector("x", kind="zammad").settings) == "Zammad"
    ctx, first, _ = make("en")
    first.tickets["1"] = ticket()
    handle_first_level(ctx, "1")
    assert "Escalated to the vendor: MantisBT #" in first.comments["1"][-1].body


def test_a_language_per_side() -> None:
    """A German helpdesk, an English vendor: each team reads its own language."""
    ctx, first, second = make("de", language="en")
    first.tickets["1"] = ticket(fields={k: v for k, v in COMPLETE_FIELDS.items() if k != "360001"})
    handle_first_level(ctx, "1")
    assert "- Kundennummer" in first.comments["1"][0].body  # the helpdesk: German
    first.set("1", fields=dict(COMPLETE_FIELDS))
    handle_first_level(ctx, "1")
    ((_, draft),) = second.writes
    assert "--- Data from first-level support ---" in draft.description  # the vendor: English
    assert "Customer number: 40711" in draft.description
    assert "May the end customer be contacted (yes/no): yes" in draft.description
    assert first.comments["1"][-1].body.startswith("An den Hersteller eskaliert: MantisBT #")
    (issue,) = second.tickets
    first.say("1", "501", "Retest: geht immer noch nicht.")
    second.say(issue, DEV, "Which PHP version?")
    handle_first_level(ctx, "1")
    assert second.comments[issue][-1].body.startswith("User 501 (Zendesk) wrote:")
    assert first.comments["1"][-1].body.startswith(f"User {DEV} (MantisBT) schreibt:")


def test_yes_and_no_in_the_vendors_language() -> None:
    ctx, first, second = make("en", language="de")
    first.tickets["1"] = ticket()
    handle_first_level(ctx, "1")
    ((_, draft),) = second.writes
    assert "Darf der Endkunde kontaktiert werden (ja/nein): ja" in draft.description


def test_attachment_notices_in_german() -> None:
    src, dst = FakeConnector("helpdesk", kind="zendesk"), FakeConnector("vendor", kind="mantis")
    files = (Attachment("s.png", size=10, id="x"),)
    _, notes = carry_attachments(src, dst, files, DE)
    assert notes == [
        "Die Datei s.png wurde nicht übertragen: Zendesk -> MantisBT kann keine Dateien übertragen."
    ]
    for side in (src, dst):
        side.capabilities = frozenset({Capability.ATTACHMENTS})
    dst.settings = replace(dst.settings, options={"max_attachment_bytes": 1000})
    _, notes = carry_attachments(src, dst, (Attachment("dump.bin", size=5000, id="y"),), DE)
    assert notes == [
        "Die Datei dump.bin (5000 Byte) wurde nicht übertragen: größer als die 1000 Byte, die "
        "MantisBT annimmt."
    ]


def test_attachment_notices_in_english() -> None:
    src, dst = FakeConnector("helpdesk", kind="zendesk"), FakeConnector("vendor", kind="mantis")
    _, notes = carry_attachments(src, dst, (Attachment("s.png", size=10, id="x"),), EN)
    assert notes == ["File s.png was not copied: Zendesk -> MantisBT cannot transfer files."]


# -- placeholders are checked when the mapping is loaded ---------------------------------------


def mapping_with(tmp_path: Path, old: str, new: str, placeholder: str) -> tuple[Path, int]:
    text = SHIPPED.read_text()
    assert text.count(old) == 1, old
    text = text.replace(old, new)
    path = tmp_path / "m.yaml"
    path.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if placeholder in ln)
    return path, line


@pytest.mark.parametrize(
    ("old", "new", "key", "placeholder"),
    [
        ('    Domain: "{domain}"', '    Domain: "{domian}"', "target.custom_fields.Domain",
         "{domian}"),
        ('    link_note: "An den Hersteller eskaliert: {target_system}',
         '    link_note: "An den Hersteller eskaliert: {target_sytem}',
         "messages.de.link_note", "{target_sytem}"),
        ('    comment_header: "{author} ({system}) wrote:"',
         '    comment_header: "{autor} ({system}) wrote:"', "messages.en.comment_header",
         "{autor}"),
        ('  format: "{system}:{id}"', '  format: "{system}:{ticket}"', "link.format", "{ticket}"),
        ('schreibt:"\n    summary: "[{customer_number}]',
         'schreibt:"\n    summary: "[{kundennummer}]', "messages.de.summary", "{kundennummer}"),
    ],
)  # fmt: skip
def test_an_unknown_placeholder_names_file_line_and_placeholder(
    tmp_path: Path, old: str, new: str, key: str, placeholder: str
) -> None:
    path, line = mapping_with(tmp_path, old, new, placeholder)
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    assert str(err.value).startswith(
        f"{path}, line {line}: {key}: unknown placeholder {placeholder}; known here: "
    ), str(err.value)


def test_every_placeholder_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = (
        SHIPPED.read_text()
        .replace('Domain: "{domain}"', 'Domain: "{domian}"')
        .replace("      {description}\n\n      --- Angaben", "      {description.__class__}\n\n"
                 "      --- Angaben")
        .replace("Helpdesk ticket: {source_url}", "Helpdesk ticket: {source_url")
    )  # fmt: skip
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_mapping(path)
    lines = str(err.value).splitlines()
    assert len(lines) == 3, lines
    assert "target.custom_fields.Domain: unknown placeholder {domian}" in lines[0]
    assert (
        "messages.de.description: placeholder {description.__class__} is not a plain" in (lines[1])
    )
    assert "messages.en.description: broken placeholder" in lines[2]


def test_shipped_mappings_use_only_known_placeholders() -> None:
    for path in sorted(SHIPPED.parent.glob("*.yaml")):
        first, second = path.stem.split("-")
        load_mapping(path, None, first, second)  # raises on any unknown placeholder or status


def test_the_checked_placeholders_are_exactly_what_the_engine_renders() -> None:
    """The load-time check and the rendering cannot drift apart: a name the check allows is
    always filled, and a value the engine fills can be used."""
    from bridge.mapping import REQUIRED_FIELDS
    from bridge.mapping_checks import DRAFT_VALUES
    from bridge.plan_escalation import description_values
    from bridge.snapshot import RouteFacts

    ctx, _, _ = make("en")
    gate = check_required(ticket(), MAPPING)
    facts = RouteFacts.of(ctx)
    assert set(description_values(facts, ticket(), gate)) == {*REQUIRED_FIELDS, *DRAFT_VALUES}
