"""SendGrid's signed Event Webhook: ECDSA P-256 over timestamp + raw body, a batch of
events per request.

SendGrid signs ``X-Twilio-Email-Event-Webhook-Timestamp`` followed by the raw body
with its private key (ECDSA, P-256, SHA-256) and sends the DER signature, base64, in
``X-Twilio-Email-Event-Webhook-Signature``. The verification key SendGrid shows is
the public key as base64 DER (SubjectPublicKeyInfo); a PEM is accepted too. Batches
are posted every 30 s or at 768 KB, under the receiver's 1 MiB cap.

Docs: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features,
https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event (events,
fields, batching), https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/twilio-sendgrid-event-webhook-overview.

Our Message-ID comes back as the ``proper_mail_id`` custom arg, without angle brackets
(SendGrid puts ``custom_args`` at the top level of every event; see
``adapters/echo.py``). The send API's ``X-Message-Id`` (the SendResult's provider_id)
is the part of ``sg_message_id`` before its ``.filter...`` / ``.recvd-...`` suffix.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re

import attrs
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ..errors import ConfigError, WebhookPayloadError, WebhookVerificationError
from .events import BounceKind, DeliveryEvent, EventKind
from .payload import (
    as_list,
    echoed_message_id,
    load_json,
    optional_text,
    raw_json,
    text,
    unix_time,
)
from .signing import DEFAULT_TOLERANCE, Headers, check_window, require_header

__all__ = ["PROVIDER", "SendGridConfig", "parse", "verify"]

PROVIDER = "sendgrid"

SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"


def _public_key_of(value: object) -> ec.EllipticCurvePublicKey:
    if isinstance(value, ec.EllipticCurvePublicKey):
        key = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            if text.startswith("-----BEGIN"):
                loaded = serialization.load_pem_public_key(text.encode())
            else:
                loaded = serialization.load_der_public_key(base64.b64decode(text, validate=True))
        except (ValueError, binascii.Error, UnsupportedAlgorithm):
            raise ConfigError(
                "sendgrid public_key must be the verification key SendGrid shows "
                "(base64 DER, or PEM)"
            ) from None
        if not isinstance(loaded, ec.EllipticCurvePublicKey):
            raise ConfigError("sendgrid public_key is not an elliptic-curve key")
        key = loaded
    else:
        raise ConfigError("sendgrid public_key must be a non-empty str (base64 DER or PEM)")
    if not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(f"sendgrid public_key must be on P-256, not {key.curve.name}")
    return key


@attrs.frozen
class SendGridConfig:
    """The Event Webhook's verification key and the timestamp window.

    Attributes:
        public_key: the verification key (base64 DER as SendGrid shows it, or PEM).
        tolerance: how far the signed timestamp may be from our clock.
    """

    public_key: ec.EllipticCurvePublicKey = attrs.field(converter=_public_key_of, repr=False)
    tolerance: dt.timedelta = DEFAULT_TOLERANCE


def verify(headers: Headers, body: bytes, config: SendGridConfig, now: dt.datetime) -> None:
    """Check the ECDSA signature over timestamp + *body* and the timestamp window;
    WebhookVerificationError when missing, malformed, stale or wrong."""
    signature_text = require_header(PROVIDER, headers, SIGNATURE_HEADER)
    timestamp = require_header(PROVIDER, headers, TIMESTAMP_HEADER)
    check_window(PROVIDER, timestamp, now, config.tolerance)
    try:
        signature = base64.b64decode(signature_text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError(PROVIDER, "the signature is not base64") from None
    try:
        config.public_key.verify(signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise WebhookVerificationError(PROVIDER, "the signature does not match the body") from None


_SUFFIX = re.compile(r"\.(?:filter|recvd)")

_EVENTS: dict[str, EventKind] = {
    "processed": "queued",
    "dropped": "rejected",
    "delivered": "delivered",
    "deferred": "deferred",
    "bounce": "bounced",
    "open": "opened",
    "click": "clicked",
    "spamreport": "complained",
    "unsubscribe": "unsubscribed",
    "group_unsubscribe": "unsubscribed",
}


def parse(body: bytes) -> tuple[DeliveryEvent, ...]:
    """The events of a SendGrid batch (a JSON array); event types outside our
    vocabulary (group_resubscribe, account events) give none."""
    batch = as_list(PROVIDER, load_json(PROVIDER, body), "the body")
    events: list[DeliveryEvent] = []
    for index, item in enumerate(batch):
        if not isinstance(item, dict):
            raise WebhookPayloadError(PROVIDER, f"event {index} is not a JSON object")
        kind = _EVENTS.get(text(PROVIDER, item, "event", f"[{index}]"))
        if kind is None:
            continue
        bounce: BounceKind | None = None
        if kind == "bounced":
            # "bounce": the server refused the address; "blocked": it refused the
            # message for now (reputation, content), the address may be fine.
            bounce = "soft" if item.get("type") == "blocked" else "hard"
        recipient = text(PROVIDER, item, "email", f"[{index}]")
        timestamp = unix_time(PROVIDER, item.get("timestamp"), f"[{index}].timestamp")
        sg_message_id = optional_text(item, "sg_message_id")
        sg_event_id = optional_text(item, "sg_event_id")
        event_id = (
            f"sendgrid:{sg_event_id}"
            if sg_event_id
            else f"sendgrid:{item['event']}:{sg_message_id}:{recipient}:{item['timestamp']}"
        )
        events.append(
            DeliveryEvent(
                kind=kind,
                bounce=bounce,
                provider=PROVIDER,
                provider_message_id=_x_message_id(sg_message_id),
                message_id=echoed_message_id(item),
                recipient=recipient,
                timestamp=timestamp,
                reason=optional_text(item, "reason") or optional_text(item, "response"),
                event_id=event_id,
                raw=raw_json(item),
            )
        )
    return tuple(events)


def _x_message_id(sg_message_id: str | None) -> str | None:
    """The send API's ``X-Message-Id`` (our SendResult's provider_id): ``sg_message_id``
    without the suffix SendGrid adds per recipient, ``.filter0001.16648.5515E0B88.0``
    (the documented form, whose X-Message-Id ``14c5d75ce93.dfd.64b469`` has dots of its
    own), ``.filterdrecv-...`` or ``.recvd-...`` (the forms seen today, after a
    22-character X-Message-Id)."""
    if sg_message_id is None:
        return None
    return _SUFFIX.split(sg_message_id, maxsplit=1)[0] or sg_message_id
