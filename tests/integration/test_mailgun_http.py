"""MailgunMailer end to end, configured as a user does, against a local stand-in of the
Messages API (tests/provider_server.py) that reads each multipart/form-data request as
Mailgun does: Basic auth, field names, repeated fields, file parts and their bytes, and
on the MIME endpoint the message itself.

What the stand-in checks and answers comes from Mailgun's reference:
https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages
(from, to, subject required; text or html; 200 {"id", "message"}; 400 {"message"};
401 "Forbidden"; 429 "... try again after 120 seconds") and
https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/send-attachments
(attachment and inline files, cid:<filename>).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import proper_mail
from proper_mail import (
    Attachment,
    ConfigError,
    EmailMessage,
    Mail,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
)
from proper_mail.mail import configured_mail, restore_current
from tests.multipart_form import Field, parse_form, values
from tests.provider_server import ProviderServer, Received, Reply, Respond

API_KEY = "key-integration-secret"
DOMAIN = "mg.example.com"
MAILGUN_ID = "<20261202090000.1.ABCDEF@mg.example.com>"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake png \r\n--x \xff\x00"


def check_as_mailgun(request: Received) -> tuple[str, list[Field]]:
    """What Mailgun verifies before it queues a message; the endpoint and the fields."""
    assert request.method == "POST"
    endpoint = request.path.removeprefix(f"/v3/{DOMAIN}/")
    assert endpoint in ("messages", "messages.mime"), request.path
    scheme, _, credentials = request.headers["authorization"].partition(" ")
    assert scheme == "Basic"
    assert base64.b64decode(credentials) == f"api:{API_KEY}".encode()
    fields = parse_form(request.body, request.headers["content-type"])
    names = [f.name for f in fields]
    assert "to" in names, "to parameter is missing"
    if endpoint == "messages":
        assert names.count("from") == 1, "from parameter is missing"
        assert names.count("subject") == 1
        assert "text" in names or "html" in names, "Need at least one of 'text' or 'html'"
        for field in fields:
            if field.name in ("attachment", "inline"):
                assert field.filename, "a file part has a filename"
                assert field.content_type
    else:
        (message,) = [f for f in fields if f.name == "message"]
        assert message.filename, "'message' parameter is not a file"
    options = sum(len(f.name) + len(f.data) for f in fields if f.name[:2] in ("o:", "h:", "v:"))
    assert options <= 16 * 1024, "Send options are limited to 16KB total"
    assert names.count("o:tag") <= 3
    return endpoint, fields


def queued(request: Received) -> Reply:
    check_as_mailgun(request)
    return Reply(200, {"id": MAILGUN_ID, "message": "Queued. Thank you."})


Servers = Callable[[Respond], ProviderServer]


@pytest.fixture
def serve() -> Iterator[Servers]:
    """Start ProviderServers with a respond function; at teardown, stop them and raise
    the first failed check (a failed check answers 599, which the mailer reports)."""
    servers: list[ProviderServer] = []

    def start(respond: Respond) -> ProviderServer:
        server = ProviderServer(respond).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)
    for server in servers:
        server.check()


@pytest.fixture(autouse=True)
def _restore_mail() -> Iterator[None]:
    """Each test configures its own Mail; the previous one is current again afterwards."""
    previous = configured_mail()
    yield
    current = configured_mail()
    if current is not None and current is not previous:
        current.close()
    restore_current(previous)


def configure(server: ProviderServer, **options: Any) -> Mail:
    return proper_mail.configure(
        MAILERS={
            "mailgun": {
                "type": "proper_mail.MailgunMailer",
                "api_key": API_KEY,
                "domain": DOMAIN,
                "base_url": server.url,
                "timeout": 5,
                **options,
            }
        },
        MAILER="mailgun",
        MAILER_DEFAULT_OPTIONS={"from": "Shop <orders@mg.example.com>"},
    )


def test_send_posts_the_form_mailgun_reads(serve: Servers) -> None:
    """proper_mail.send(): repeated to/cc/bcc, text and html, h: headers, attachment and
    inline files with their bytes, tags and variables; the 200's id is the provider_id."""
    server = serve(queued)
    configure(server, test_mode=True)
    message = proper_mail.compose(
        to=["Zoë <zoe@münchen.de>", '"Doe, Jane" <jane@example.com>'],
        cc="charlie@example.com",
        bcc="dana@example.com",
        reply_to="Support <support@example.com>",
        subject="Your order №42",
        body="<p>Thanks! <img src='cid:logo.png'></p>",
        content_subtype="html",
        alternatives=[("Thanks!", "text/plain")],
        attachments=[
            Attachment("invoice.pdf", b"%PDF-1.7 \x00\xff\r\n", "application/pdf"),
            Attachment("logo.png", PNG, "image/png", "inline", "logo.png"),
        ],
        headers={"List-Unsubscribe": "<https://shop.example.com/u/1>"},
        tags=["orders", "eu"],
        metadata={"order_id": 42},
    )

    result = proper_mail.send(message)

    (request,) = server.received
    endpoint, fields = check_as_mailgun(request)
    assert endpoint == "messages"
    assert values(fields, "from") == ["Shop <orders@mg.example.com>"]
    assert values(fields, "to") == ["Zoë <zoe@xn--mnchen-3ya.de>", '"Doe, Jane" <jane@example.com>']
    assert values(fields, "cc") == ["charlie@example.com"]
    assert values(fields, "bcc") == ["dana@example.com"]
    assert values(fields, "subject") == ["Your order №42"]
    assert values(fields, "text") == ["Thanks!"]
    assert values(fields, "html") == ["<p>Thanks! <img src='cid:logo.png'></p>"]
    assert values(fields, "h:Reply-To") == ["Support <support@example.com>"]
    assert values(fields, "h:List-Unsubscribe") == ["<https://shop.example.com/u/1>"]
    assert values(fields, "h:Message-Id") == [message.message_id]
    assert values(fields, "o:tag") == ["orders", "eu"]
    assert values(fields, "o:testmode") == ["yes"]
    assert json.loads(values(fields, "h:X-Mailgun-Variables")[0]) == {
        "order_id": "42",
        "proper_mail_id": message.message_id.strip("<>"),
    }
    files = [(f.name, f.filename, f.content_type, f.data) for f in fields if f.filename]
    assert files == [
        ("attachment", "invoice.pdf", "application/pdf", b"%PDF-1.7 \x00\xff\r\n"),
        ("inline", "logo.png", "image/png", PNG),
    ]
    assert result.provider_id == MAILGUN_ID
    assert result.mailer == "mailgun"
    assert [(r.address, r.status) for r in result.recipients] == [
        ("zoe@xn--mnchen-3ya.de", "queued"),
        ("jane@example.com", "queued"),
        ("charlie@example.com", "queued"),
        ("dana@example.com", "queued"),
    ]


def test_an_inline_image_by_content_id_goes_as_mime(serve: Servers) -> None:
    """A cid that is not the file's name: the MIME endpoint gets our MIME and the envelope."""
    server = serve(queued)
    configure(server)
    message = proper_mail.compose(
        to="a@example.com",
        bcc="hidden@example.com",
        subject="Logo",
        body="<img src='cid:logo@shop'>",
        content_subtype="html",
        attachments=[Attachment("logo.png", PNG, "image/png", "inline", "logo@shop")],
        tags=["logo"],
    )

    result = proper_mail.send(message)

    endpoint, fields = check_as_mailgun(server.received[0])
    assert endpoint == "messages.mime"
    assert values(fields, "to") == ["a@example.com", "hidden@example.com"]
    assert values(fields, "o:tag") == ["logo"]
    (mime,) = [f for f in fields if f.name == "message"]
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(mime.data)
    assert parsed["Message-ID"] == message.message_id
    assert "Bcc" not in parsed
    (image,) = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    assert image["Content-ID"] == "<logo@shop>"
    assert image.get_payload(decode=True) == PNG
    assert result.accepted == ("a@example.com", "hidden@example.com")


def test_an_email_class_sends_through_mailgun(serve: Servers) -> None:
    """The guide's EmailMessage(...).send() reaches Mailgun through the configured mailer."""
    server = serve(queued)
    configure(server)

    result = EmailMessage(to="alice@example.com", subject="Welcome!", body="Thanks.").send()

    _, fields = check_as_mailgun(server.received[0])
    assert values(fields, "text") == ["Thanks."]
    assert result.accepted == ("alice@example.com",)


def test_send_later_in_immediate_mode_posts_once(serve: Servers) -> None:
    """QUEUE=immediate: send_later goes through the queue's task and posts at once."""
    server = serve(queued)
    configure(server)
    message = proper_mail.compose(to="a@example.com", subject="Later", body="x")

    proper_mail.send_later(message)

    (request,) = server.received
    _, fields = check_as_mailgun(request)
    assert values(fields, "h:Message-Id") == [message.message_id]


@pytest.mark.parametrize(
    ("reply", "error_type", "retry_after"),
    [
        (
            Reply(
                429,
                {
                    "message": "Domain mg.example.com is not allowed to send: "
                    "account-requests-per-sec limit exceeded, try again after 120 seconds"
                },
            ),
            RateLimited,
            120.0,
        ),
        (Reply(500, {"message": "Internal Server Error"}), TransientDeliveryError, None),
        (Reply(502, b"<html>Bad Gateway</html>"), TransientDeliveryError, None),
        (
            Reply(
                400, {"message": "to parameter is not a valid address. please check documentation"}
            ),
            PermanentDeliveryError,
            None,
        ),
        (Reply(402, {"message": "Request failed"}), PermanentDeliveryError, None),
        (Reply(404, {"message": "Domain not found: mg.example.com"}), PermanentDeliveryError, None),
        (Reply(413, {"message": "Request Entity Too Large"}), proper_mail.MessageTooLarge, None),
    ],
)
def test_server_errors_are_classified(
    serve: Servers, reply: Reply, error_type: type[Exception], retry_after: float | None
) -> None:
    """429 and 5xx transient (the wait kept), 4xx permanent, 413 too large."""
    server = serve(lambda request: reply)
    configure(server)

    with pytest.raises(error_type) as caught:
        proper_mail.send(proper_mail.compose(to="a@example.com", subject="S", body="x"))

    assert type(caught.value) is error_type
    assert getattr(caught.value, "retry_after", None) == retry_after


def test_a_401_never_shows_the_key(serve: Servers) -> None:
    """Mailgun's 401 is a bare "Forbidden": permanent, and neither form of the key shows."""
    server = serve(lambda request: Reply(401, b"Forbidden", {"Content-Type": "text/plain"}))
    configure(server)

    with pytest.raises(PermanentDeliveryError) as caught:
        proper_mail.send(proper_mail.compose(to="a@example.com", subject="S", body="x"))

    shown = str(caught.value) + repr(caught.value) + repr(proper_mail.current_mail().mailer)
    assert "Forbidden" in shown
    assert API_KEY not in shown
    assert base64.b64encode(f"api:{API_KEY}".encode()).decode() not in shown


def test_a_slow_server_is_a_transient_timeout(serve: Servers) -> None:
    """No answer within the mailer's timeout: TransientDeliveryError (retried later)."""
    release = threading.Event()

    def slow(request: Received) -> Reply:
        release.wait(10)
        return Reply(200, {"id": MAILGUN_ID, "message": "Queued. Thank you."})

    server = serve(slow)
    configure(server, timeout=0.3)
    try:
        with pytest.raises(TransientDeliveryError, match="Timeout") as caught:
            proper_mail.send(proper_mail.compose(to="a@example.com", subject="S", body="x"))
    finally:
        release.set()

    assert caught.value.__cause__ is not None  # the httpx timeout, chained


def test_missing_options_are_config_errors() -> None:
    """MAILERS without the key or the domain is refused at configure time, naming it."""
    with pytest.raises(ConfigError, match="api_key"):
        proper_mail.configure(
            MAILERS={"mailgun": {"type": "proper_mail.MailgunMailer", "domain": DOMAIN}}
        )
    with pytest.raises(ConfigError, match="domain"):
        proper_mail.configure(
            MAILERS={"mailgun": {"type": "proper_mail.MailgunMailer", "api_key": API_KEY}}
        )
