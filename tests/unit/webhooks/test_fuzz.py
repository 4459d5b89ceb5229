"""Hypothesis over headers and bodies: only the typed errors escape, the app never 500s.

Two kinds of input: arbitrary requests (headers with the providers' names and any values,
any bytes), which must be refused with WebhookVerificationError; and correctly *signed*
arbitrary JSON (shaped with each provider's field names), which reaches the parsers and
must give events or WebhookPayloadError, nothing else. The parsers are also called
directly, so a bug could not hide behind verify_and_parse's safety net.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proper_mail.errors import WebhookPayloadError, WebhookVerificationError
from proper_mail.webhooks import (
    DeliveryEvent,
    WebhookConfig,
    mailgun,
    postmark,
    resend,
    sendgrid,
    ses,
    verify_and_parse,
    webhook_app,
)
from tests.unit.webhooks.test_receiver import config
from tests.webhook_signing import (
    NOW,
    TOPIC_ARN,
    basic_auth,
    mailgun_signature,
    sendgrid_headers,
    sns_body,
    sns_notification,
    sns_signer,
    svix_headers,
)

CONFIG: WebhookConfig = config()
APP = webhook_app(CONFIG, clock=lambda: NOW)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NOT_500 = {200, 400, 401, 403, 404, 405, 411, 413}

HEADER_NAMES = [
    "authorization",
    "svix-id",
    "svix-timestamp",
    "svix-signature",
    "webhook-signature",
    "x-twilio-email-event-webhook-signature",
    "x-twilio-email-event-webhook-timestamp",
    "x-amz-sns-message-type",
    "content-type",
]
FIELD_NAMES = [
    # postmark
    "RecordType",
    "Type",
    "ID",
    "Email",
    "Recipient",
    "BouncedAt",
    "DeliveredAt",
    "ReceivedAt",
    "ChangedAt",
    "MessageID",
    "Metadata",
    "Details",
    "Description",
    "SuppressSending",
    "SuppressionReason",
    # resend
    "type",
    "created_at",
    "data",
    "email_id",
    "to",
    "headers",
    "tags",
    "bounce",
    "name",
    "value",
    "message",
    # sendgrid
    "event",
    "email",
    "timestamp",
    "sg_event_id",
    "sg_message_id",
    "reason",
    "response",
    "proper_mail_id",
    # mailgun
    "event-data",
    "signature",
    "token",
    "recipient",
    "severity",
    "delivery-status",
    "user-variables",
    "message-id",
    "reject",
    # ses
    "eventType",
    "notificationType",
    "mail",
    "destination",
    "messageId",
    "commonHeaders",
    "bouncedRecipients",
    "emailAddress",
    "bounceType",
    "complainedRecipients",
    "recipients",
    "delayedRecipients",
    "deliveryDelay",
    "delivery",
    "complaint",
    "open",
    "click",
    "subscription",
    "newTopicPreferences",
    "unsubscribeAll",
    "failure",
]
VALUES = [
    "Bounce",
    "Delivery",
    "Open",
    "Click",
    "SpamComplaint",
    "SubscriptionChange",
    "HardBounce",
    "SoftBounce",
    "email.bounced",
    "email.delivered",
    "email.sent",
    "bounce",
    "blocked",
    "processed",
    "failed",
    "delivered",
    "temporary",
    "permanent",
    "Permanent",
    "Transient",
    "Complaint",
    "Send",
    "Open",
    "Subscription",
    "2026-03-02T09:30:00Z",
    "2026-03-02T09:30:00.1234567+02:00",
    "a@example.com",
    "Name <b@example.com>",
    "1772443800",
    "not-spam",
    "Rendering Failure",
    "DeliveryDelay",
]

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.sampled_from(VALUES)
    | st.text(max_size=20)
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)
objects = st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=8)
headers = st.dictionaries(
    st.sampled_from(HEADER_NAMES) | st.text(max_size=10), st.text(max_size=60), max_size=6
)
bodies = st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode())


def call_app(provider: str, request_headers: dict[str, str], body: bytes) -> int:
    """POST through the real WSGI app in-process; the status code."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": f"/{provider}",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    for name, value in request_headers.items():
        key = "HTTP_" + name.upper().replace("-", "_")
        if key.isascii() and value.isascii():
            environ[key] = value
    statuses: list[str] = []
    b"".join(APP(environ, lambda status, _headers: statuses.append(status)))
    return int(statuses[0].split()[0])


def only_typed(
    call: Callable[[], tuple[DeliveryEvent, ...]], *allowed: type[BaseException]
) -> tuple[DeliveryEvent, ...] | BaseException:
    """Run *call*; its events, or the exception if it is one of *allowed*."""
    try:
        return call()
    except allowed as e:
        return e


def events_or(
    outcome: tuple[DeliveryEvent, ...] | BaseException, error: type[BaseException]
) -> bool:
    """True when *outcome* is a tuple of events or an *error*."""
    if isinstance(outcome, BaseException):
        return isinstance(outcome, error)
    return all(isinstance(event, DeliveryEvent) for event in outcome)


@FUZZ
@given(st.sampled_from(["postmark", "resend", "sendgrid", "mailgun", "ses"]), headers, bodies)
def test_arbitrary_requests_are_refused_with_the_typed_errors(
    provider: str, request_headers: dict[str, str], body: bytes
) -> None:
    """Unsigned arbitrary input: WebhookVerificationError, and a 4xx from the app."""
    outcome = only_typed(
        lambda: verify_and_parse(provider, request_headers, body, config=CONFIG, now=NOW),
        WebhookVerificationError,
        WebhookPayloadError,
    )

    assert isinstance(outcome, WebhookVerificationError)
    assert call_app(provider, request_headers, body) in NOT_500 - {200}


def signed_request(provider: str, payload: Any) -> tuple[dict[str, str], bytes]:
    """*payload* sent the way *provider* signs it."""
    if provider == "mailgun":
        payload = {
            "signature": mailgun_signature("tok-" + str(abs(hash(json.dumps(payload))))),
            "event-data": payload,
        }
    if provider == "ses":
        message = sns_signer().sign(sns_notification(json.dumps(payload), topic=TOPIC_ARN))
        return {}, sns_body(message)
    body = json.dumps(payload).encode()
    if provider == "resend":
        return svix_headers(body), body
    if provider == "sendgrid":
        return sendgrid_headers(body), body
    return basic_auth("pm", "pw"), body


PARSERS: dict[str, Callable[[bytes], tuple[DeliveryEvent, ...]]] = {
    "postmark": postmark.parse,
    "resend": resend.parse,
    "sendgrid": sendgrid.parse,
    "mailgun": mailgun.parse,
    "ses": ses.parse,
}


@FUZZ
@given(st.sampled_from(list(PARSERS)), json_values | objects | st.lists(objects, max_size=3))
def test_signed_arbitrary_json_gives_events_or_the_payload_error(
    provider: str, payload: Any
) -> None:
    """Verified input reaches the parser: a tuple of events or WebhookPayloadError only."""
    request_headers, body = signed_request(provider, payload)

    direct = only_typed(lambda: PARSERS[provider](body), WebhookPayloadError)
    through = only_typed(
        lambda: verify_and_parse(provider, request_headers, body, config=CONFIG, now=NOW),
        WebhookPayloadError,
    )

    assert events_or(direct, WebhookPayloadError)
    assert events_or(through, WebhookPayloadError)
    assert call_app(provider, request_headers, body) in NOT_500


@FUZZ
@given(objects, st.sampled_from(VALUES[:8]))
def test_shaped_postmark_events(event: dict[str, Any], record_type: str) -> None:
    """Postmark objects with a real RecordType and random fields: events or the payload error."""
    body = json.dumps({**event, "RecordType": record_type}).encode()

    outcome = only_typed(lambda: postmark.parse(body), WebhookPayloadError)

    assert events_or(outcome, WebhookPayloadError)


@FUZZ
@given(
    st.sampled_from(
        [
            "Bounce",
            "Complaint",
            "Delivery",
            "DeliveryDelay",
            "Send",
            "Reject",
            "Open",
            "Click",
            "Subscription",
            "Rendering Failure",
        ]
    ),
    objects,
    objects,
)
def test_shaped_ses_events(event_type: str, detail: dict[str, Any], mail: dict[str, Any]) -> None:
    """SES events of each type with random detail and mail objects."""
    key = {"Rendering Failure": "failure", "DeliveryDelay": "deliveryDelay"}.get(
        event_type, event_type.lower()
    )
    message = sns_notification({"eventType": event_type, key: detail, "mail": mail})

    outcome = only_typed(lambda: ses.parse(sns_body(message)), WebhookPayloadError)

    assert events_or(outcome, WebhookPayloadError)


@st.composite
def mutated(draw: st.DrawFn, example: Any) -> Any:
    """*example* (a documented payload) with one to three parts replaced by arbitrary JSON
    or deleted, at any depth: near-valid input that reaches deep into the parsers."""
    value = json.loads(json.dumps(example))
    for _ in range(draw(st.integers(1, 3))):
        value = _mutate_once(draw, value)
    return value


def _mutate_once(draw: st.DrawFn, value: Any) -> Any:
    if isinstance(value, dict | list) and value and draw(st.booleans()):
        keys = sorted(value) if isinstance(value, dict) else list(range(len(value)))
        key = draw(st.sampled_from(keys))
        action = draw(st.sampled_from(["replace", "delete", "descend", "descend"]))
        if action == "delete":
            del value[key]
        elif action == "replace":
            value[key] = draw(json_values)
        else:
            value[key] = _mutate_once(draw, value[key])
        return value
    return draw(json_values) if draw(st.booleans()) else value


def _examples() -> dict[str, list[Any]]:
    from tests.unit.webhooks import (
        test_mailgun,
        test_postmark,
        test_resend,
        test_sendgrid,
        test_ses,
    )

    ses_events = [test_ses.BOUNCE] + [
        {"eventType": p[0], "mail": test_ses.BOUNCE["mail"], **p[1]} for p in test_ses.EVENT_DETAILS
    ]
    return {
        "postmark": [
            test_postmark.BOUNCE,
            test_postmark.DELIVERY,
            test_postmark.OPEN,
            test_postmark.CLICK,
            test_postmark.SPAM,
            test_postmark.SUBSCRIPTION,
        ],
        "resend": [test_resend.BOUNCED],
        "sendgrid": [test_sendgrid.BATCH, [test_sendgrid.SG_EVENT]],
        "mailgun": [test_mailgun.FAILED],
        "ses": ses_events,
    }


EXAMPLES = _examples()
near_valid = st.sampled_from(sorted(EXAMPLES)).flatmap(
    lambda provider: st.tuples(
        st.just(provider), st.sampled_from(EXAMPLES[provider]).flatmap(mutated)
    )
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_valid)
def test_mutated_documented_payloads_give_events_or_the_payload_error(
    case: tuple[str, Any],
) -> None:
    """Documented examples with parts replaced or removed: events or WebhookPayloadError."""
    provider, payload = case
    request_headers, body = signed_request(provider, payload)

    outcome = only_typed(lambda: PARSERS[provider](body), WebhookPayloadError)

    assert events_or(outcome, WebhookPayloadError)
    assert call_app(provider, request_headers, body) in NOT_500
