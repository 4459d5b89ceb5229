"""The guide's EmailMessage API (3, 5.1, 5.2, 6.1, 8) over the memory and console mailers."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import proper_mail
from proper_mail import (
    EmailMessage,
    Mail,
    MessageError,
    ToConsoleMailer,
    ToMemoryMailer,
    configure,
)
from proper_mail.tasks.serialization import load_message
from proper_mail.testing import outbox

SETTINGS: dict[str, Any] = {
    "MAILERS": {
        "memory": {"type": "proper_mail.ToMemoryMailer"},
        "console": {"type": "proper_mail.ToConsoleMailer", "stream": io.StringIO()},
    },
    "MAILER": "memory",
    "MAILER_DEFAULT_OPTIONS": {
        "from": "no-reply@example.com",
        "reply_to": ["support@example.com"],
        "headers": {"X-App": "MyApp"},
    },
}


@pytest.fixture
def app() -> Iterator[Mail]:
    """A configured Mail whose default mailer is the memory one."""
    previous = proper_mail.mail._current
    mail = configure(SETTINGS)
    yield mail
    proper_mail.mail._current = previous


class User:
    """The guide's user: a name and an email."""

    def __init__(self, name: str, email: str) -> None:
        self.name = name
        self.email = email


class BaseEmail(EmailMessage):
    """The app's base class (send_later arrives with the queue)."""


class WelcomeEmail(BaseEmail):
    """The guide's 4.2 WelcomeEmail, with a body until templates arrive."""

    subject = "Welcome to MyApp"

    def __init__(self, user: User, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.user = user
        self.dashboard_url = "https://myapp.example.com/dashboard"
        self.body = f"Hi {user.name}, go to {self.dashboard_url}"


class NewsletterEmail(BaseEmail):
    """The guide's 3.2: class-level subject, from_email and content_subtype."""

    subject = "Your weekly digest"
    from_email = "news@example.com"
    content_subtype = "html"


class Invoice:
    """An invoice with a total."""

    total = 42


class InvoiceEmail(BaseEmail):
    """The guide's 3.3: free-form attributes."""

    subject = "Your invoice"

    def __init__(self, invoice: Invoice, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.invoice = invoice
        self.total = invoice.total
        self.download_url = "https://myapp.example.com/invoices/1.pdf"


USER = User("Alice", "alice@example.com")


def test_guide_3_one_off_message(app: Mail) -> None:
    """EmailMessage(subject=..., body=..., to=...).send() lands in the outbox."""
    EmailMessage(subject="Welcome!", body="Thanks for signing up.", to="alice@example.com").send()

    sent = outbox(app)[-1]
    assert (sent["Subject"], sent["To"], sent["From"]) == (
        "Welcome!",
        "alice@example.com",
        "no-reply@example.com",
    )
    assert sent.get_content() == "Thanks for signing up.\n"


def test_guide_3_1_every_constructor_argument(app: Mail) -> None:
    """All the keyword-only arguments of 3.1 reach the message; Bcc only the envelope."""
    result = EmailMessage(
        from_email="hello@example.com",
        subject="Welcome!",
        body="Thanks for signing up.",
        to="alice@example.com",
        cc=["manager@example.com"],
        bcc=["audit@example.com"],
        reply_to=["support@example.com"],
        headers={"X-Campaign": "spring-launch"},
    ).send()

    sent = outbox(app)[-1]
    assert sent["Cc"] == "manager@example.com"
    assert sent["Reply-To"] == "support@example.com"
    assert sent["X-Campaign"] == "spring-launch"
    assert sent["X-App"] == "MyApp"
    assert sent["Bcc"] is None
    assert "audit@example.com" in result.accepted


def test_constructor_is_keyword_only() -> None:
    """Positional arguments are refused."""
    with pytest.raises(TypeError):
        EmailMessage("Welcome!")  # type: ignore[call-arg]


def test_guide_3_2_class_level_defaults(app: Mail) -> None:
    """subject, from_email and content_subtype set on the class apply to every instance."""
    email_ = NewsletterEmail(to="a@example.com", body="<h1>This week</h1>")
    email_.send()

    sent = outbox(app)[-1]
    assert (sent["Subject"], sent["From"], sent.get_content_type()) == (
        "Your weekly digest",
        "news@example.com",
        "text/html",
    )


def test_constructor_argument_overrides_the_class_default(app: Mail) -> None:
    """A constructor argument beats the class-level default for that instance only."""
    NewsletterEmail(to="a@example.com", subject="Special edition", body="x").send()
    NewsletterEmail(to="a@example.com", body="x").send()

    assert [m["Subject"] for m in outbox(app)[-2:]] == ["Special edition", "Your weekly digest"]


def test_class_level_recipients_and_headers(app: Mail) -> None:
    """Every field works at class level, to and headers included; headers merge."""

    class AuditEmail(EmailMessage):
        to = ["audit@example.com"]  # noqa: RUF012 - class-level defaults, as the guide writes them
        headers = {"X-Kind": "audit"}  # noqa: RUF012
        body = "Audit"

    AuditEmail(headers={"X-Run": 7}).send()

    sent = outbox(app)[-1]
    assert (sent["To"], sent["X-Kind"], sent["X-Run"]) == ("audit@example.com", "audit", "7")


def test_guide_3_3_free_form_attributes_are_kept(app: Mail) -> None:
    """Attributes set in __init__ beyond the fields are the template's variables."""
    invoice = Invoice()

    context = InvoiceEmail(invoice).template_context()

    assert context == {
        "invoice": invoice,
        "total": 42,
        "download_url": "https://myapp.example.com/invoices/1.pdf",
    }


def test_guide_3_5_update_after_construction(app: Mail) -> None:
    """update(to=..., headers={"X-Tenant": tenant.id}) then send(); an int id is str()-ed."""
    email_ = WelcomeEmail(USER)
    email_.update(to=USER.email, headers={"X-Tenant": 42})
    email_.send()

    sent = outbox(app)[-1]
    assert (sent["To"], sent["X-Tenant"], sent["Subject"]) == (USER.email, "42", "Welcome to MyApp")


def test_send_takes_the_update_fields(app: Mail) -> None:
    """WelcomeEmail(user).send(to=user.email): send() calls update() itself."""
    WelcomeEmail(USER).send(to=USER.email, subject="Hello")

    assert outbox(app)[-1]["Subject"] == "Hello"


def test_update_rejects_unknown_fields() -> None:
    """A typo in update() is a TypeError naming it, not a silent template variable."""
    with pytest.raises(TypeError, match="unknown field 'subjet'"):
        EmailMessage().update(subjet="x")


def test_send_returns_the_send_result(app: Mail) -> None:
    """send() returns per-recipient statuses, the Message-ID and the mailer alias."""
    result = EmailMessage(to=["a@example.com", "b@example.com"], body="x").send()

    assert result.accepted == ("a@example.com", "b@example.com")
    assert result.mailer == "memory"
    assert outbox(app)[-1]["Message-ID"] == result.message_id


def test_send_via_a_named_mailer(app: Mail) -> None:
    """send(via="console") routes one message through another mailer (6.4)."""
    result = EmailMessage(to="a@example.com", subject="Routed", body="x").send(via="console")

    stream = app.mailers["console"].stream  # type: ignore[attr-defined]
    assert result.mailer == "console"
    assert "Subject: Routed" in stream.getvalue()
    assert outbox(app) == []


def test_send_via_unknown_mailer_is_a_config_error(app: Mail) -> None:
    """An unknown via= raises ConfigError at the call site."""
    with pytest.raises(proper_mail.ConfigError, match="Unknown mailer 'postmark'"):
        EmailMessage(to="a@example.com", body="x").send(via="postmark")


def test_guide_5_1_attach_file(app: Mail, tmp_path: Path) -> None:
    """attach_file guesses the type from the extension; mimetype= overrides it."""
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.7 fake")
    csv = tmp_path / "data.csv"
    csv.write_bytes(b"a,b\n1,2\n")
    email_ = InvoiceEmail(Invoice(), body="See attached.")
    email_.attach_file(pdf)
    email_.attach_file(str(csv), mimetype="text/csv")

    email_.send(to="customer@example.com")

    sent = outbox(app)[-1]
    files = [
        (p.get_filename(), p.get_content_type(), p.get_payload(decode=True))
        for p in sent.iter_attachments()
    ]
    assert sent.get_content_type() == "multipart/mixed"
    assert files == [
        ("invoice.pdf", "application/pdf", b"%PDF-1.7 fake"),
        ("data.csv", "text/csv", b"a,b\n1,2\n"),
    ]


def test_attach_file_reads_the_file_at_once(tmp_path: Path) -> None:
    """A missing file fails in attach_file, naming the path, not later in a worker."""
    missing = tmp_path / "nope.pdf"

    with pytest.raises(MessageError, match="cannot read the file") as caught:
        EmailMessage().attach_file(missing)

    assert caught.value.value == str(missing)


def test_attach_file_inline_returns_a_content_id(app: Mail, tmp_path: Path) -> None:
    """attach_file(path, inline=True) returns the id for <img src="cid:...">."""
    logo = tmp_path / "logo.png"
    logo.write_bytes(b"\x89PNG\r\n\x1a\n")
    email_ = EmailMessage(to="a@example.com", content_subtype="html")

    cid = email_.attach_file(logo, inline=True)
    email_.body = f'<img src="cid:{cid}" alt="logo">'
    email_.send()

    related = outbox(app)[-1]
    _html, image = related.iter_parts()
    assert related.get_content_type() == "multipart/related"
    assert image["Content-ID"] == f"<{cid}>"


def test_guide_5_2_attach_alternative(app: Mail) -> None:
    """An html body with a text alternative: multipart/alternative, text first."""
    email_ = NewsletterEmail(to="a@example.com")
    email_.body = "<h1>This week</h1><p>...</p>"
    email_.content_subtype = "html"
    email_.attach_alternative("This week\n========\n\n...", "text/plain")

    email_.send()

    sent = outbox(app)[-1]
    assert [p.get_content_type() for p in sent.iter_parts()] == ["text/plain", "text/html"]
    assert sent.get_body(("plain",)).get_content().startswith("This week")  # type: ignore[union-attr]


def test_to_message_keeps_one_message_id(app: Mail) -> None:
    """The Date and Message-ID are fixed once per EmailMessage: retries reuse them."""
    email_ = EmailMessage(to="a@example.com", body="x")

    first, second = email_.to_message(), email_.to_message()

    assert (first.message_id, first.date) == (second.message_id, second.date)


def test_serialize_round_trips_through_json(app: Mail) -> None:
    """serialize() gives a JSON-safe EmailMessageDict that loads back to the same record."""
    import json

    email_ = InvoiceEmail(Invoice(), body="x", to="a@example.com", bcc="audit@example.com")
    email_.attach("notes.txt", "héllo")

    data = email_.serialize()

    assert load_message(json.loads(json.dumps(data))) == email_.to_message()
    assert data["bcc"] == ["audit@example.com"]


def test_guide_8_the_testing_pattern(app: Mail) -> None:
    """The guide's section 8 assertions hold on the memory outbox."""
    user = User("Alice", "alice@example.com")

    class PasswordResetEmail(BaseEmail):
        subject = "Reset your password"
        body = "Reset it here: https://myapp.example.com/reset"

    PasswordResetEmail().send(to=user.email)

    # The guide's section 8, verbatim (the mailer is typed BaseMailer, hence the ignores;
    # proper_mail.testing.outbox(app) is the typed spelling).
    assert len(app.mailer.outbox) == 1  # type: ignore[attr-defined]
    email = app.mailer.outbox[0]  # type: ignore[attr-defined]
    assert email["Subject"] == "Reset your password"
    assert email["To"] == user.email
    assert "Reset" in email.get_body(("plain", "html")).get_content()


def test_bcc_is_checked_on_the_sent_records(app: Mail) -> None:
    """Bcc is not in outbox headers; the record and the envelope beside it have it."""
    EmailMessage(to="a@example.com", bcc="audit@example.com", body="x").send()
    mailer = app.mailer
    assert isinstance(mailer, ToMemoryMailer)

    assert mailer.outbox[-1]["Bcc"] is None
    assert [str(a) for a in mailer.sent[-1].bcc] == ["audit@example.com"]
    assert "audit@example.com" in mailer.envelopes[-1].recipients


def test_clear_empties_the_outbox(app: Mail) -> None:
    """clear() resets the outbox between tests."""
    EmailMessage(to="a@example.com", body="x").send()
    mailer = app.mailer
    assert isinstance(mailer, ToMemoryMailer)

    mailer.clear()

    assert (mailer.outbox, mailer.sent, mailer.envelopes) == ([], [], [])


def test_console_output_is_readable() -> None:
    """The console shows decoded headers and text, then a --- line (7.1)."""
    stream = io.StringIO()
    mailer = ToConsoleMailer(stream=stream)
    message = Mail.from_settings(SETTINGS).compose(
        to="Zoë <zoe@münchen.de>",
        bcc="audit@example.com",
        subject="Grüße aus München",
        body="Schöne Grüße\n",
    )

    mailer.send_now(message)

    out = stream.getvalue()
    assert "Subject: Grüße aus München\n" in out
    assert "To: Zoë <zoe@xn--mnchen-3ya.de>\n" in out
    assert "Bcc (envelope only): audit@example.com\n" in out
    assert "Schöne Grüße\n" in out
    assert "=?utf-8?" not in out
    assert "Sch=C3" not in out
    assert out.endswith("---\n")


def test_console_raw_prints_the_wire_bytes() -> None:
    """raw=True prints the message as it goes on the wire."""
    stream = io.StringIO()
    message = Mail.from_settings(SETTINGS).compose(to="a@example.com", subject="Grüße", body="x")

    ToConsoleMailer(stream=stream, raw=True).send_now(message)

    assert "Subject: =?utf-8?b?R3LDvMOfZQ==?=\n" in stream.getvalue()


def test_console_is_thread_safe() -> None:
    """Eight threads printing at once never interleave two messages."""
    import threading

    stream = io.StringIO()
    mailer = ToConsoleMailer(stream=stream)
    mail = Mail.from_settings(SETTINGS)
    messages = [
        mail.compose(to="a@example.com", subject=f"n{i}", body=f"body {i}\n" * 50) for i in range(8)
    ]

    threads = [threading.Thread(target=mailer.send_now, args=(m,)) for m in messages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    chunks = stream.getvalue().split("---\n")[:-1]
    assert len(chunks) == 8
    for chunk in chunks:
        n = chunk.split("Subject: n", 1)[1].split("\n", 1)[0]
        assert chunk.count(f"body {n}\n") == 50
