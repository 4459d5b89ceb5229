"""Templates rendered through the configured app: the guide's 1.2, 1.3, 4.1-4.3 with real files."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import proper_mail
from proper_mail import EmailMessage, Mail, TemplateError, ToMemoryMailer, configure

LAYOUT = """{#def lang='en' #}

<!DOCTYPE html>
<html lang="{{ lang }}">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width,initial-scale=1">
    <style>
      /* Email styles need to be inline */
      p { color: #333333; }
      @media (max-width: 600px) { p { font-size: 18px; } }
    </style>
  </head>
  <body>
    {{ content }}
  </body>
</html>
"""
PASSWORD_RESET = """{#import "layouts/email.jx" as Layout #}

{#def subject, validate_url, reset_url #}

<Layout>
  <p>
    I heard that you lost your password. Sorry about that!
  </p>
  <p>
    But don't worry! You can use the following link to reset your password:
    <a href="{{ validate_url }}">{{ validate_url }}</a>.
  </p>
  <p>
    If you don't use this link within 3 hours, it will expire.
    To get a new password reset link, visit
    <a href="{{ reset_url }}">{{ reset_url }}</a>.
  </p>
</Layout>
"""
WELCOME = (  # the guide's 4.2 template, trailing space included
    """{#import "layouts/email.jx" as Layout #}

{#def user, dashboard_url #}

<Layout>
  <p>Hi {{ user.name }},</p>
  <p>
    Your account is ready.\x20
    <a href="{{ dashboard_url }}">Go to your dashboard</a>.
  </p>
</Layout>
"""
)


@pytest.fixture
def views(tmp_path: Path) -> Path:
    """A views folder with the guide's layout and templates."""
    root = tmp_path / "views"
    (root / "layouts").mkdir(parents=True)
    (root / "emails").mkdir()
    (root / "images").mkdir()
    (root / "layouts" / "email.jx").write_text(LAYOUT)
    (root / "emails" / "password_reset.jx").write_text(PASSWORD_RESET)
    (root / "emails" / "welcome.jx").write_text(WELCOME)
    (root / "images" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    return root


@pytest.fixture
def app(views: Path) -> Iterator[Mail]:
    """A configured Mail over *views*, memory mailer, absolute URLs from PROTOCOL/HOST."""
    previous = proper_mail.mail._current
    mail = configure(
        {
            "MAILERS": {"memory": {"type": "proper_mail.ToMemoryMailer"}},
            "MAILER_DEFAULT_OPTIONS": {"from": "no-reply@example.com"},
            "VIEWS": views,
            "PROTOCOL": "https",
            "HOST": "myapp.example.com",
        }
    )
    yield mail
    proper_mail.mail._current = previous


def sent(app: Mail) -> Any:
    """The last message in the outbox."""
    mailer = app.mailer
    assert isinstance(mailer, ToMemoryMailer)
    return mailer.outbox[-1]


class User:
    """A user."""

    name = "Tom & Jerry"
    email = "tom@example.com"


class PasswordResetEmail(EmailMessage):
    """The guide's 1.1 class (URLs given directly)."""

    subject = "Reset your password"

    def __init__(self, user: User, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.validate_url = "https://myapp.example.com/password-reset/abc?x=1&y=2"
        self.reset_url = "https://myapp.example.com/password-reset/new"


PasswordResetEmail.__module__ = "myapp.emails.password_reset_email"


class WelcomeEmail(EmailMessage):
    """The guide's 4.2 class."""

    subject = "Welcome to MyApp"

    def __init__(self, user: User, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = user
        self.dashboard_url = "https://myapp.example.com/dashboard"


WelcomeEmail.__module__ = "myapp.emails.welcome_email"


def test_the_guide_templates_render(app: Mail) -> None:
    """password_reset.jx in the layout: html with a generated text part, URLs escaped."""
    PasswordResetEmail(User()).send(to="alice@example.com")

    message = sent(app)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    assert "https://myapp.example.com/password-reset/abc?x=1&amp;y=2" in html
    assert "I heard that you lost your password." in text
    assert "https://myapp.example.com/password-reset/abc?x=1&y=2" in text


def test_html_is_escaped_and_text_is_not(app: Mail, views: Path) -> None:
    """Autoescape: on for .jx (Tom &amp; Jerry), off for .txt.jx (Tom & Jerry)."""
    (views / "emails" / "welcome.txt.jx").write_text(
        "{#def user, dashboard_url #}\nHi {{ user.name }}, see {{ dashboard_url }}\n"
    )

    WelcomeEmail(User()).send(to="tom@example.com")

    message = sent(app)
    assert "Hi Tom &amp; Jerry," in message.get_body(("html",)).get_content()
    assert message.get_body(("plain",)).get_content() == (
        "Hi Tom & Jerry, see https://myapp.example.com/dashboard\n"
    )


@pytest.mark.parametrize(
    ("html", "text", "body", "shape"),
    [
        (True, True, "", ["text/plain", "text/html"]),
        (True, False, "", ["text/plain", "text/html"]),
        (False, True, "", "text/plain"),
        (False, False, "From the class", "text/plain"),
    ],
)
def test_the_four_rows_of_the_table(
    app: Mail, views: Path, html: bool, text: bool, body: str, shape: object
) -> None:
    """HTML+text, HTML only, text only, neither: the guide's 4.1 table."""
    if html:
        (views / "emails" / "digest.jx").write_text("{#def subject #}<p>HTML {{ subject }}</p>")
    if text:
        (views / "emails" / "digest.txt.jx").write_text("{#def subject #}TEXT {{ subject }}\n")

    class DigestEmail(EmailMessage):
        subject = "Digest"

    DigestEmail.__module__ = "myapp.emails.digest_email"
    DigestEmail.body = body
    DigestEmail(to="a@example.com").send()

    message = sent(app)
    got = (
        [p.get_content_type() for p in message.iter_parts()]
        if message.is_multipart()
        else message.get_content_type()
    )
    assert got == shape
    plain = message.get_body(("plain",)).get_content()
    assert plain == {(True, True): "TEXT Digest\n", (True, False): "HTML Digest\n"}.get(
        (html, text), plain
    )


def test_no_template_and_no_body_is_email_template_not_found(app: Mail) -> None:
    """Neither a template nor a body: EmailTemplateNotFound naming both paths."""

    class GhostEmail(EmailMessage):
        pass

    GhostEmail.__module__ = "myapp.emails.ghost_email"

    with pytest.raises(
        proper_mail.EmailTemplateNotFound, match=r"emails/ghost\.jx.*emails/ghost\.txt\.jx"
    ):
        GhostEmail(to="a@example.com").send()


def test_an_undeclared_variable_names_the_template_and_the_variable(app: Mail, views: Path) -> None:
    """Using a variable not passed is an error naming the file, line and variable."""
    (views / "emails" / "broken.jx").write_text(
        "{#def subject #}\n<p>{{ subject }}</p>\n<p>{{ missing_thing }}</p>\n"
    )

    class BrokenEmail(EmailMessage):
        subject = "x"

    BrokenEmail.__module__ = "myapp.emails.broken_email"

    with pytest.raises(TemplateError) as caught:
        BrokenEmail(to="a@example.com").send()

    assert "missing_thing" in str(caught.value)
    assert "emails/broken.jx:3" in str(caught.value)


def test_a_missing_declared_argument_is_an_error(app: Mail) -> None:
    """A {#def#} argument the email does not set: a TemplateError naming it."""

    class HalfEmail(EmailMessage):
        subject = "x"

    HalfEmail.__module__ = "myapp.emails.password_reset_email"

    with pytest.raises(TemplateError, match="validate_url"):
        HalfEmail(to="a@example.com").send()


def test_a_reserved_attribute_name_is_a_clear_error(app: Mail) -> None:
    """An attribute jx reserves (content) is refused, not silently overridden."""
    email_ = WelcomeEmail(User(), to="a@example.com")
    email_.content = "oops"  # type: ignore[attr-defined]

    with pytest.raises(TemplateError, match="'content' is a name jx reserves"):
        email_.send()


def test_css_is_inlined_and_media_queries_kept(app: Mail) -> None:
    """The layout's <style> rules become style attributes; @media stays in <style>."""
    PasswordResetEmail(User()).send(to="a@example.com")

    html = sent(app).get_body(("html",)).get_content()
    assert '<p style="color: #333333;">' in html
    assert "@media (max-width: 600px)" in html


def test_css_inlining_can_be_switched_off(views: Path) -> None:
    """CSS_INLINING=False keeps the layout's <style> as written."""
    mail = Mail.from_settings(
        {
            "MAILERS": {"m": {"type": ToMemoryMailer}},
            "VIEWS": views,
            "CSS_INLINING": False,
            "MAILER_DEFAULT_OPTIONS": {"from": "a@example.com"},
        }
    )

    message = PasswordResetEmail(User(), to="a@example.com").to_message(mail)

    assert "<p>" in message.body
    assert "p { color: #333333; }" in message.body


def test_inline_images_from_a_template(app: Mail, views: Path) -> None:
    """inline_image() attaches a file as a cid part; the HTML goes in multipart/related."""
    (views / "emails" / "logo.jx").write_text(
        '{#def subject #}<p><img src="{{ inline_image(\'images/logo.png\') }}" alt="logo"></p>'
    )

    class LogoEmail(EmailMessage):
        subject = "Logo"

    LogoEmail.__module__ = "myapp.emails.logo_email"
    LogoEmail(to="a@example.com").send()

    message = sent(app)
    related = message.get_body(("related",))
    html_part, image = related.iter_parts()
    cid = image["Content-ID"].strip("<>")
    assert f'src="cid:{cid}"' in html_part.get_content()
    assert image.get_content() == b"\x89PNG\r\n\x1a\nfake"


def test_inline_image_cannot_leave_the_views_folder(app: Mail, views: Path) -> None:
    """inline_image("../secret") is refused."""
    (views / "emails" / "sneaky.jx").write_text(
        "{#def subject #}<img src=\"{{ inline_image('../../etc/passwd') }}\">"
    )

    class SneakyEmail(EmailMessage):
        subject = "x"

    SneakyEmail.__module__ = "myapp.emails.sneaky_email"

    with pytest.raises(TemplateError, match="leaves the views folder"):
        SneakyEmail(to="a@example.com").send()


def test_url_helper_builds_absolute_urls(app: Mail, views: Path) -> None:
    """url("/path") in a template gives PROTOCOL://HOST/path (the guide, 4.3)."""
    (views / "emails" / "link.jx").write_text(
        "{#def subject #}<a href=\"{{ url('/things/42') }}\">x</a>"
    )

    class LinkEmail(EmailMessage):
        subject = "x"

    LinkEmail.__module__ = "myapp.emails.link_email"
    LinkEmail(to="a@example.com").send()

    assert (
        'href="https://myapp.example.com/things/42"' in sent(app).get_body(("html",)).get_content()
    )


def test_edited_and_new_templates_show_without_a_restart(app: Mail, views: Path) -> None:
    """auto_reload: an edited template and one created after start-up are picked up."""

    class NewsEmail(EmailMessage):
        subject = "x"

    NewsEmail.__module__ = "myapp.emails.news_email"
    NewsEmail(to="a@example.com", body="fallback").send()
    (views / "emails" / "news.txt.jx").write_text("{#def subject #}version 1\n")
    NewsEmail(to="a@example.com").send()
    first = sent(app).get_content()
    time.sleep(0.01)
    (views / "emails" / "news.txt.jx").write_text("{#def subject #}version 2 (edited)\n")
    NewsEmail(to="a@example.com").send()

    assert first == "version 1\n"
    assert sent(app).get_content() == "version 2 (edited)\n"


def test_rendering_happens_when_the_message_is_composed(app: Mail) -> None:
    """to_message() renders: the record has the bodies, so a queue never needs the views."""
    message = WelcomeEmail(User(), to="a@example.com").to_message()

    assert message.content_subtype == "html"
    assert "Go to your dashboard" in message.body
    assert message.alternatives[0].mimetype == "text/plain"
