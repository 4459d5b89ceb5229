"""Mailgun webhooks: the HMAC in the body, the token as dedupe id, event parsing.

Docs: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks
(the signature object and how to check it; its example uses an unpublished key, so the
signatures here are made with the documented HMAC-SHA256 of timestamp + token),
https://documentation.mailgun.com/docs/mailgun/user-manual/events/event-types (event-data).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from proper_mail.errors import ConfigError, WebhookPayloadError, WebhookVerificationError
from proper_mail.webhooks import mailgun
from proper_mail.webhooks.mailgun import MailgunConfig
from tests.webhook_signing import MAILGUN_KEY, NOW, NOW_TS, mailgun_body, mailgun_signature

CONFIG = MailgunConfig(signing_key=MAILGUN_KEY)
TOKEN = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123"

# The "failed" (permanent) example of Mailgun's event docs.
FAILED: dict[str, Any] = {
    "id": "G9Bn5sl1TC6nu79C8C0bwg",
    "timestamp": 1521472262.908181,
    "log-level": "error",
    "event": "failed",
    "severity": "permanent",
    "reason": "bounce",
    "delivery-status": {
        "attempt-no": 1,
        "message": "550 5.1.1 The email account that you tried to reach does not exist.",
        "code": 550,
        "description": "",
        "session-seconds": 0.0,
    },
    "message": {
        "headers": {
            "to": "Alice <alice@example.com>",
            "message-id": "20130503192659.13651.20287@sandbox.mailgun.org",
            "from": "Bob <bob@sandbox.mailgun.org>",
            "subject": "Test permanent_fail webhook",
        },
        "attachments": [],
        "size": 111,
    },
    "recipient": "alice@example.com",
    "recipient-domain": "example.com",
    "tags": ["my_tag_1", "my_tag_2"],
    "user-variables": {"proper_mail_id": "20260302.abc@app.example.com", "my-var-2": "awesome"},
}
BODY = mailgun_body(FAILED, TOKEN)


def test_a_body_signed_as_mailgun_documents_verifies() -> None:
    """hex HMAC-SHA256(signing key, timestamp + token) in the body's signature object."""
    mailgun.verify({}, BODY, CONFIG, NOW)


def test_the_documented_example_signature_does_not_verify_with_our_key() -> None:
    """Mailgun's docs example (token, timestamp, signature) under another key is refused."""
    body = json.dumps(
        {
            "signature": {
                "token": TOKEN,
                "timestamp": "1770920772",
                "signature": "12d99f5a15355c180971bed7494d578b093c958f57766f3fe750761baed12345",
            },
            "event-data": FAILED,
        }
    ).encode()

    with pytest.raises(WebhookVerificationError, match="does not match"):
        mailgun.verify({}, body, CONFIG, dt.datetime.fromtimestamp(1770920772, dt.UTC))


def test_a_parent_signature_is_accepted() -> None:
    """A subaccount event carries parent-signature under the parent account's key."""
    signature = {**mailgun_signature(TOKEN), "signature": "0" * 64}
    signature["parent-signature"] = mailgun_signature(TOKEN)["signature"]
    body = json.dumps({"signature": signature, "event-data": FAILED}).encode()

    mailgun.verify({}, body, CONFIG, NOW)


def test_an_uppercase_hex_signature_is_accepted() -> None:
    """The hex digest compares case-insensitively."""
    signature = mailgun_signature(TOKEN)
    signature["signature"] = signature["signature"].upper()

    mailgun.verify(
        {}, json.dumps({"signature": signature, "event-data": FAILED}).encode(), CONFIG, NOW
    )


@pytest.mark.parametrize(
    "change",
    [
        {"token": TOKEN[:-1] + "4"},
        {"timestamp": str(NOW_TS + 1)},
        {"signature": "deadbeef"},
    ],
    ids=["token", "timestamp", "signature"],
)
def test_a_changed_signature_field_is_refused(change: dict[str, str]) -> None:
    """The token and the timestamp are what is signed."""
    signature = {**mailgun_signature(TOKEN), **change}
    body = json.dumps({"signature": signature, "event-data": FAILED}).encode()

    with pytest.raises(WebhookVerificationError, match="does not match"):
        mailgun.verify({}, body, CONFIG, NOW)


def test_a_stale_timestamp_is_refused() -> None:
    """The signed timestamp must be within the window."""
    with pytest.raises(WebhookVerificationError, match="from our clock"):
        mailgun.verify({}, mailgun_body(FAILED, TOKEN, timestamp=NOW_TS - 600), CONFIG, NOW)


def test_an_integer_timestamp_is_read() -> None:
    """A timestamp sent as a JSON number verifies too."""
    signature: dict[str, Any] = {**mailgun_signature(TOKEN), "timestamp": NOW_TS}

    mailgun.verify(
        {}, json.dumps({"signature": signature, "event-data": FAILED}).encode(), CONFIG, NOW
    )


@pytest.mark.parametrize(
    "body",
    [b"", b"token=x&timestamp=1&signature=y", b"[]", b"{}", b'{"signature": {"token": "x"}}'],
)
def test_unsigned_bodies_are_refused(body: bytes) -> None:
    """No JSON signature object (legacy form posts included): not verified."""
    with pytest.raises(WebhookVerificationError):
        mailgun.verify({}, body, CONFIG, NOW)


def test_the_signing_key_is_required_and_hidden() -> None:
    """An empty key is a ConfigError; the repr hides it."""
    with pytest.raises(ConfigError):
        MailgunConfig(signing_key="")
    assert MAILGUN_KEY not in repr(CONFIG)


def test_a_permanent_failure_is_a_hard_bounce() -> None:
    """failed + permanent + reason bounce -> bounced/hard; the token is the event id."""
    (event,) = mailgun.parse(BODY)

    assert event.kind == "bounced"
    assert event.bounce == "hard"
    assert event.recipient == "alice@example.com"
    assert event.provider_message_id == "<20130503192659.13651.20287@sandbox.mailgun.org>"
    assert event.message_id == "<20260302.abc@app.example.com>"
    assert event.reason == "550 5.1.1 The email account that you tried to reach does not exist."
    assert event.event_id == f"mailgun:{TOKEN}"
    assert event.timestamp == dt.datetime.fromtimestamp(1521472262.908181, dt.UTC)
    assert json.loads(event.raw) == FAILED


@pytest.mark.parametrize(
    ("fields", "kind", "bounce"),
    [
        ({"severity": "temporary"}, "deferred", None),
        ({"reason": "suppress-bounce"}, "rejected", None),
        ({"reason": "suppress-complaint"}, "rejected", None),
        ({"reason": "old"}, "bounced", "soft"),
        ({"reason": "generic"}, "bounced", "soft"),
        ({"event": "delivered"}, "delivered", None),
        ({"event": "accepted"}, "queued", None),
        ({"event": "rejected"}, "rejected", None),
        ({"event": "opened"}, "opened", None),
        ({"event": "clicked"}, "clicked", None),
        ({"event": "unsubscribed"}, "unsubscribed", None),
        ({"event": "complained"}, "complained", None),
    ],
)
def test_event_kinds(fields: dict[str, str], kind: str, bounce: str | None) -> None:
    """Each Mailgun event (and failure reason) has its kind."""
    (event,) = mailgun.parse(mailgun_body({**FAILED, **fields}, TOKEN))

    assert (event.kind, event.bounce) == (kind, bounce)


def test_stored_events_are_skipped() -> None:
    """Events outside the delivery vocabulary give none."""
    assert mailgun.parse(mailgun_body({**FAILED, "event": "stored"}, TOKEN)) == ()


@pytest.mark.parametrize(
    "event_data",
    [
        None,
        [],
        {"event": "delivered"},
        {"event": "delivered", "recipient": "a@b.c", "timestamp": "x"},
    ],
)
def test_malformed_event_data_raises_the_payload_error(event_data: object) -> None:
    """No event-data, no recipient, a bad timestamp: WebhookPayloadError."""
    body = json.dumps({"signature": mailgun_signature(TOKEN), "event-data": event_data}).encode()

    with pytest.raises(WebhookPayloadError):
        mailgun.parse(body)
