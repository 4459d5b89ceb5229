"""PostmarkMailer end to end: configure() / send() / EmailMessage.send() / send_later against
a local server that checks each request the way Postmark does and answers as it does.

The checks and answers follow https://postmarkapp.com/developer/api/email-api (request
fields, the response example) and https://postmarkapp.com/developer/api/overview
(X-Postmark-Server-Token, POSTMARK_API_TEST, status codes and ErrorCodes).
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

import proper_mail
from proper_mail import (
    Attachment,
    EmailMessage,
    Mail,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
)
from proper_mail.core.compose import inline_part
from proper_mail.mail import configured_mail, restore_current
from tests.provider_server import ProviderServer, Received, Reply

TOKEN = "pm-test-token-5678"
MESSAGE_ID = "b7bc2f4a-e38e-4336-af7d-e6c392c2f817"
PNG = b"\x89PNG\r\n\x1a\n-logo-"


def postmark_checks(request: Received, token: str = TOKEN) -> dict[str, Any]:
    """What Postmark checks before it takes a message; the JSON body when it passes."""
    assert request.method == "POST"
    assert request.path == "/email"
    assert request.headers["x-postmark-server-token"] == token
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"
    body: dict[str, Any] = request.json()
    assert isinstance(body["From"], str)
    assert body["From"]
    recipients = [
        address
        for key in ("To", "Cc", "Bcc")
        for address in (body.get(key) or "").split(",")
        if address.strip()
    ]
    assert 1 <= len(recipients) <= 50
    assert body.get("TextBody") or body.get("HtmlBody")
    for header in body.get("Headers", []):
        assert set(header) == {"Name", "Value"}
    for attachment in body.get("Attachments", []):
        assert {"Name", "Content", "ContentType"} <= set(attachment)
        base64.b64decode(attachment["Content"], validate=True)
        assert attachment.get("ContentID", "cid:").startswith("cid:")
    assert isinstance(body.get("MessageStream", "outbound"), str)
    return body


def accepted(request: Received) -> Reply:
    """Postmark's documented success answer."""
    body = postmark_checks(request)
    return Reply(
        200,
        {
            "To": body["To"],
            "SubmittedAt": "2026-12-02T09:00:00.0000000-05:00",
            "MessageID": MESSAGE_ID,
            "ErrorCode": 0,
            "Message": "OK",
        },
    )


@pytest.fixture
def configured() -> Iterator[Callable[..., Mail]]:
    """configure() a Mail whose default mailer is a PostmarkMailer at a server's URL."""
    previous = configured_mail()
    made: list[Mail] = []

    def make(server: ProviderServer, **options: Any) -> Mail:
        entry = {
            "type": "proper_mail.PostmarkMailer",
            "server_token": TOKEN,
            "base_url": server.url,
            "timeout": 5,
            **options,
        }
        mail = proper_mail.configure(
            {
                "MAILERS": {"postmark": entry},
                "MAILER": "postmark",
                "MAILER_DEFAULT_OPTIONS": {"from": "App <app@example.com>"},
            }
        )
        made.append(mail)
        return mail

    yield make
    for mail in made:
        mail.close()
    restore_current(previous)


def test_a_message_with_every_field_is_sent_and_reported(
    configured: Callable[..., Mail],
) -> None:
    """send() posts every field Postmark takes; the result has Postmark's id, per recipient."""
    logo = inline_part("logo.png", PNG, "image/png")
    with ProviderServer(accepted) as server:
        configured(server)
        message = proper_mail.compose(
            to=["Zoë <zoe@münchen.de>", "bob@example.com"],
            cc="carol@example.com",
            bcc="dave@example.com",
            reply_to="help@example.com",
            subject="Grüße",
            body="Hello",
            alternatives=[(f'<p>Hello <img src="cid:{logo.content_id}"></p>', "text/html")],
            attachments=[Attachment("report.pdf", b"%PDF-1.7", "application/pdf"), logo],
            headers={"X-Campaign": "may"},
            tags="welcome",
            metadata={"user_id": 42},
        )

        result = proper_mail.send(message)

    server.check()
    (request,) = server.received
    body = request.json()
    assert body["To"] == "Zoë <zoe@xn--mnchen-3ya.de>, bob@example.com"
    assert (body["Cc"], body["Bcc"], body["ReplyTo"]) == (
        "carol@example.com",
        "dave@example.com",
        "help@example.com",
    )
    assert (body["Subject"], body["TextBody"], body["Tag"]) == ("Grüße", "Hello", "welcome")
    assert body["Metadata"] == {"user_id": "42", "proper_mail_id": message.message_id.strip("<>")}
    assert {"Name": "Message-ID", "Value": message.message_id} in body["Headers"]
    assert [base64.b64decode(a["Content"]) for a in body["Attachments"]] == [b"%PDF-1.7", PNG]
    assert body["Attachments"][1]["ContentID"] == f"cid:{logo.content_id}"
    assert result.mailer == "postmark"
    assert result.provider_id == MESSAGE_ID
    assert result.accepted == (
        "zoe@xn--mnchen-3ya.de",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
    )


def test_an_email_message_class_sends_through_postmark(configured: Callable[..., Mail]) -> None:
    """The guide's EmailMessage.send() goes through the configured PostmarkMailer."""
    with ProviderServer(accepted) as server:
        configured(server)

        result = EmailMessage(to="a@example.com", subject="Hi", body="Hello").send()

    server.check()
    assert result.provider_id == MESSAGE_ID
    assert server.received[0].json()["From"] == "App <app@example.com>"


def test_send_later_in_immediate_mode_posts_once(configured: Callable[..., Mail]) -> None:
    """send_later() through the immediate queue: one request, after a JSON round trip."""
    with ProviderServer(accepted) as server:
        configured(server)

        proper_mail.send_later(
            EmailMessage(to="a@example.com", subject="Later", body="Hello", tags="digest")
        )

    server.check()
    (request,) = server.received
    assert (request.json()["Subject"], request.json()["Tag"]) == ("Later", "digest")


def test_send_later_in_immediate_mode_raises_a_transient_error(
    configured: Callable[..., Mail],
) -> None:
    """Immediate mode raises a transient failure to the caller instead of retrying."""
    with ProviderServer(lambda r: Reply(503, b"<html>down</html>")) as server:
        configured(server)

        with pytest.raises(TransientDeliveryError, match="HTTP 503"):
            proper_mail.send_later(EmailMessage(to="a@example.com", body="x"))


def test_a_message_streams_provider_options_reach_postmark(
    configured: Callable[..., Mail],
) -> None:
    """provider_options on the message set Postmark fields (MessageStream here)."""
    with ProviderServer(accepted) as server:
        configured(server, track_opens=True)

        EmailMessage(
            to="a@example.com", body="x", provider_options={"postmark": {"MessageStream": "news"}}
        ).send()

    server.check()
    body = server.received[0].json()
    assert (body["MessageStream"], body["TrackOpens"]) == ("news", True)


def test_test_mode_sends_the_test_token(configured: Callable[..., Mail]) -> None:
    """test_mode=True sends Postmark's POSTMARK_API_TEST token, no server token needed."""

    def respond(request: Received) -> Reply:
        postmark_checks(request, token="POSTMARK_API_TEST")
        return Reply(200, {"ErrorCode": 0, "Message": "Test job accepted", "MessageID": "0"})

    with ProviderServer(respond) as server:
        configured(server, server_token=None, test_mode=True)

        result = EmailMessage(to="a@example.com", body="x").send()

    server.check()
    assert result.sent


def test_inactive_recipients_are_rejected_and_the_others_sent(
    configured: Callable[..., Mail],
) -> None:
    """Postmark sends to the active recipients and names the inactive ones."""

    def respond(request: Received) -> Reply:
        postmark_checks(request)
        text = (
            "Message OK, but will not deliver to these inactive addresses: b@example.com. "
            "Inactive recipients are ones that have generated a hard bounce, a spam "
            "complaint, or a manual suppression."
        )
        return Reply(200, {"ErrorCode": 0, "Message": text, "MessageID": MESSAGE_ID})

    with ProviderServer(respond) as server:
        configured(server)

        result = EmailMessage(to=["a@example.com", "B@example.com"], body="x").send()

    server.check()
    assert result.accepted == ("a@example.com",)
    assert result.rejected == ("B@example.com",)


def test_every_recipient_inactive_is_a_permanent_error_per_recipient(
    configured: Callable[..., Mail],
) -> None:
    """422 ErrorCode 406: not sent; each named recipient is rejected in the error."""

    def respond(request: Received) -> Reply:
        postmark_checks(request)
        text = (
            "You tried to send to a recipient that has been marked as inactive.\n"
            "Found inactive addresses: a@example.com.\nInactive recipients are ones that "
            "have generated a hard bounce, a spam complaint, or a manual suppression. "
        )
        return Reply(422, {"ErrorCode": 406, "Message": text})

    with ProviderServer(respond) as server:
        configured(server)

        with pytest.raises(PermanentDeliveryError, match="ErrorCode 406") as caught:
            EmailMessage(to="a@example.com", body="x").send()

    assert [(r.address, r.status) for r in caught.value.recipients] == [
        ("a@example.com", "rejected")
    ]


@pytest.mark.parametrize(
    ("reply", "error_type", "retry_after"),
    [
        pytest.param(
            Reply(429, {"ErrorCode": 429, "Message": "Rate limit"}, {"Retry-After": "7"}),
            RateLimited,
            7.0,
            id="429",
        ),
        pytest.param(
            Reply(500, {"ErrorCode": 0, "Message": "Internal"}),
            TransientDeliveryError,
            None,
            id="500",
        ),
        pytest.param(
            Reply(422, {"ErrorCode": 100, "Message": "Maintenance"}),
            TransientDeliveryError,
            None,
            id="maintenance",
        ),
        pytest.param(
            Reply(422, {"ErrorCode": 300, "Message": "Invalid 'From' address."}),
            PermanentDeliveryError,
            None,
            id="422",
        ),
        pytest.param(
            Reply(413, {"ErrorCode": 0, "Message": "Payload Too Large"}),
            MessageTooLarge,
            None,
            id="413",
        ),
    ],
)
def test_server_statuses_are_classified(
    configured: Callable[..., Mail],
    reply: Reply,
    error_type: type[Exception],
    retry_after: float | None,
) -> None:
    """429 and 5xx transient (Retry-After kept), maintenance transient, 413 too large,
    other refusals permanent: as send() raises them."""

    def respond(request: Received) -> Reply:
        postmark_checks(request)
        return reply

    with ProviderServer(respond) as server:
        configured(server)

        with pytest.raises(error_type) as caught:
            EmailMessage(to="a@example.com", body="x").send()

    server.check()
    assert type(caught.value) is error_type
    assert caught.value.retry_after == retry_after  # type: ignore[attr-defined]


def test_a_bad_token_is_permanent_and_never_shown(configured: Callable[..., Mail]) -> None:
    """401: permanent, with Postmark's words and without the token."""
    answer = {"ErrorCode": 10, "Message": "The Server Token you provided in the header is invalid."}
    with ProviderServer(lambda r: Reply(401, answer)) as server:
        mail = configured(server)

        with pytest.raises(PermanentDeliveryError, match="ErrorCode 10") as caught:
            EmailMessage(to="a@example.com", body="x").send()

    assert TOKEN not in str(caught.value) + repr(caught.value) + repr(mail.mailer)


def test_a_slow_server_is_a_transient_timeout(configured: Callable[..., Mail]) -> None:
    """A server slower than the mailer's timeout: TransientDeliveryError from httpx's."""
    release = threading.Event()

    def respond(request: Received) -> Reply:
        release.wait(10)
        return accepted(request)

    try:
        with ProviderServer(respond) as server:
            configured(server, timeout=0.2)

            with pytest.raises(TransientDeliveryError) as caught:
                EmailMessage(to="a@example.com", body="x").send()

            release.set()
    finally:
        release.set()

    assert isinstance(caught.value.__cause__, httpx.TimeoutException)


def test_the_content_postmark_gets_decodes_to_the_attachment() -> None:
    """The check itself refuses what Postmark refuses: content that is not base64."""
    request = Received(
        method="POST",
        path="/email",
        headers={
            "x-postmark-server-token": TOKEN,
            "content-type": "application/json",
            "accept": "application/json",
        },
        body=b'{"From": "a@x.com", "To": "b@x.com", "TextBody": "x", '
        b'"Attachments": [{"Name": "a", "Content": "not base64!", "ContentType": "text/plain"}]}',
        at=0.0,
    )

    with pytest.raises(binascii.Error):
        postmark_checks(request)
