"""ResendMailer end to end: configure() / send() / EmailMessage.send() / send_later against
a local server that checks each request the way Resend does, keeps Resend's idempotency
keys, and answers as Resend does.

The checks and answers follow https://resend.com/docs/api-reference/emails/send-email
(fields, "to" max 50, the tag alphabet, the {"id"} response),
https://resend.com/docs/api-reference/errors (error bodies and statuses) and
https://resend.com/docs/dashboard/emails/idempotency-keys (same key and payload: the
original answer, nothing sent again; same key, other payload: 409).
"""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import attrs
import httpx
import pytest

import proper_mail
from proper_mail import (
    Attachment,
    EmailMessage,
    Mail,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
)
from proper_mail.adapters.echo import echo_tag
from proper_mail.core.compose import inline_part
from proper_mail.mail import configured_mail, restore_current
from tests.provider_server import ProviderServer, Received, Reply

API_KEY = "re_test_key_0123456789"
PNG = b"\x89PNG\r\n\x1a\n-logo-"
TAG_TEXT = re.compile(r"[A-Za-z0-9_-]{1,256}")


def resend_checks(request: Received) -> dict[str, Any]:
    """What Resend checks before it takes a message; the JSON body when it passes."""
    assert request.method == "POST"
    assert request.path == "/emails"
    assert request.headers["authorization"] == f"Bearer {API_KEY}"
    assert request.headers["content-type"] == "application/json"
    assert 1 <= len(request.headers["idempotency-key"]) <= 256
    body: dict[str, Any] = request.json()
    assert isinstance(body["from"], str)
    assert isinstance(body["subject"], str)
    assert 1 <= len(body["to"]) <= 50
    for key in ("to", "cc", "bcc", "reply_to"):
        assert all(isinstance(a, str) for a in body.get(key, []))
    assert "html" in body or "text" in body
    assert all(isinstance(v, str) for v in body.get("headers", {}).values())
    for tag in body.get("tags", []):
        assert TAG_TEXT.fullmatch(tag["name"])
        assert "value" not in tag or TAG_TEXT.fullmatch(tag["value"])
    for attachment in body.get("attachments", []):
        base64.b64decode(attachment["content"], validate=True)
        assert len(attachment.get("content_id", "")) < 128
    return body


class FakeResend:
    """Resend's idempotency as documented: one email per key; the same key and payload
    get the first answer again, the same key with another payload a 409."""

    def __init__(self) -> None:
        self.emails: dict[str, tuple[bytes, str]] = {}
        self.delivered: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def __call__(self, request: Received) -> Reply:
        body = resend_checks(request)
        key = request.headers["idempotency-key"]
        with self.lock:
            if key in self.emails:
                payload, email_id = self.emails[key]
                if payload != request.body:
                    return Reply(
                        409,
                        {
                            "statusCode": 409,
                            "name": "invalid_idempotent_request",
                            "message": "Same idempotency key used with a different payload.",
                        },
                    )
                return Reply(200, {"id": email_id})
            email_id = str(uuid.uuid4())
            self.emails[key] = (request.body, email_id)
            self.delivered.append(body)
        return Reply(200, {"id": email_id})


@pytest.fixture
def configured() -> Iterator[Callable[..., Mail]]:
    """configure() a Mail whose default mailer is a ResendMailer at a server's URL."""
    previous = configured_mail()
    made: list[Mail] = []

    def make(server: ProviderServer, **options: Any) -> Mail:
        entry = {
            "type": "proper_mail.ResendMailer",
            "api_key": API_KEY,
            "base_url": server.url,
            "timeout": 5,
            **options,
        }
        mail = proper_mail.configure(
            {
                "MAILERS": {"resend": entry},
                "MAILER": "resend",
                "MAILER_DEFAULT_OPTIONS": {"from": "Acme <onboarding@example.com>"},
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
    """send() posts every field Resend takes; the result has Resend's id, per recipient."""
    resend = FakeResend()
    logo = inline_part("logo.png", PNG, "image/png")
    with ProviderServer(resend) as server:
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
            headers={"X-Entity-Ref-ID": "123"},
            tags="welcome",
            metadata={"user_id": 42},
        )

        result = proper_mail.send(message)

    server.check()
    (request,) = server.received
    assert request.headers["idempotency-key"] == message.message_id.strip("<>")
    (body,) = resend.delivered
    assert body["to"] == ["Zoë <zoe@xn--mnchen-3ya.de>", "bob@example.com"]
    assert (body["cc"], body["bcc"], body["reply_to"]) == (
        ["carol@example.com"],
        ["dave@example.com"],
        ["help@example.com"],
    )
    assert (body["subject"], body["text"]) == ("Grüße", "Hello")
    assert body["headers"] == {"X-Entity-Ref-ID": "123", "Message-ID": message.message_id}
    assert body["tags"] == [
        {"name": "user_id", "value": "42"},
        {"name": "welcome"},
        {"name": "proper_mail_id", "value": echo_tag(message.message_id)},
    ]
    assert [base64.b64decode(a["content"]) for a in body["attachments"]] == [b"%PDF-1.7", PNG]
    assert body["attachments"][1]["content_id"] == logo.content_id
    assert result.mailer == "resend"
    assert result.provider_id == resend.emails[request.headers["idempotency-key"]][1]
    assert result.accepted == (
        "zoe@xn--mnchen-3ya.de",
        "bob@example.com",
        "carol@example.com",
        "dave@example.com",
    )


def test_a_retry_of_an_accepted_message_sends_nothing_twice(
    configured: Callable[..., Mail],
) -> None:
    """The same record sent again (a retry after a lost answer) has the same key: Resend
    answers the first id and delivers once."""
    resend = FakeResend()
    with ProviderServer(resend) as server:
        configured(server)
        message = proper_mail.compose(to="a@example.com", subject="Once", body="x")

        first = proper_mail.send(message)
        again = proper_mail.send(message)

    server.check()
    assert len(server.received) == 2
    assert len(resend.delivered) == 1
    assert again.provider_id == first.provider_id
    assert again.sent


def test_the_same_message_id_with_another_payload_is_reported(
    configured: Callable[..., Mail],
) -> None:
    """A 409 for the same key with another payload is permanent: never resent blindly."""
    resend = FakeResend()
    with ProviderServer(resend) as server:
        configured(server)
        message = proper_mail.compose(to="a@example.com", subject="One", body="x")
        proper_mail.send(message)

        with pytest.raises(PermanentDeliveryError, match="invalid_idempotent_request"):
            proper_mail.send(attrs.evolve(message, subject="Two"))

    server.check()
    assert len(resend.delivered) == 1


def test_a_key_still_in_progress_is_retried_then_answered(
    configured: Callable[..., Mail],
) -> None:
    """409 concurrent_idempotent_requests is transient; the retry gets the first answer."""
    resend = FakeResend()
    answers = [
        Reply(
            409,
            {
                "statusCode": 409,
                "name": "concurrent_idempotent_requests",
                "message": "Same idempotency key used while original request is still in progress.",
            },
            {"retry-after": "1"},
        )
    ]

    def respond(request: Received) -> Reply:
        resend_checks(request)
        return answers.pop() if answers else resend(request)

    with ProviderServer(respond) as server:
        configured(server)
        message = proper_mail.compose(to="a@example.com", body="x")

        with pytest.raises(TransientDeliveryError) as caught:
            proper_mail.send(message)
        result = proper_mail.send(message)

    server.check()
    assert caught.value.retry_after == 1.0
    assert result.sent
    assert len(resend.delivered) == 1


def test_an_email_message_class_sends_through_resend(configured: Callable[..., Mail]) -> None:
    """The guide's EmailMessage.send() goes through the configured ResendMailer."""
    resend = FakeResend()
    with ProviderServer(resend) as server:
        configured(server)

        result = EmailMessage(
            to="a@example.com", subject="Hi", body="<p>Hi</p>", content_subtype="html"
        ).send()

    server.check()
    assert result.provider_id is not None
    assert (resend.delivered[0]["html"], resend.delivered[0]["text"]) == ("<p>Hi</p>", "")


def test_send_later_in_immediate_mode_posts_once(configured: Callable[..., Mail]) -> None:
    """send_later() through the immediate queue: one request, with its idempotency key."""
    resend = FakeResend()
    with ProviderServer(resend) as server:
        configured(server, provider_options={"scheduled_at": "in 1 min"})

        proper_mail.send_later(EmailMessage(to="a@example.com", subject="Later", body="x"))

    server.check()
    (body,) = resend.delivered
    assert (body["subject"], body["scheduled_at"]) == ("Later", "in 1 min")


@pytest.mark.parametrize(
    ("reply", "error_type", "retry_after"),
    [
        pytest.param(
            Reply(
                429,
                {"statusCode": 429, "name": "rate_limit_exceeded", "message": "Too many requests."},
                {"retry-after": "1", "ratelimit-reset": "1"},
            ),
            RateLimited,
            1.0,
            id="429",
        ),
        pytest.param(
            Reply(
                429,
                {
                    "statusCode": 429,
                    "name": "daily_quota_exceeded",
                    "message": "You have reached your daily email sending quota.",
                },
                {"ratelimit-reset": "3600"},
            ),
            RateLimited,
            3600.0,
            id="daily-quota",
        ),
        pytest.param(
            Reply(
                429,
                {
                    "statusCode": 429,
                    "name": "monthly_quota_exceeded",
                    "message": "You have reached your monthly email sending quota.",
                },
            ),
            PermanentDeliveryError,
            None,
            id="monthly-quota",
        ),
        pytest.param(
            Reply(500, {"statusCode": 500, "name": "application_error", "message": "Oops"}),
            TransientDeliveryError,
            None,
            id="500",
        ),
        pytest.param(
            Reply(
                422,
                {"statusCode": 422, "name": "validation_error", "message": "Invalid `from`."},
            ),
            PermanentDeliveryError,
            None,
            id="422",
        ),
    ],
)
def test_server_statuses_are_classified(
    configured: Callable[..., Mail],
    reply: Reply,
    error_type: type[Exception],
    retry_after: float | None,
) -> None:
    """Rate limits and the daily quota wait as the headers say; the monthly quota and
    validation errors are permanent; 5xx transient: as send() raises them."""

    def respond(request: Received) -> Reply:
        resend_checks(request)
        return reply

    with ProviderServer(respond) as server:
        configured(server)

        with pytest.raises(error_type) as caught:
            EmailMessage(to="a@example.com", body="x").send()

    server.check()
    assert type(caught.value) is error_type
    assert caught.value.retry_after == retry_after  # type: ignore[attr-defined]


def test_a_bad_key_is_permanent_and_never_shown(configured: Callable[..., Mail]) -> None:
    """401/403: permanent, with Resend's words and without the key."""
    answer = {"statusCode": 403, "name": "invalid_api_key", "message": "API key is invalid"}
    with ProviderServer(lambda r: Reply(403, answer)) as server:
        mail = configured(server)

        with pytest.raises(PermanentDeliveryError, match="invalid_api_key") as caught:
            EmailMessage(to="a@example.com", body="x").send()

    shown = str(caught.value) + repr(caught.value) + repr(mail.mailer)
    assert API_KEY not in shown
    assert API_KEY not in json.dumps(caught.value.args)


def test_a_slow_server_is_a_transient_timeout(configured: Callable[..., Mail]) -> None:
    """A server slower than the mailer's timeout: TransientDeliveryError from httpx's."""
    release = threading.Event()
    resend = FakeResend()

    def respond(request: Received) -> Reply:
        release.wait(10)
        return resend(request)

    try:
        with ProviderServer(respond) as server:
            configured(server, timeout=0.2)

            with pytest.raises(TransientDeliveryError) as caught:
                EmailMessage(to="a@example.com", body="x").send()

            release.set()
    finally:
        release.set()

    assert isinstance(caught.value.__cause__, httpx.TimeoutException)
