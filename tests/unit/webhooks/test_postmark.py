"""Postmark webhooks: Basic auth and every record type.

Docs: https://postmarkapp.com/developer/webhooks/webhooks-overview (Basic auth in the URL),
https://postmarkapp.com/developer/webhooks/bounce-webhook,
https://postmarkapp.com/developer/webhooks/delivery-webhook,
https://postmarkapp.com/developer/webhooks/open-tracking-webhook,
https://postmarkapp.com/developer/webhooks/click-webhook,
https://postmarkapp.com/developer/webhooks/spam-complaint-webhook,
https://postmarkapp.com/developer/webhooks/subscription-change-webhook,
https://postmarkapp.com/developer/api/bounce-api#bounce-types.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from proper_mail.errors import ConfigError, WebhookPayloadError, WebhookVerificationError
from proper_mail.webhooks import postmark
from proper_mail.webhooks.postmark import PostmarkConfig
from tests.webhook_signing import NOW, basic_auth

CONFIG = PostmarkConfig(username="postmark", password="s3cret-Pa55")
AUTH = basic_auth("postmark", "s3cret-Pa55")

# The documented example of each webhook.
BOUNCE: dict[str, Any] = {
    "RecordType": "Bounce",
    "MessageStream": "outbound",
    "ID": 4323372036854775807,
    "Type": "HardBounce",
    "TypeCode": 1,
    "Name": "Hard bounce",
    "Tag": "Test",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "Metadata": {"a_key": "a_value", "proper_mail_id": "20260302.abc@app.example.com"},
    "ServerID": 23,
    "Description": (
        "The server was unable to deliver your message (ex: unknown user, mailbox not found)."
    ),
    "Details": "Test bounce details",
    "Email": "john@example.com",
    "From": "sender@example.com",
    "BouncedAt": "2019-11-05T16:33:54.9070259Z",
    "DumpAvailable": True,
    "Inactive": True,
    "CanActivate": True,
    "Subject": "Test subject",
    "Content": "<Full dump of bounce>",
}
DELIVERY = {
    "RecordType": "Delivery",
    "ServerID": 23,
    "MessageStream": "outbound",
    "MessageID": "00000000-0000-0000-0000-000000000000",
    "Recipient": "john@example.com",
    "Tag": "welcome-email",
    "DeliveredAt": "2021-02-21T16:34:52Z",
    "Details": "Test delivery webhook details",
    "Metadata": {"a_key": "a_value", "b_key": "b_value"},
}
OPEN = {
    "RecordType": "Open",
    "MessageStream": "outbound",
    "FirstOpen": True,
    "Platform": "WebMail",
    "UserAgent": "Mozilla/5.0",
    "ReadSeconds": 5,
    "MessageID": "00000000-0000-0000-0000-000000000000",
    "Metadata": {},
    "ReceivedAt": "2019-11-05T16:33:54.9070259Z",
    "Tag": "welcome-email",
    "Recipient": "john@example.com",
}
CLICK = {
    **OPEN,
    "RecordType": "Click",
    "OriginalLink": "https://example.com",
    "ClickLocation": "HTML",
}
SPAM = {
    **BOUNCE,
    "RecordType": "SpamComplaint",
    "ID": 42,
    "Type": "SpamComplaint",
    "TypeCode": 512,
    "Description": "The subscriber explicitly marked this message as spam.",
    "Details": "Test spam complaint details",
}
SUBSCRIPTION = {
    "RecordType": "SubscriptionChange",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "ServerID": 123456,
    "MessageStream": "outbound",
    "ChangedAt": "2020-02-01T10:53:34.416071Z",
    "Recipient": "bounced-address@wildbit.com",
    "Origin": "Recipient",
    "SuppressSending": True,
    "SuppressionReason": "ManualSuppression",
    "Tag": "my-tag",
    "Metadata": {"example": "value"},
}


def body(event: dict[str, Any]) -> bytes:
    """The JSON body Postmark posts."""
    return json.dumps(event).encode()


def test_the_configured_credentials_are_accepted() -> None:
    """Basic auth with the configured user and password passes."""
    postmark.verify(AUTH, body(BOUNCE), CONFIG, NOW)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        basic_auth("postmark", "wrong"),
        basic_auth("other", "s3cret-Pa55"),
        basic_auth("postmark", "s3cret-Pa55x"),
        {"Authorization": "Bearer s3cret-Pa55"},
        {"Authorization": "Basic %%%"},
        {"Authorization": "Basic cG9zdG1hcms="},  # "postmark", no colon
    ],
    ids=["none", "password", "user", "longer", "bearer", "not-base64", "no-colon"],
)
def test_missing_or_wrong_credentials_are_refused(headers: dict[str, str]) -> None:
    """Anything but the configured pair is a verification error."""
    with pytest.raises(WebhookVerificationError):
        postmark.verify(headers, body(BOUNCE), CONFIG, NOW)


def test_the_header_name_is_case_insensitive() -> None:
    """authorization: works like Authorization:."""
    postmark.verify({"authorization": AUTH["Authorization"]}, b"", CONFIG, NOW)


def test_the_password_is_hidden_and_checked() -> None:
    """repr hides the password; a username with ':' is a ConfigError."""
    assert "s3cret" not in repr(CONFIG)
    with pytest.raises(ConfigError):
        PostmarkConfig(username="a:b", password="x")
    with pytest.raises(ConfigError):
        PostmarkConfig(username="a", password="")


def test_a_hard_bounce() -> None:
    """Bounce/HardBounce -> bounced/hard, with Postmark's ID as the event id."""
    (event,) = postmark.parse(body(BOUNCE))

    assert (event.kind, event.bounce) == ("bounced", "hard")
    assert event.recipient == "john@example.com"
    assert event.provider_message_id == "883953f4-6105-42a2-a16a-77a8eac79483"
    assert event.message_id == "<20260302.abc@app.example.com>"
    assert event.reason == "Test bounce details"
    assert event.event_id == "postmark:Bounce:4323372036854775807"
    assert event.timestamp == dt.datetime(2019, 11, 5, 16, 33, 54, 907025, dt.UTC)


def test_a_metadata_message_id_of_the_callers_is_not_ours() -> None:
    """Only proper_mail_id is our Message-ID: an app's own message_id key is its data."""
    body = json.dumps({**BOUNCE, "Metadata": {"message_id": "<order-7@shop.example.com>"}})

    (event,) = postmark.parse(body.encode())

    assert event.message_id is None


@pytest.mark.parametrize(
    ("bounce_type", "kind", "bounce"),
    [
        ("HardBounce", "bounced", "hard"),
        ("BadEmailAddress", "bounced", "hard"),
        ("SoftBounce", "bounced", "soft"),
        ("Transient", "deferred", None),
        ("DnsError", "deferred", None),
        ("SpamNotification", "complained", None),
        ("Unsubscribe", "unsubscribed", None),
        ("ManuallyDeactivated", "rejected", None),
        ("Blocked", "rejected", None),
    ],
)
def test_bounce_types(bounce_type: str, kind: str, bounce: str | None) -> None:
    """Postmark's bounce types map to kinds."""
    (event,) = postmark.parse(body({**BOUNCE, "Type": bounce_type}))

    assert (event.kind, event.bounce) == (kind, bounce)


@pytest.mark.parametrize(
    "bounce_type", ["AutoResponder", "AddressChange", "Subscribe", "OpenRelayTest"]
)
def test_bounce_types_outside_the_vocabulary_are_skipped(bounce_type: str) -> None:
    """Auto-replies and the like are not delivery events."""
    assert postmark.parse(body({**BOUNCE, "Type": bounce_type})) == ()


@pytest.mark.parametrize(
    ("event", "kind", "recipient", "when"),
    [
        (
            DELIVERY,
            "delivered",
            "john@example.com",
            dt.datetime(2021, 2, 21, 16, 34, 52, tzinfo=dt.UTC),
        ),
        (OPEN, "opened", "john@example.com", dt.datetime(2019, 11, 5, 16, 33, 54, 907025, dt.UTC)),
        (
            CLICK,
            "clicked",
            "john@example.com",
            dt.datetime(2019, 11, 5, 16, 33, 54, 907025, dt.UTC),
        ),
        (
            SPAM,
            "complained",
            "john@example.com",
            dt.datetime(2019, 11, 5, 16, 33, 54, 907025, dt.UTC),
        ),
        (
            SUBSCRIPTION,
            "unsubscribed",
            "bounced-address@wildbit.com",
            dt.datetime(2020, 2, 1, 10, 53, 34, 416071, dt.UTC),
        ),
    ],
    ids=["delivery", "open", "click", "spam", "subscription"],
)
def test_record_types(event: dict[str, Any], kind: str, recipient: str, when: dt.datetime) -> None:
    """Each documented record type has its kind, recipient and time."""
    (parsed,) = postmark.parse(body(event))

    assert (parsed.kind, parsed.recipient, parsed.timestamp) == (kind, recipient, when)


def test_events_without_an_id_get_one_from_their_content() -> None:
    """A delivery's id is built from type, message, recipient and time (stable on retries)."""
    (event,) = postmark.parse(body(DELIVERY))

    assert event.event_id == (
        "postmark:Delivery:00000000-0000-0000-0000-000000000000:john@example.com:2021-02-21T16:34:52Z"
    )


def test_a_suppression_for_a_hard_bounce_is_a_hard_bounce() -> None:
    """SubscriptionChange with SuppressionReason HardBounce -> bounced/hard."""
    (event,) = postmark.parse(body({**SUBSCRIPTION, "SuppressionReason": "HardBounce"}))

    assert (event.kind, event.bounce) == ("bounced", "hard")


def test_a_reactivation_gives_no_event() -> None:
    """SuppressSending false (reactivated) is not in our vocabulary."""
    assert postmark.parse(body({**SUBSCRIPTION, "SuppressSending": False})) == ()


@pytest.mark.parametrize(
    "payload",
    [
        b"nope",
        b"[]",
        b"{}",
        body({**DELIVERY, "Recipient": None}),
        body({**DELIVERY, "DeliveredAt": "yesterday"}),
    ],
)
def test_malformed_payloads_raise_the_payload_error(payload: bytes) -> None:
    """Not JSON, no RecordType, no recipient, an unreadable time: WebhookPayloadError."""
    with pytest.raises(WebhookPayloadError):
        postmark.parse(payload)
