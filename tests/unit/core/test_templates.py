"""Pure template rules: discovery, the 4-case table, HTML -> text, CSS inlining, URL check."""

from __future__ import annotations

import pytest

from proper_mail import EmailTemplateNotFound
from proper_mail.core.templates import (
    Bodies,
    TemplatePaths,
    choose_bodies,
    html_to_text,
    inline_css,
    relative_urls,
    template_name_of,
    template_paths,
)

PATHS = template_paths("myapp.emails.welcome_email")


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("myapp.emails.welcome_email", "welcome"),
        ("myapp.emails.password_reset_email", "password_reset"),
        ("myapp.emails.welcome", "welcome"),
        ("welcome_email", "welcome"),
        ("myapp.emails.email", "email"),
        ("myapp.emails._email", "_email"),
    ],
)
def test_discovery_strips_the_email_suffix(module: str, name: str) -> None:
    """The module's last part, minus an _email suffix, names the templates (4.1)."""
    assert template_name_of(module) == name


def test_template_paths() -> None:
    """emails/<name>.jx is the HTML template, emails/<name>.txt.jx the text one."""
    assert TemplatePaths("emails/welcome.jx", "emails/welcome.txt.jx") == PATHS


def test_both_templates_give_html_with_their_text() -> None:
    """Row 1: HTML and text present -> multipart/alternative with both."""
    bodies = choose_bodies(PATHS, "<p>Hi</p>", "Hi\n", body="", content_subtype="plain")

    assert bodies == Bodies("<p>Hi</p>", "html", (("Hi\n", "text/plain"),))


def test_html_only_generates_the_text() -> None:
    """Row 2: HTML only -> multipart/alternative with a generated text part."""
    bodies = choose_bodies(PATHS, "<p>Hi <b>there</b></p>", None, body="", content_subtype="plain")

    assert bodies == Bodies("<p>Hi <b>there</b></p>", "html", (("Hi there\n", "text/plain"),))


def test_text_only_is_plain() -> None:
    """Row 3: text only -> plain text."""
    assert choose_bodies(PATHS, None, "Hi\n", body="", content_subtype="html") == Bodies(
        "Hi\n", "plain"
    )


def test_neither_uses_the_body() -> None:
    """Row 4: no template -> the constructor's or class's body."""
    assert choose_bodies(PATHS, None, None, body="Hi", content_subtype="html") == Bodies(
        "Hi", "html"
    )


def test_neither_and_no_body_names_both_paths() -> None:
    """No template and no body: EmailTemplateNotFound (a LookupError) naming both paths."""
    with pytest.raises(EmailTemplateNotFound) as caught:
        choose_bodies(PATHS, None, None, body="", content_subtype="plain")

    assert isinstance(caught.value, LookupError)
    assert "emails/welcome.jx" in str(caught.value)
    assert "emails/welcome.txt.jx" in str(caught.value)


@pytest.mark.parametrize(
    ("html", "text"),
    [
        (
            '<p>Go to <a href="https://x.com/d">your dashboard</a>.</p>',
            "Go to your dashboard (https://x.com/d).\n",
        ),
        ('<p><a href="https://x.com/r">https://x.com/r</a></p>', "https://x.com/r\n"),
        ('<a href="mailto:help@x.com">help@x.com</a>', "help@x.com\n"),
        ("<p>Tom &amp; Jerry &lt;3 &eacute;</p>", "Tom & Jerry <3 é\n"),
        ("<p>a<br>b</p><p>c</p>", "a\nb\n\nc\n"),
        ("<ul><li>one</li><li>two</li></ul>", "  * one\n  * two\n"),
        ("<h1>Hello</h1><p>x</p>", "HELLO\n\nx\n"),
        ("<p>1. not a list * _not_ **markdown**</p>", "1. not a list * _not_ **markdown**\n"),
        (
            "<table><tr><td>Widget</td><td>9.99</td></tr><tr><td>Gadget</td><td>19.99</td></tr></table>",
            "Widget  9.99\nGadget  19.99\n",
        ),
        ("<style>p{color:red}</style><p>x</p><script>alert(1)</script>", "x\n"),
        ("", ""),
    ],
)
def test_html_to_text_reads_well(html: str, text: str) -> None:
    """Links keep URLs; entities decoded; lists, headings, tables laid out; no Markdown escapes."""
    assert html_to_text(html) == text


def test_css_is_inlined_and_media_queries_kept() -> None:
    """<style> rules become style="" attributes; @media rules stay in a <style> block."""
    html = (
        "<html><head><style>p { color: red } @media (max-width: 600px) { p { color: blue } }"
        "</style></head><body><p>x</p></body></html>"
    )

    out = inline_css(html)

    assert '<p style="color: red;">x</p>' in out
    assert "@media (max-width: 600px)" in out
    assert "<style>" in out


def test_remote_stylesheets_are_never_fetched() -> None:
    """A <link rel=stylesheet> to the network is left alone: no I/O in the core."""
    html = '<html><head><link rel="stylesheet" href="http://127.0.0.1:9/x.css"></head><body><p>x</p></body></html>'

    assert "<p>x</p>" in inline_css(html)


def test_relative_urls_are_found() -> None:
    """href/src values that are not absolute are reported; cid:, mailto:, # are fine."""
    html = (
        '<a href="/dashboard">a</a><a href="https://x.com">b</a><img src="logo.png">'
        '<img src="cid:logo@x"><a href="mailto:a@x.com">c</a><a href="#top">d</a>'
    )

    assert relative_urls(html) == ["/dashboard", "logo.png"]
