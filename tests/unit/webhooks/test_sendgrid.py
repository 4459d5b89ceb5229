"""SendGrid's signed Event Webhook: ECDSA verification and batch parsing.

Docs: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features
(signature scheme), https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
(event fields and examples). The known-answer vector (public key, signature, timestamp,
payload) is the one SendGrid publishes with its Python SDK's event webhook tests
(github.com/sendgrid/sendgrid-python, test/unit/test_eventwebhook.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from proper_mail.errors import ConfigError, WebhookPayloadError, WebhookVerificationError
from proper_mail.webhooks import sendgrid
from proper_mail.webhooks.sendgrid import SendGridConfig
from tests.webhook_signing import NOW, NOW_TS, sendgrid_headers, sendgrid_public_key

# SendGrid's published vector.
SG_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62"
    "gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g=="
)
SG_SIGNATURE = (
    "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+"
    "uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM="
)
SG_TIMESTAMP = "1600112502"
SG_EVENT = {
    "email": "hello@world.com",
    "event": "dropped",
    "reason": "Bounced Address",
    "sg_event_id": "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA",
    "sg_message_id": "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
    "smtp-id": "<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>",
    "timestamp": 1600112492,
}
SG_PAYLOAD = json.dumps([SG_EVENT], sort_keys=True, separators=(",", ":")).encode() + b"\r\n"
SG_HEADERS = {
    "X-Twilio-Email-Event-Webhook-Signature": SG_SIGNATURE,
    "X-Twilio-Email-Event-Webhook-Timestamp": SG_TIMESTAMP,
}
SG_NOW = dt.datetime.fromtimestamp(1600112502, dt.UTC)

CONFIG = SendGridConfig(public_key=sendgrid_public_key())

# The events of the Event Webhook reference, one of each kind we read.
BATCH = [
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "processed",
        "category": "cat facts",
        "sg_event_id": "rbtnWrG1DVDGGGFHFyun0A==",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000",
        "proper_mail_id": "20260302.abc@app.example.com",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "event": "deferred",
        "response": "400 try again later",
        "attempt": "5",
        "sg_event_id": "t7LEShmowp86DTdUW8M-GQ==",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "event": "bounce",
        "bounce_classification": "Invalid Address",
        "reason": "500 unknown recipient",
        "status": "5.0.0",
        "type": "bounce",
        "sg_event_id": "6g4ZI7SA-xmRDv57GoPIPw==",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "event": "bounce",
        "reason": "550 blocked for spam",
        "type": "blocked",
        "sg_event_id": "blocked-1",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.000000000000000000000",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "event": "spamreport",
        "sg_event_id": "sp-1",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "event": "unsubscribe",
        "sg_event_id": "un-1",
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "event": "group_resubscribe",
        "sg_event_id": "re-1",
    },
]
BATCH_BODY = json.dumps(BATCH).encode()


def test_sendgrids_published_vector_verifies() -> None:
    """SendGrid's own public key, signature, timestamp and payload are accepted."""
    sendgrid.verify(SG_HEADERS, SG_PAYLOAD, SendGridConfig(public_key=SG_PUBLIC_KEY), SG_NOW)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        (SG_HEADERS, SG_PAYLOAD.rstrip()),
        (SG_HEADERS, SG_PAYLOAD.replace(b"dropped", b"droppeD")),
        ({**SG_HEADERS, "X-Twilio-Email-Event-Webhook-Timestamp": "1600112503"}, SG_PAYLOAD),
        (
            {
                **SG_HEADERS,
                "X-Twilio-Email-Event-Webhook-Signature": (
                    "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQs"
                    "bVRamr2nlxFDWYNH3j/0="
                ),
            },
            SG_PAYLOAD,
        ),
    ],
    ids=["trailing-crlf-dropped", "body", "timestamp", "other-signature"],
)
def test_the_vector_tampered_is_refused(headers: dict[str, str], body: bytes) -> None:
    """The exact raw bytes (even the trailing CRLF) and the timestamp are signed."""
    with pytest.raises(WebhookVerificationError, match="does not match"):
        sendgrid.verify(headers, body, SendGridConfig(public_key=SG_PUBLIC_KEY), SG_NOW)


def test_a_generated_key_signs_as_sendgrid_does() -> None:
    """A batch signed with a fresh P-256 key verifies with its base64 DER public key."""
    sendgrid.verify(sendgrid_headers(BATCH_BODY), BATCH_BODY, CONFIG, NOW)


def test_another_key_is_refused() -> None:
    """The vector's key does not verify our signature."""
    with pytest.raises(WebhookVerificationError):
        sendgrid.verify(
            sendgrid_headers(BATCH_BODY), BATCH_BODY, SendGridConfig(public_key=SG_PUBLIC_KEY), NOW
        )


def test_a_pem_key_is_accepted() -> None:
    """The key may be configured as PEM too."""
    der = base64.b64decode(sendgrid_public_key())
    pem = serialization.load_der_public_key(der).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    sendgrid.verify(
        sendgrid_headers(BATCH_BODY), BATCH_BODY, SendGridConfig(public_key=pem.decode()), NOW
    )


@pytest.mark.parametrize("skew", [301, -400])
def test_a_stale_timestamp_is_refused(skew: int) -> None:
    """The signed timestamp must be within five minutes."""
    headers = sendgrid_headers(BATCH_BODY, timestamp=NOW_TS + skew)

    with pytest.raises(WebhookVerificationError, match="from our clock"):
        sendgrid.verify(headers, BATCH_BODY, CONFIG, NOW)


@pytest.mark.parametrize(
    "missing", ["X-Twilio-Email-Event-Webhook-Signature", "X-Twilio-Email-Event-Webhook-Timestamp"]
)
def test_a_missing_header_is_refused(missing: str) -> None:
    """Both headers are required."""
    headers = sendgrid_headers(BATCH_BODY)
    del headers[missing]

    with pytest.raises(WebhookVerificationError, match="header is missing"):
        sendgrid.verify(headers, BATCH_BODY, CONFIG, NOW)


@pytest.mark.parametrize(
    "signature", ["%%%", "AAAA", base64.b64encode(b"\x30\x02\x02\x00").decode()]
)
def test_a_malformed_signature_is_refused(signature: str) -> None:
    """Not base64, not DER: refused, not crashed."""
    headers = {**sendgrid_headers(BATCH_BODY), "X-Twilio-Email-Event-Webhook-Signature": signature}

    with pytest.raises(WebhookVerificationError):
        sendgrid.verify(headers, BATCH_BODY, CONFIG, NOW)


@pytest.mark.parametrize(
    "key",
    ["", "not base64 %", base64.b64encode(b"junk").decode(), 3],
)
def test_a_bad_public_key_is_a_config_error(key: object) -> None:
    """The key is loaded when configured."""
    with pytest.raises(ConfigError):
        SendGridConfig(public_key=key)


def test_a_key_on_another_curve_is_a_config_error() -> None:
    """SendGrid signs with P-256 only."""
    der = (
        ec.generate_private_key(ec.SECP384R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )

    with pytest.raises(ConfigError, match="P-256"):
        SendGridConfig(public_key=base64.b64encode(der).decode())


def test_the_vectors_dropped_event_is_a_rejection() -> None:
    """dropped -> rejected; the X-Message-Id is sg_message_id before .filter."""
    (event,) = sendgrid.parse(SG_PAYLOAD)

    assert event.kind == "rejected"
    assert event.recipient == "hello@world.com"
    assert event.provider_message_id == "LRzXl_NHStOGhQ4kofSm_A"
    assert event.reason == "Bounced Address"
    assert event.event_id == "sendgrid:ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"
    assert event.timestamp == dt.datetime.fromtimestamp(1600112492, dt.UTC)
    assert json.loads(event.raw) == SG_EVENT


def test_a_batch_gives_one_event_per_known_entry() -> None:
    """Every event kind of the batch is read; group_resubscribe is skipped."""
    events = sendgrid.parse(BATCH_BODY)

    assert [(e.kind, e.bounce) for e in events] == [
        ("queued", None),
        ("deferred", None),
        ("bounced", "hard"),
        ("bounced", "soft"),
        ("complained", None),
        ("unsubscribed", None),
    ]
    assert events[0].message_id == "<20260302.abc@app.example.com>"
    assert events[0].provider_message_id == "14c5d75ce93.dfd.64b469"
    assert events[1].reason == "400 try again later"
    assert events[2].reason == "500 unknown recipient"


@pytest.mark.parametrize(
    "body",
    [
        b"{}",
        b"[1]",
        b'[{"event": "delivered"}]',
        b'[{"event": "delivered", "email": "a@b.c", "timestamp": "soon"}]',
        b'[{"event": "delivered", "email": "a@b.c", "timestamp": 1e300}]',
    ],
)
def test_malformed_batches_raise_the_payload_error(body: bytes) -> None:
    """Not an array, not objects, no email, a bad timestamp: WebhookPayloadError."""
    with pytest.raises(WebhookPayloadError):
        sendgrid.parse(body)
