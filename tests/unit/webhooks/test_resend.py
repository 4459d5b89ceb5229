"""Resend webhooks: Svix signature verification and event parsing.

Docs: https://docs.svix.com/receiving/verifying-payloads/how-manual (scheme, test vector),
https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests,
https://resend.com/docs/webhooks/event-types, https://resend.com/docs/webhooks/emails/bounced.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from proper_mail.errors import ConfigError, WebhookPayloadError, WebhookVerificationError
from proper_mail.webhooks import resend
from proper_mail.webhooks.resend import ResendConfig
from tests.webhook_signing import NOW, NOW_TS, RESEND_SECRET, svix_headers

CONFIG = ResendConfig(secret=RESEND_SECRET)

# Svix's published test vector (docs.svix.com, and the svix libraries' tests).
SVIX_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SVIX_BODY = b'{"test": 2432232314}'
SVIX_HEADERS = {
    "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
    "svix-timestamp": "1614265330",
    "svix-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
}
SVIX_NOW = dt.datetime.fromtimestamp(1614265330, dt.UTC)

# The email.bounced example of Resend's docs, with our Message-ID echoed in its tag
# (base64url of "20260302.abc@app.example.com").
BOUNCED: dict[str, Any] = {
    "type": "email.bounced",
    "created_at": "2024-11-22T23:41:12.126Z",
    "data": {
        "broadcast_id": "8b146471-e88e-4322-86af-016cd36fd216",
        "created_at": "2024-11-22T23:41:11.894719+00:00",
        "email_id": "56761188-7520-42d8-8898-ff6fc54ce618",
        "from": "Acme <onboarding@resend.dev>",
        "to": ["delivered@resend.dev"],
        "subject": "Sending this example",
        "bounce": {
            "message": (
                "The recipient's email address is on the suppression list because it "
                "has a recent history of producing hard bounces."
            ),
            "subType": "Suppressed",
            "type": "Permanent",
        },
        "tags": {
            "category": "confirm_email",
            "proper_mail_id": "MjAyNjAzMDIuYWJjQGFwcC5leGFtcGxlLmNvbQ",
        },
    },
}
BOUNCED_BODY = json.dumps(BOUNCED).encode()


def test_svix_documented_test_vector_verifies() -> None:
    """The signature Svix publishes for its example secret, id, timestamp and body is accepted."""
    resend.verify(SVIX_HEADERS, SVIX_BODY, ResendConfig(secret=SVIX_SECRET), SVIX_NOW)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({**SVIX_HEADERS, "svix-id": "msg_p5jXN8AQM9LWM0D4loKWxJeK"}, SVIX_BODY),
        ({**SVIX_HEADERS, "svix-timestamp": "1614265331"}, SVIX_BODY),
        (SVIX_HEADERS, b'{"test": 2432232315}'),
        (SVIX_HEADERS, SVIX_BODY + b" "),
        (
            {**SVIX_HEADERS, "svix-signature": "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="},
            SVIX_BODY,
        ),
    ],
    ids=["id", "timestamp", "body", "trailing-space", "version"],
)
def test_svix_vector_tampered_in_any_part_is_refused(headers: dict[str, str], body: bytes) -> None:
    """Changing the id, the timestamp, one byte of the body or the version breaks the signature."""
    with pytest.raises(WebhookVerificationError, match="no svix-signature matches"):
        resend.verify(headers, body, ResendConfig(secret=SVIX_SECRET), SVIX_NOW)


def test_one_matching_signature_among_several_is_enough() -> None:
    """During a secret rotation the header lists several signatures, space-separated."""
    headers = {
        **SVIX_HEADERS,
        "svix-signature": "v1,bm9wZQ== v1a,xyz " + SVIX_HEADERS["svix-signature"],
    }

    resend.verify(headers, SVIX_BODY, ResendConfig(secret=SVIX_SECRET), SVIX_NOW)


def test_white_labelled_webhook_headers_are_read() -> None:
    """webhook-id / webhook-timestamp / webhook-signature work like the svix- names."""
    headers = {k.replace("svix-", "webhook-"): v for k, v in SVIX_HEADERS.items()}

    resend.verify(headers, SVIX_BODY, ResendConfig(secret=SVIX_SECRET), SVIX_NOW)


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_a_timestamp_outside_five_minutes_is_refused(skew: int) -> None:
    """A correctly signed request older or newer than the window is a replay or a bad clock."""
    headers = svix_headers(BOUNCED_BODY, timestamp=NOW_TS + skew)

    with pytest.raises(WebhookVerificationError, match="from our clock"):
        resend.verify(headers, BOUNCED_BODY, CONFIG, NOW)


def test_the_window_is_configurable() -> None:
    """tolerance widens the window."""
    headers = svix_headers(BOUNCED_BODY, timestamp=NOW_TS - 3600)
    config = ResendConfig(secret=RESEND_SECRET, tolerance=dt.timedelta(hours=2))

    resend.verify(headers, BOUNCED_BODY, config, NOW)


@pytest.mark.parametrize("missing", ["svix-id", "svix-timestamp", "svix-signature"])
def test_a_missing_header_is_refused(missing: str) -> None:
    """Each of the three headers is required."""
    headers = svix_headers(BOUNCED_BODY)
    del headers[missing]

    with pytest.raises(WebhookVerificationError, match="headers are required"):
        resend.verify(headers, BOUNCED_BODY, CONFIG, NOW)


@pytest.mark.parametrize("signature", ["v1,not base64!", "v1,", "garbage", "v1"])
def test_a_malformed_signature_is_refused_not_crashed(signature: str) -> None:
    """Malformed signature entries are skipped; none matching is a verification error."""
    headers = {**svix_headers(BOUNCED_BODY), "svix-signature": signature}

    with pytest.raises(WebhookVerificationError):
        resend.verify(headers, BOUNCED_BODY, CONFIG, NOW)


def test_a_non_numeric_timestamp_is_refused() -> None:
    """svix-timestamp must be digits."""
    headers = {**svix_headers(BOUNCED_BODY), "svix-timestamp": "1e9"}

    with pytest.raises(WebhookVerificationError, match="not a number"):
        resend.verify(headers, BOUNCED_BODY, CONFIG, NOW)


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_%%%", 42])
def test_a_bad_secret_is_a_config_error(secret: object) -> None:
    """The secret is checked when configured, not on the first request."""
    with pytest.raises(ConfigError):
        ResendConfig(secret=secret)


def test_the_secret_is_not_in_the_repr() -> None:
    """repr(config) shows no key material."""
    assert "proper_mail" not in repr(CONFIG)
    assert "whsec" not in repr(CONFIG)
    assert "secret" not in repr(CONFIG)


def test_a_permanent_bounce_is_a_hard_bounce_with_our_message_id() -> None:
    """email.bounced (Permanent) -> bounced/hard, recipient, Resend's id, our Message-ID."""
    (event,) = resend.parse(BOUNCED_BODY, svix_id="msg_1")

    assert event.kind == "bounced"
    assert event.bounce == "hard"
    assert event.provider == "resend"
    assert event.recipient == "delivered@resend.dev"
    assert event.provider_message_id == "56761188-7520-42d8-8898-ff6fc54ce618"
    assert event.message_id == "<20260302.abc@app.example.com>"
    assert event.timestamp == dt.datetime(2024, 11, 22, 23, 41, 12, 126000, dt.UTC)
    assert event.reason is not None
    assert event.reason.startswith("The recipient's email")
    assert event.event_id == "resend:msg_1"
    assert json.loads(event.raw) == BOUNCED


def test_a_transient_bounce_is_soft() -> None:
    """A bounce of type Transient is a soft bounce."""
    data = {**BOUNCED["data"], "bounce": {"type": "Transient", "message": "mailbox full"}}
    body = json.dumps({**BOUNCED, "data": data}).encode()

    (event,) = resend.parse(body)

    assert event.bounce == "soft"


@pytest.mark.parametrize(
    ("event_type", "kind"),
    [
        ("email.sent", "sent"),
        ("email.delivered", "delivered"),
        ("email.delivery_delayed", "deferred"),
        ("email.complained", "complained"),
        ("email.opened", "opened"),
        ("email.clicked", "clicked"),
        ("email.failed", "rejected"),
        ("email.suppressed", "rejected"),
        ("email.scheduled", "queued"),
    ],
)
def test_event_types_map_to_kinds(event_type: str, kind: str) -> None:
    """Each documented email event type has its kind."""
    data = {k: v for k, v in BOUNCED["data"].items() if k != "bounce"}
    body = json.dumps({**BOUNCED, "type": event_type, "data": data}).encode()

    (event,) = resend.parse(body)

    assert event.kind == kind
    assert event.bounce is None


@pytest.mark.parametrize("event_type", ["contact.created", "domain.updated", "email.received"])
def test_other_event_types_give_no_event(event_type: str) -> None:
    """Events outside the delivery vocabulary are skipped."""
    assert resend.parse(json.dumps({**BOUNCED, "type": event_type}).encode()) == ()


def test_several_recipients_leave_the_recipient_unknown() -> None:
    """Resend does not say which of several `to` addresses an event is about."""
    data = {**BOUNCED["data"], "to": ["a@example.com", "b@example.com"]}

    (event,) = resend.parse(json.dumps({**BOUNCED, "data": data}).encode())

    assert event.recipient is None


def test_without_svix_id_the_event_id_is_built_from_the_payload() -> None:
    """The type, the email id and created_at name the event, the same on every retry."""
    (event,) = resend.parse(BOUNCED_BODY)

    assert event.event_id == (
        "resend:email.bounced:56761188-7520-42d8-8898-ff6fc54ce618:2024-11-22T23:41:12.126Z"
    )


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"type": 3}',
        b'{"type": "email.sent"}',
        b'{"type": "email.sent", "data": {}}',
    ],
)
def test_malformed_payloads_raise_the_payload_error(body: bytes) -> None:
    """Not JSON, not an object, no type, no data, no created_at: WebhookPayloadError."""
    with pytest.raises(WebhookPayloadError):
        resend.parse(body)
