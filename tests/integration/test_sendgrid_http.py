"""SendGridMailer end to end, configured as a user does, against a local stand-in of the
v3 Mail Send API (tests/provider_server.py) that checks each request as SendGrid does.

What the stand-in checks and answers comes from SendGrid's reference:
https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send (request body,
202 with X-Message-Id and an empty body; errors ``{"errors": [{message, field, help}]}``)
and https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors (required fields,
content order, reserved headers, duplicate recipients, attachment encoding).
"""

from __future__ import annotations

import base64
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
from proper_mail.adapters.sendgrid import RESERVED_HEADERS
from proper_mail.mail import configured_mail, restore_current
from tests.provider_server import ProviderServer, Received, Reply, Respond

API_KEY = "SG.integration-secret-key"
MESSAGE_ID = "W5dXcqBzTnKmyGHPQ-lWTg"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR fake png bytes \xff\x00"


def check_as_sendgrid(request: Received) -> dict[str, Any]:
    """What SendGrid verifies before it accepts a Mail Send request; the body."""
    assert request.method == "POST"
    assert request.path == "/v3/mail/send"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    body: dict[str, Any] = request.json()
    assert isinstance(body["from"]["email"], str)
    assert body["subject"]
    personalizations = body["personalizations"]
    assert 1 <= len(personalizations) <= 1000
    emails = []
    for personalization in personalizations:
        assert personalization["to"], "The to parameter is required for all personalizations"
        for field in ("to", "cc", "bcc"):
            for recipient in personalization.get(field, []):
                assert set(recipient) <= {"email", "name"}
                assert recipient["email"].isascii()
                emails.append(recipient["email"].lower())
    assert len(emails) == len(set(emails)), "each address once"
    assert len(emails) <= 1000
    content = body["content"]
    assert content
    assert all(part["value"] for part in content)
    types = [part["type"] for part in content]
    expected_start = [t for t in ("text/plain", "text/html") if t in types]
    assert types[: len(expected_start)] == expected_start, "text/plain, then text/html"
    for attachment in body.get("attachments", []):
        assert attachment["filename"]
        base64.b64decode(attachment["content"], validate=True)
        assert attachment.get("disposition", "attachment") in ("attachment", "inline")
    headers = body.get("headers", {})
    assert all(isinstance(value, str) for value in headers.values())
    assert not {name.lower() for name in headers} & RESERVED_HEADERS
    assert len(body.get("categories", [])) <= 10
    return body


def accepted(request: Received) -> Reply:
    check_as_sendgrid(request)
    return Reply(202, None, {"X-Message-Id": MESSAGE_ID})


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
            "sendgrid": {
                "type": "proper_mail.SendGridMailer",
                "api_key": API_KEY,
                "base_url": server.url,
                "timeout": 5,
                **options,
            }
        },
        MAILER="sendgrid",
        MAILER_DEFAULT_OPTIONS={"from": "Shop <orders@example.com>"},
    )


def test_send_posts_everything_sendgrid_can_express(serve: Servers) -> None:
    """proper_mail.send(): text + html, names, cc/bcc, reply-to, files and an inline image,
    headers, tags and metadata arrive as SendGrid reads them; the 202 is the result."""
    server = serve(accepted)
    configure(server)
    message = proper_mail.compose(
        to=["Zoë <zoe@münchen.de>", '"Doe, Jane" <jane@example.com>'],
        cc="Charlie <charlie@example.com>",
        bcc="dana@example.com",
        reply_to="Support <support@example.com>",
        subject="Your order №42",
        body="<p>Thanks! <img src='cid:logo@shop'></p>",
        content_subtype="html",
        alternatives=[("Thanks!", "text/plain")],
        attachments=[
            Attachment("invoice.pdf", b"%PDF-1.7 \x00\xff", "application/pdf"),
            Attachment("logo.png", PNG, "image/png", "inline", "logo@shop"),
        ],
        headers={"List-Unsubscribe": "<https://shop.example.com/u/1>"},
        tags=["orders"],
        metadata={"order_id": 42},
    )

    result = proper_mail.send(message)

    (request,) = server.received
    body = check_as_sendgrid(request)
    assert body["personalizations"] == [
        {
            "to": [
                {"email": "zoe@xn--mnchen-3ya.de", "name": "Zoë"},
                {"email": "jane@example.com", "name": '"Doe, Jane"'},
            ],
            "cc": [{"email": "charlie@example.com", "name": "Charlie"}],
            "bcc": [{"email": "dana@example.com"}],
        }
    ]
    assert body["from"] == {"email": "orders@example.com", "name": "Shop"}
    assert body["reply_to"] == {"email": "support@example.com", "name": "Support"}
    assert body["subject"] == "Your order №42"
    assert [part["type"] for part in body["content"]] == ["text/plain", "text/html"]
    files = {a["filename"]: a for a in body["attachments"]}
    assert base64.b64decode(files["invoice.pdf"]["content"]) == b"%PDF-1.7 \x00\xff"
    assert base64.b64decode(files["logo.png"]["content"]) == PNG
    assert (files["logo.png"]["disposition"], files["logo.png"]["content_id"]) == (
        "inline",
        "logo@shop",
    )
    assert body["headers"] == {
        "List-Unsubscribe": "<https://shop.example.com/u/1>",
        "Message-ID": message.message_id,
    }
    assert body["categories"] == ["orders"]
    assert body["custom_args"] == {
        "order_id": "42",
        "proper_mail_id": message.message_id.strip("<>"),
    }
    assert result.provider_id == MESSAGE_ID
    assert result.mailer == "sendgrid"
    assert result.message_id == message.message_id
    assert [(r.address, r.status) for r in result.recipients] == [
        ("zoe@xn--mnchen-3ya.de", "queued"),
        ("jane@example.com", "queued"),
        ("charlie@example.com", "queued"),
        ("dana@example.com", "queued"),
    ]


def test_an_email_class_sends_through_sendgrid(serve: Servers) -> None:
    """The guide's EmailMessage(...).send() reaches SendGrid through the configured mailer."""
    server = serve(accepted)
    configure(server)

    result = EmailMessage(to="alice@example.com", subject="Welcome!", body="Thanks.").send()

    body = check_as_sendgrid(server.received[0])
    assert body["content"] == [{"type": "text/plain", "value": "Thanks."}]
    assert result.accepted == ("alice@example.com",)


def test_send_later_in_immediate_mode_posts_once(serve: Servers) -> None:
    """QUEUE=immediate: send_later goes through the queue's task (JSON and the ledger) and
    posts the same request at once."""
    server = serve(accepted)
    configure(server)
    message = proper_mail.compose(to="a@example.com", subject="Later", body="x", tags=["t"])

    proper_mail.send_later(message)

    (request,) = server.received
    body = check_as_sendgrid(request)
    assert body["headers"]["Message-ID"] == message.message_id
    assert body["categories"] == ["t"]


def test_sandbox_mode_is_validated_not_delivered(serve: Servers) -> None:
    """sandbox=True sends mail_settings.sandbox_mode; SendGrid's 200 is reported as such."""

    def sandbox(request: Received) -> Reply:
        body = check_as_sendgrid(request)
        assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}
        return Reply(200)

    server = serve(sandbox)
    configure(server, sandbox=True)

    result = proper_mail.send(proper_mail.compose(to="a@example.com", subject="S", body="x"))

    assert result.sent
    assert result.recipients[0].detail == "sandbox mode: validated, not delivered"


@pytest.mark.parametrize(
    ("reply", "error_type", "retry_after"),
    [
        (
            Reply(429, {"errors": [{"message": "too many requests"}]}, {"Retry-After": "7"}),
            RateLimited,
            7.0,
        ),
        (
            Reply(500, {"errors": [{"message": "internal server error"}]}),
            TransientDeliveryError,
            None,
        ),
        (Reply(503, b"Service Unavailable"), TransientDeliveryError, None),
        (
            Reply(400, {"errors": [{"message": "invalid request", "field": "null"}]}),
            PermanentDeliveryError,
            None,
        ),
        (
            Reply(413, {"errors": [{"message": "content too large", "field": "null"}]}),
            proper_mail.MessageTooLarge,
            None,
        ),
    ],
)
def test_server_errors_are_classified(
    serve: Servers, reply: Reply, error_type: type[Exception], retry_after: float | None
) -> None:
    """429 and 5xx transient (Retry-After kept), 4xx permanent, 413 too large."""
    server = serve(lambda request: reply)
    configure(server)

    with pytest.raises(error_type) as caught:
        proper_mail.send(proper_mail.compose(to="a@example.com", subject="S", body="x"))

    assert type(caught.value) is error_type
    assert getattr(caught.value, "retry_after", None) == retry_after
    assert caught.value.__cause__ is None  # ours, not a leaked httpx error


def test_a_401_never_shows_the_key(serve: Servers) -> None:
    """An auth failure is permanent and its text holds SendGrid's words, not the key."""
    server = serve(lambda request: Reply(401, {"errors": [{"message": "authorization required"}]}))
    configure(server)

    with pytest.raises(PermanentDeliveryError) as caught:
        proper_mail.send(proper_mail.compose(to="a@example.com", subject="S", body="x"))

    assert "authorization required" in str(caught.value)
    assert API_KEY not in str(caught.value) + repr(caught.value)
    assert API_KEY not in repr(proper_mail.current_mail().mailer)


def test_a_slow_server_is_a_transient_timeout(serve: Servers) -> None:
    """No answer within the mailer's timeout: TransientDeliveryError (retried later)."""
    release = threading.Event()

    def slow(request: Received) -> Reply:
        release.wait(10)
        return Reply(202, None, {"X-Message-Id": MESSAGE_ID})

    server = serve(slow)
    configure(server, timeout=0.3)
    try:
        with pytest.raises(TransientDeliveryError, match="Timeout") as caught:
            proper_mail.send(proper_mail.compose(to="a@example.com", subject="S", body="x"))
    finally:
        release.set()

    assert type(caught.value).__name__ == "TransientDeliveryError"
    assert caught.value.__cause__ is not None  # the httpx timeout, chained


def test_fail_silently_reports_instead_of_raising(serve: Servers) -> None:
    """fail_silently: send() returns a result whose recipients failed."""
    server = serve(lambda request: Reply(500, {"errors": [{"message": "internal server error"}]}))
    configure(server, fail_silently=True)

    result = proper_mail.send(proper_mail.compose(to="a@example.com", subject="S", body="x"))

    assert not result.sent
    assert result.recipients[0].status == "failed"


def test_a_missing_key_is_a_config_error() -> None:
    """MAILERS without api_key is refused at configure time, naming the option."""
    with pytest.raises(ConfigError, match="api_key"):
        proper_mail.configure(MAILERS={"sendgrid": {"type": "proper_mail.SendGridMailer"}})


def test_what_sendgrid_cannot_express_never_reaches_it(serve: Servers) -> None:
    """An UnsupportedFeature is raised before any request is made."""
    server = serve(accepted)
    configure(server)

    with pytest.raises(proper_mail.UnsupportedFeature, match="subject"):
        proper_mail.send(proper_mail.compose(to="a@example.com", body="no subject"))

    assert server.received == []


def test_one_pooled_connection_serves_many_sends(serve: Servers) -> None:
    """The mailer's own client keeps the connection alive between sends."""
    server = serve(accepted)
    configure(server)

    for i in range(3):
        proper_mail.send(proper_mail.compose(to=f"a{i}@example.com", subject="S", body="x"))

    assert len(server.received) == 3
    assert {r.headers.get("connection", "keep-alive") for r in server.received} == {"keep-alive"}
