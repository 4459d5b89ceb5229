"""Amazon SES through SNS: signature, pins, topic allow-list, confirmations, events.

Docs: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html and
https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html
(string to sign, versions 1 and 2, the certificate URL), https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html,
https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html (message examples),
https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-examples.html
(the SES event records below). Signatures are made with a CA and a signing certificate
built with ``cryptography`` (tests/webhook_signing.py), exactly as SNS signs.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from typing import Any

import pytest
from cryptography import x509

from proper_mail.errors import ConfigError, WebhookPayloadError, WebhookVerificationError
from proper_mail.webhooks import ses
from proper_mail.webhooks.ses import SesConfig
from tests.webhook_signing import (
    CERT_URL,
    NOW,
    TOPIC_ARN,
    SnsSigner,
    sns_body,
    sns_headers,
    sns_notification,
    sns_signer,
)

# The Bounce event record of SES's docs, with our Message-ID in the headers.
BOUNCE: dict[str, Any] = {
    "eventType": "Bounce",
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {
                "emailAddress": "recipient@example.com",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
        ],
        "timestamp": "2017-08-05T00:41:02.669Z",
        "feedbackId": "01000157c44f053b-61b59c11-9236-11e6-8f96-7be8aexample-000000",
        "reportingMTA": "dsn; mta.example.com",
    },
    "mail": {
        "timestamp": "2017-08-05T00:40:02.012Z",
        "source": "Sender Name <sender@example.com>",
        "sourceArn": "arn:aws:ses:us-east-1:123456789012:identity/sender@example.com",
        "sendingAccountId": "123456789012",
        "messageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000",
        "destination": ["recipient@example.com"],
        "headersTruncated": False,
        "headers": [
            {"name": "From", "value": "Sender Name <sender@example.com>"},
            {"name": "To", "value": "recipient@example.com"},
            {"name": "Message-ID", "value": "<20260302.abc@app.example.com>"},
        ],
        "commonHeaders": {
            "from": ["Sender Name <sender@example.com>"],
            "to": ["recipient@example.com"],
            "messageId": "<20260302.abc@app.example.com>",
            "subject": "Message sent from Amazon SES",
        },
        "tags": {"ses:configuration-set": ["ConfigSet"]},
    },
}


class Certificates:
    """The injected certificate source: the signer's certificate, and the URLs asked for."""

    def __init__(self, signer: SnsSigner) -> None:
        self.signer = signer
        self.asked: list[str] = []

    def __call__(self, url: str) -> x509.Certificate:
        self.asked.append(url)
        return self.signer.certificate


class Confirmations:
    """The injected confirm function: the SubscribeURLs it was given."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, url: str) -> None:
        self.urls.append(url)


def config_for(signer: SnsSigner | None = None, **changes: Any) -> SesConfig:
    """A SesConfig with the test topic and the given signer's certificate."""
    fields: dict[str, Any] = {
        "topic_arns": [TOPIC_ARN],
        "certificate_for": Certificates(signer or sns_signer()),
        "confirm": Confirmations(),
    }
    return SesConfig(**{**fields, **changes})


def signed(message: dict[str, Any], version: str = "2", **kw: Any) -> dict[str, Any]:
    """*message* signed by the session's signer."""
    return sns_signer().sign(message, version=version, **kw)


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("subject", [None, "Amazon SES Email Event Notification"])
def test_a_signed_notification_verifies(version: str, subject: str | None) -> None:
    """SignatureVersion 1 (SHA1) and 2 (SHA256), with and without a Subject."""
    message = signed(sns_notification(BOUNCE, subject=subject), version)
    config = config_for()

    ses.verify(sns_headers(message), sns_body(message), config, NOW)

    assert config.certificate_for.asked == [CERT_URL]  # type: ignore[attr-defined]


def test_the_string_to_sign_follows_the_documented_order() -> None:
    """Notification: Message, MessageId, Subject, Timestamp, TopicArn, Type (name, value lines)."""
    message = {
        "Type": "Notification",
        "MessageId": "m",
        "Message": "hi",
        "Timestamp": "t",
        "TopicArn": "a",
        "Subject": "s",
    }

    assert ses.string_to_sign(message) == (
        b"Message\nhi\nMessageId\nm\nSubject\ns\nTimestamp\nt\nTopicArn\na\nType\nNotification\n"
    )


def test_the_confirmation_string_to_sign_has_its_own_fields() -> None:
    """Confirmations sign Message, MessageId, SubscribeURL, Timestamp, Token, TopicArn, Type."""
    message = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m",
        "Message": "hi",
        "SubscribeURL": "u",
        "Timestamp": "t",
        "Token": "k",
        "TopicArn": "a",
    }

    assert ses.string_to_sign(message) == (
        b"Message\nhi\nMessageId\nm\nSubscribeURL\nu\nTimestamp\nt\nToken\nk\nTopicArn\na\n"
        b"Type\nSubscriptionConfirmation\n"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("Message", json.dumps({**BOUNCE, "eventType": "Delivery"})),
        ("MessageId", "another-id"),
        ("Timestamp", "2026-03-02T09:30:01.000Z"),
        ("Subject", "added"),
        ("Type", "SubscriptionConfirmation"),
    ],
)
def test_a_tampered_field_is_refused(field: str, value: str) -> None:
    """Every signed field is covered by the signature."""
    message = {**signed(sns_notification(BOUNCE)), field: value}

    with pytest.raises(WebhookVerificationError):
        ses.verify({}, sns_body(message), config_for(), NOW)


def test_a_topic_not_allowed_is_refused_before_any_fetch() -> None:
    """Another account's topic, validly signed by SNS, is refused; no certificate fetched."""
    message = signed(sns_notification(BOUNCE, topic="arn:aws:sns:us-east-1:999999999999:evil"))
    config = config_for()

    with pytest.raises(WebhookVerificationError, match="topic not in topic_arns"):
        ses.verify({}, sns_body(message), config, NOW)
    assert config.certificate_for.asked == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-x.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-x.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com@evil.example/x.pem",
        "https://user@sns.us-east-1.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com:8443/x.pem",
        "https://s3.amazonaws.com/x.pem",
        "https://sns.us-east-1.amazonaws.com/x.pem?redirect=https://evil.example",
        "https://sns.us-east-1.amazonaws.com/x.txt",
        "file:///etc/passwd",
        "https://[::1/x.pem",
    ],
)
def test_a_certificate_url_off_the_pin_is_never_fetched(url: str) -> None:
    """Only https://sns.<region>.amazonaws.com(.cn)/....pem is fetched."""
    message = signed(sns_notification(BOUNCE), cert_url=url)
    config = config_for()

    with pytest.raises(WebhookVerificationError, match="not an Amazon SNS URL"):
        ses.verify({}, sns_body(message), config, NOW)
    assert config.certificate_for.asked == []  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "url",
    [
        "https://sns.eu-west-3.amazonaws.com/SimpleNotificationService-a.pem",
        "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-a.pem",
        "https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-a.pem",
    ],
)
def test_every_region_and_china_are_on_the_pin(url: str) -> None:
    """The pin is a pattern over the region, with the .com.cn partition."""
    message = signed(sns_notification(BOUNCE), cert_url=url)

    ses.verify({}, sns_body(message), config_for(), NOW)


def test_a_certificate_from_another_key_is_refused() -> None:
    """A certificate whose key did not sign the message: the signature does not match."""
    message = signed(sns_notification(BOUNCE))
    other = SnsSigner(sns_signer().key, _other_certificate(), sns_signer().ca_certificate)

    with pytest.raises(WebhookVerificationError, match="does not match"):
        ses.verify({}, sns_body(message), config_for(other), NOW)


def _other_certificate() -> x509.Certificate:
    from tests.webhook_signing import _rsa_key

    signer = sns_signer()
    builder = x509.CertificateBuilder(
        issuer_name=signer.certificate.issuer,
        subject_name=signer.certificate.subject,
        public_key=_rsa_key("other").public_key(),
        serial_number=3,
        not_valid_before=signer.certificate.not_valid_before_utc,
        not_valid_after=signer.certificate.not_valid_after_utc,
    )
    from cryptography.hazmat.primitives import hashes

    return builder.sign(_rsa_key("ca"), hashes.SHA256())


def test_an_expired_certificate_is_refused() -> None:
    """The signing certificate must be valid at `now`."""
    expired = SnsSigner.make(
        not_before=NOW - dt.timedelta(days=400), not_after=NOW - dt.timedelta(days=1)
    )
    message = expired.sign(sns_notification(BOUNCE))

    with pytest.raises(WebhookVerificationError, match="not valid now"):
        ses.verify({}, sns_body(message), config_for(expired), NOW)


def test_a_message_older_than_the_window_is_refused() -> None:
    """The signed Timestamp must be within an hour by default."""
    message = signed(sns_notification(BOUNCE, timestamp=NOW - dt.timedelta(hours=2)))

    with pytest.raises(WebhookVerificationError, match="from our clock"):
        ses.verify({}, sns_body(message), config_for(), NOW)


@pytest.mark.parametrize(
    "change",
    [
        {"SignatureVersion": "3"},
        {"Signature": "not base64 !"},
        {"Signature": None},
        {"SigningCertURL": None},
        {"Type": "Unsubscribe"},
        {"MessageId": None},
    ],
)
def test_malformed_sns_fields_are_refused(change: dict[str, Any]) -> None:
    """Unknown version or type, missing or malformed fields: verification errors."""
    message = {**signed(sns_notification(BOUNCE)), **change}

    with pytest.raises(WebhookVerificationError):
        ses.verify({}, sns_body(message), config_for(), NOW)


def test_the_type_header_must_agree_with_the_body() -> None:
    """x-amz-sns-message-type differing from Type is refused."""
    message = signed(sns_notification(BOUNCE))

    with pytest.raises(WebhookVerificationError, match="differs"):
        ses.verify(
            {"x-amz-sns-message-type": "SubscriptionConfirmation"},
            sns_body(message),
            config_for(),
            NOW,
        )


@pytest.mark.parametrize("body", [b"", b"raw ses event", b"[]"])
def test_a_body_that_is_not_an_sns_message_is_refused(body: bytes) -> None:
    """Raw message delivery (no signature) and junk are not verified."""
    with pytest.raises(WebhookVerificationError):
        ses.verify({}, body, config_for(), NOW)


@pytest.mark.parametrize("arns", [[], "", ["not-an-arn"], None])
def test_topic_arns_are_required(arns: object) -> None:
    """An SES receiver without a topic allow-list is a ConfigError."""
    with pytest.raises(ConfigError):
        SesConfig(topic_arns=arns)


CONFIRMATION = {
    "Type": "SubscriptionConfirmation",
    "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
    "Token": "2336412f37fb687f5d51e6e2425c464de12884",
    "TopicArn": TOPIC_ARN,
    "Message": (
        f"You have chosen to subscribe to the topic {TOPIC_ARN}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message."
    ),
    "SubscribeURL": (
        "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription"
        f"&TopicArn={TOPIC_ARN}&Token=2336412f37fb687f5d51e6e2425c464de12884"
    ),
    "Timestamp": "2026-03-02T09:29:04.751Z",
}


def test_a_verified_confirmation_is_confirmed_through_the_injected_function() -> None:
    """SubscriptionConfirmation: verified, then its SubscribeURL handed to confirm; no event."""
    message = signed(CONFIRMATION)
    config = config_for()

    ses.verify(sns_headers(message), sns_body(message), config, NOW)
    confirmed = ses.confirm_subscription(sns_body(message), config)

    assert confirmed is True
    assert config.confirm.urls == [CONFIRMATION["SubscribeURL"]]  # type: ignore[union-attr]
    assert ses.parse(sns_body(message)) == ()


def test_a_subscribe_url_off_the_pin_is_not_fetched() -> None:
    """A SubscribeURL on another host is refused, even in a signed confirmation."""
    message = signed(
        {**CONFIRMATION, "SubscribeURL": "https://evil.example/?Action=ConfirmSubscription"}
    )
    config = config_for()

    with pytest.raises(WebhookVerificationError, match="SubscribeURL is not an Amazon SNS URL"):
        ses.confirm_subscription(sns_body(message), config)
    assert config.confirm.urls == []  # type: ignore[union-attr]


def test_confirmation_can_be_left_to_you() -> None:
    """confirm=None: a confirmation is verified and ignored."""
    message = signed(CONFIRMATION)

    assert ses.confirm_subscription(sns_body(message), config_for(confirm=None)) is False


def test_the_origin_pin_is_injectable_for_tests() -> None:
    """origin_pattern replaces the pin (a loopback server in the integration tests)."""
    message = signed(sns_notification(BOUNCE), cert_url="http://127.0.0.1:8123/cert.pem")
    config = config_for(origin_pattern=re.compile(r"http://127\.0\.0\.1:\d+"))

    ses.verify({}, sns_body(message), config, NOW)


def parse_one(ses_event: dict[str, Any]) -> list[Any]:
    """The events parsed from *ses_event* in a Notification."""
    return list(ses.parse(sns_body(sns_notification(ses_event))))


def test_a_permanent_bounce() -> None:
    """Bounce/Permanent -> bounced/hard per bounced recipient, with SES's and our ids."""
    (event,) = parse_one(BOUNCE)

    assert (event.kind, event.bounce) == ("bounced", "hard")
    assert event.recipient == "recipient@example.com"
    assert (
        event.provider_message_id == "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"
    )
    assert event.message_id == "<20260302.abc@app.example.com>"
    assert event.reason == "smtp; 550 5.1.1 user unknown"
    assert event.timestamp == dt.datetime(2017, 8, 5, 0, 41, 2, 669000, dt.UTC)
    assert event.event_id == "ses:22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324:recipient@example.com"
    assert json.loads(event.raw) == BOUNCE


def test_a_transient_bounce_of_two_recipients() -> None:
    """Transient -> soft, one event per bounced recipient."""
    event = copy.deepcopy(BOUNCE)
    event["bounce"]["bounceType"] = "Transient"
    event["bounce"]["bouncedRecipients"].append({"emailAddress": "second@example.com"})

    events = parse_one(event)

    assert [(e.recipient, e.bounce) for e in events] == [
        ("recipient@example.com", "soft"),
        ("second@example.com", "soft"),
    ]
    assert events[1].reason == "Transient/General"


def test_identity_notifications_use_notification_type() -> None:
    """The older notificationType format (identity feedback) parses the same way."""
    event = {k: v for k, v in BOUNCE.items() if k != "eventType"}
    event["notificationType"] = "Bounce"

    (parsed,) = parse_one(event)

    assert parsed.kind == "bounced"


# One documented record of each other SES event type: (type, detail, kind, recipients).
EVENT_DETAILS: list[tuple[str, dict[str, Any], str, list[str]]] = [
    (
        "Complaint",
        {
            "complaint": {
                "complainedRecipients": [{"emailAddress": "recipient@example.com"}],
                "timestamp": "2017-08-05T00:41:02.669Z",
                "complaintFeedbackType": "abuse",
            }
        },
        "complained",
        ["recipient@example.com"],
    ),
    (
        "Delivery",
        {
            "delivery": {
                "timestamp": "2016-10-19T23:21:04.133Z",
                "recipients": ["recipient@example.com"],
                "smtpResponse": "250 2.6.0 Message received",
            }
        },
        "delivered",
        ["recipient@example.com"],
    ),
    (
        "DeliveryDelay",
        {
            "deliveryDelay": {
                "timestamp": "2020-06-16T00:15:40.641Z",
                "delayType": "TransientCommunicationFailure",
                "delayedRecipients": [{"emailAddress": "recipient@example.com", "status": "4.4.1"}],
            }
        },
        "deferred",
        ["recipient@example.com"],
    ),
    ("Send", {"send": {}}, "sent", ["recipient@example.com"]),
    ("Reject", {"reject": {"reason": "Bad content"}}, "rejected", ["recipient@example.com"]),
    (
        "Rendering Failure",
        {"failure": {"errorMessage": "Attribute 'name' is not present", "templateName": "T"}},
        "rejected",
        ["recipient@example.com"],
    ),
    (
        "Open",
        {
            "open": {
                "ipAddress": "192.0.2.1",
                "timestamp": "2017-08-09T22:00:19.652Z",
                "userAgent": "Mozilla",
            }
        },
        "opened",
        ["recipient@example.com"],
    ),
    (
        "Click",
        {
            "click": {
                "ipAddress": "192.0.2.1",
                "link": "http://docs.aws.amazon.com/ses/latest/DeveloperGuide/send-email-smtp.html",
                "timestamp": "2017-08-09T23:51:25.570Z",
            }
        },
        "clicked",
        ["recipient@example.com"],
    ),
    (
        "Subscription",
        {
            "subscription": {
                "contactList": "SystemMonitor",
                "timestamp": "2022-01-12T01:00:17.910Z",
                "source": "UnsubscribeHeader",
                "newTopicPreferences": {"unsubscribeAll": True},
            }
        },
        "unsubscribed",
        ["recipient@example.com"],
    ),
]


@pytest.mark.parametrize(("event_type", "detail", "kind", "recipients"), EVENT_DETAILS)
def test_event_types(
    event_type: str, detail: dict[str, Any], kind: str, recipients: list[str]
) -> None:
    """Each documented SES event type has its kind and recipients."""
    event = {"eventType": event_type, "mail": BOUNCE["mail"], **detail}

    events = parse_one(event)

    assert [(e.kind, e.recipient) for e in events] == [(kind, r) for r in recipients]


def test_an_open_of_a_message_to_several_names_no_recipient() -> None:
    """SES does not say who opened a message sent to several."""
    mail = {**BOUNCE["mail"], "destination": ["a@example.com", "b@example.com"]}
    event = {"eventType": "Open", "mail": mail, "open": {"timestamp": "2017-08-09T22:00:19.652Z"}}

    (parsed,) = parse_one(event)

    assert parsed.recipient is None
    assert parsed.event_id.endswith(":*")


@pytest.mark.parametrize(
    "ses_event",
    [
        ses.SETUP_MESSAGE,
        {"eventType": "Received", "mail": BOUNCE["mail"]},
        {
            "eventType": "Complaint",
            "mail": BOUNCE["mail"],
            "complaint": {
                "complainedRecipients": [],
                "timestamp": "2017-08-05T00:41:02.669Z",
                "complaintFeedbackType": "not-spam",
            },
        },
        {
            "eventType": "Subscription",
            "mail": BOUNCE["mail"],
            "subscription": {
                "timestamp": "2022-01-12T01:00:17.910Z",
                "newTopicPreferences": {"unsubscribeAll": False},
            },
        },
    ],
    ids=["setup", "inbound", "not-spam", "topic-change"],
)
def test_messages_that_are_not_delivery_events_give_none(ses_event: dict[str, Any] | str) -> None:
    """SES's set-up message, inbound mail, not-spam feedback, a topic change."""
    assert ses.parse(sns_body(sns_notification(ses_event))) == ()


@pytest.mark.parametrize(
    "ses_event",
    [
        "not json",
        {"eventType": "Bounce"},
        {"eventType": "Bounce", "mail": {}, "bounce": {"timestamp": "2017-08-05T00:41:02.669Z"}},
        {
            "eventType": "Bounce",
            "mail": {},
            "bounce": {"bouncedRecipients": [{}], "timestamp": "2017-08-05T00:41:02.669Z"},
        },
        {
            "eventType": "Delivery",
            "mail": {},
            "delivery": {"recipients": ["a@b.c"], "timestamp": 5},
        },
    ],
)
def test_malformed_ses_events_raise_the_payload_error(ses_event: dict[str, Any] | str) -> None:
    """Not JSON, no mail, no recipients, a recipient without address, a bad time."""
    with pytest.raises(WebhookPayloadError):
        ses.parse(sns_body(sns_notification(ses_event)))
