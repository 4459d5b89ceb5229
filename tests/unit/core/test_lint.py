"""The preview's lint rules, over composed records."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from proper_mail.core.compose import compose
from proper_mail.core.lint import GMAIL_CLIP_BYTES, LintIssue, lint_message, lint_summary
from proper_mail.core.records import Stamp

STAMP = Stamp(dt.datetime(2026, 11, 27, tzinfo=dt.UTC), "t")
CLEAN = '<p><a href="https://x.com/a">a</a> <img src="https://x.com/i.png" alt="logo"></p>'


def codes(**fields: Any) -> list[str]:
    """The lint codes for a message built from *fields*."""
    base: dict[str, Any] = {
        "stamp": STAMP,
        "from_email": "a@example.com",
        "to": "b@example.com",
        "subject": "Hello",
    }
    return [issue.code for issue in lint_message(compose(**{**base, **fields}))]


def test_a_clean_message_has_no_issues() -> None:
    """HTML with a text twin, absolute https links and alt texts: nothing to say."""
    assert codes(body=CLEAN, content_subtype="html", alternatives=[("a", "text/plain")]) == []


def test_plain_text_only_is_not_linted() -> None:
    """A text-only email has no HTML to check."""
    assert codes(body="Hello") == []


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        (CLEAN, ["no-text-part"]),
        ('<a href="/dashboard">x</a>', ["no-text-part", "relative-url"]),
        ('<img src="https://x.com/i.png">', ["no-text-part", "img-no-alt"]),
        ('<a href="http://x.com">x</a>', ["no-text-part", "insecure-link"]),
        ("<p>" + "x" * GMAIL_CLIP_BYTES + "</p>", ["no-text-part", "html-too-large"]),
    ],
)
def test_each_rule(html: str, expected: list[str]) -> None:
    """No text part, relative URL, image without alt, http link, HTML over 102 KB."""
    assert codes(body=html, content_subtype="html") == expected


def test_an_html_alternative_is_linted_too() -> None:
    """A plain body with an HTML alternative: the alternative is checked."""
    assert codes(body="text", alternatives=[('<a href="/x">x</a>', "text/html")]) == [
        "relative-url"
    ]


@pytest.mark.parametrize("subject", ["", "   "])
def test_an_empty_subject_is_an_issue(subject: str) -> None:
    """An empty (or blank) subject is reported, for text-only emails too."""
    assert codes(body="Hello", subject=subject) == ["no-subject"]


@pytest.mark.parametrize(
    ("codes_found", "expected"),
    [
        ([], "no issues"),
        (["no-subject"], "1 warning: no-subject"),
        (
            ["relative-url", "no-subject", "relative-url"],
            "3 warnings: relative-url (2), no-subject",
        ),
    ],
)
def test_the_summary_counts_issues_by_code(codes_found: list[str], expected: str) -> None:
    """One line: the number of issues, the codes in order of first appearance, repeats counted."""
    issues = [LintIssue(code, "x") for code in codes_found]

    assert lint_summary(issues) == expected
