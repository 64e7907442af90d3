"""Normalised causes: the same fault on different tickets (or polls) is one cause."""

from __future__ import annotations

import pytest

from bridge.failures.causes import blamed_system, classify, mask, strip_gave_up

TYPES = {"helpdesk": "zendesk", "vendor": "mantis"}


@pytest.mark.parametrize(
    ("reasons", "error", "detail"),
    [
        (
            [
                "GET tickets/4711.json failed: 401 Unauthorized: Couldn't authenticate you",
                "GET tickets/12.json failed: 401 Unauthorized: Couldn't authenticate you",
            ],
            "PermanentError",
            "HTTP 401 Unauthorized",
        ),
        (
            [
                "create MantisBT issue failed: 403 Forbidden: Access denied for issue 17",
                "gave up after 5 attempts over 3 h 2 min: create MantisBT issue failed: "
                "403 Forbidden: Access denied for issue 99",
            ],
            "PermanentError",
            "HTTP 403 Forbidden",
        ),
        (
            [
                "poll MantisBT failed: vendor: http://127.0.0.1:4101/api/rest/issues: "
                "ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=4101): Max retries",
                "poll MantisBT failed: vendor: http://127.0.0.1:4101/api/rest/issues?page=2: "
                "ConnectionError: HTTPConnectionPool(host='127.0.0.1', port=4101): refused",
            ],
            "RetryableError",
            "ConnectionError",
        ),
        (
            [
                "GET issues/5 failed: vendor: http://m/api/rest/issues/5 took longer than its "
                "30 s deadline (connect plus the whole answer)",
                "GET issues/8 failed: vendor: http://m/api/rest/issues/8 took longer than its "
                "12.5 s deadline (connect plus the whole answer)",
            ],
            "Unreachable",
            "deadline exceeded (the system answers too slowly)",
        ),
        (
            ["'tb-acme-3f9a0c1b2d' has no field 'x' at row 17", "'y' has no field 'z' at row 3"],
            "KeyError",
            "'…' has no field '…' at row #",
        ),
    ],
)
def test_one_cause_for_the_same_fault(reasons: list[str], error: str, detail: str) -> None:
    causes = {classify(r, error) for r in reasons}
    assert len(causes) == 1, causes
    (cause,) = causes
    assert (cause.error, cause.detail) == (error, detail)


def test_the_status_of_the_error_is_used_when_the_text_has_none() -> None:
    cause = classify("refused by the tracker", "PermanentError", status=422)
    assert cause.detail == "HTTP 422 Unprocessable Entity" and cause.status == 422
    assert classify("x failed: 403 Injected fault: no", "PermanentError").detail == (
        "HTTP 403 Forbidden"
    )  # the standard phrase, whatever the server says
    assert classify("x failed: 599 Odd", "RetryableError").detail == "HTTP 599"
    assert classify("x failed: 503 Service Unavailable", "RetryableError").status == 503


def test_different_faults_stay_apart() -> None:
    a = classify("GET t/1 failed: 401 Unauthorized", "PermanentError")
    b = classify("GET t/1 failed: 403 Forbidden", "PermanentError")
    c = classify("GET t/1 failed: 401 Unauthorized", "ConfigError")
    assert len({a, b, c}) == 3


def test_masking_keeps_words_and_cuts_long_texts() -> None:
    assert mask("job tb-acme-1a2b3c4d5e not found at https://x.example/a?b=1") == (
        "job # not found at <url>"
    )
    assert len(mask("word " * 100)) == 120
    assert strip_gave_up("gave up after 3 attempts over 2 min: boom") == "boom"


@pytest.mark.parametrize(
    ("reason", "named", "expected"),
    [
        ("whatever", "vendor", "vendor"),  # Unreachable names its system
        ("GET x failed: vendor: http://m/x: ConnectionError: refused", None, "vendor"),
        ("create MantisBT issue failed: 403 Forbidden", None, "vendor"),
        ("GET tickets/1.json failed: 401 Unauthorized", None, "helpdesk"),  # the default
    ],
)
def test_the_blamed_system(reason: str, named: str | None, expected: str) -> None:
    assert blamed_system(reason, ["helpdesk", "vendor"], TYPES, named, "helpdesk") == expected
