"""Lint rules for a composed message, for the preview server and ``proper-mail check`` (pure).

- ``no-subject``: an empty subject (many clients show "(no subject)"; spam filters mind).
- ``no-text-part``: HTML without a text/plain twin (spam filters and some readers mind).
- ``relative-url``: a link or image that is not absolute is a 404 in an inbox.
- ``html-too-large``: Gmail clips HTML over 102 KB behind a "View entire message" link.
- ``img-no-alt``: an image without ``alt`` shows nothing when images are blocked.
- ``insecure-link``: an ``http://`` link or image.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import attrs
import lxml.html

from .records import Message
from .templates import relative_urls

__all__ = ["GMAIL_CLIP_BYTES", "LintIssue", "html_of", "lint_message", "lint_summary"]

GMAIL_CLIP_BYTES = 102 * 1024


@attrs.frozen
class LintIssue:
    """One finding: a short code and a sentence."""

    code: str
    message: str


def html_of(message: Message) -> str | None:
    """The HTML body of *message*, if it has one."""
    if message.content_subtype == "html":
        return message.body
    return next((a.content for a in message.alternatives if a.mimetype == "text/html"), None)


def lint_message(message: Message) -> tuple[LintIssue, ...]:
    """Every issue the rules find in *message*, in rule order."""
    issues: list[LintIssue] = []
    if not message.subject.strip():
        issues.append(LintIssue("no-subject", "the subject is empty"))
    html = html_of(message)
    if html is None:
        return tuple(issues)
    has_text = message.content_subtype == "plain" or any(
        a.mimetype == "text/plain" for a in message.alternatives
    )
    if not has_text:
        issues.append(LintIssue("no-text-part", "the HTML has no text/plain alternative"))
    issues.extend(
        LintIssue("relative-url", f"relative URL {url!r}: use an absolute one")
        for url in relative_urls(html)
    )
    size = len(html.encode(message.charset, "replace"))
    if size > GMAIL_CLIP_BYTES:
        issues.append(
            LintIssue("html-too-large", f"the HTML is {size:,} bytes; Gmail clips it over 102 KB")
        )
    if html.strip():
        tree = lxml.html.fromstring(html)
        for image in tree.iter("img"):
            if image.get("alt") is None:
                src = image.get("src", "")
                issues.append(LintIssue("img-no-alt", f"image {src!r} has no alt text"))
        for element in tree.iter("a", "img"):
            url = (element.get("href") or element.get("src") or "").strip()
            if url.lower().startswith("http://"):
                issues.append(LintIssue("insecure-link", f"{url!r} is not https"))
    return tuple(issues)


def lint_summary(issues: Sequence[LintIssue]) -> str:
    """One line about *issues*: ``no issues``, or ``3 warnings: relative-url (2), no-subject``.

    Codes in order of first appearance, with a count when one repeats.
    """
    if not issues:
        return "no issues"
    counts = Counter(issue.code for issue in issues)
    codes = ", ".join(code if n == 1 else f"{code} ({n})" for code, n in counts.items())
    noun = "warning" if len(issues) == 1 else "warnings"
    return f"{len(issues)} {noun}: {codes}"
