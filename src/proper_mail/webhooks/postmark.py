"""Postmark webhooks: HTTP Basic auth credentials, one event per request.

Postmark signs nothing: you put credentials in the webhook URL you give Postmark
(``https://user:password@example.com/webhooks/postmark``) and it sends them as HTTP
Basic auth; serve the URL over HTTPS only. Postmark has no timestamp to check, so
replays are stopped by the event-id dedupe alone.

Docs: https://postmarkapp.com/developer/webhooks/webhooks-overview (Basic auth),
https://postmarkapp.com/developer/webhooks/bounce-webhook,
https://postmarkapp.com/developer/webhooks/delivery-webhook,
https://postmarkapp.com/developer/webhooks/open-tracking-webhook,
https://postmarkapp.com/developer/webhooks/click-webhook,
https://postmarkapp.com/developer/webhooks/spam-complaint-webhook,
https://postmarkapp.com/developer/webhooks/subscription-change-webhook,
https://postmarkapp.com/developer/api/bounce-api#bounce-types.

Our Message-ID comes back in ``Metadata["proper_mail_id"]``, without angle brackets
(Postmark echoes metadata, not custom headers; see ``adapters/echo.py``). ``MessageID``
is the ``MessageID`` of Postmark's answer to the send: the SendResult's provider_id.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
from typing import Any

import attrs

from ..adapters.http import Secret
from ..errors import ConfigError, WebhookVerificationError
from .events import BounceKind, DeliveryEvent, EventKind
from .payload import (
    as_object,
    echoed_message_id,
    iso_time,
    load_json,
    optional_text,
    raw_json,
    text,
)
from .signing import Headers, header

__all__ = ["PROVIDER", "PostmarkConfig", "parse", "verify"]

PROVIDER = "postmark"


def _username(value: object) -> str:
    if not isinstance(value, str) or not value or ":" in value:
        raise ConfigError("postmark username must be a non-empty str without ':'")
    return value


def _password(value: object) -> Secret:
    return Secret.of("postmark password", value)


@attrs.frozen
class PostmarkConfig:
    """The Basic auth credentials in the webhook URL you configured at Postmark.

    Attributes:
        username: the user name part.
        password: the password part (a ``Secret``; a str is accepted).
    """

    username: str = attrs.field(converter=_username)
    password: Secret = attrs.field(converter=_password)


def verify(headers: Headers, body: bytes, config: PostmarkConfig, now: dt.datetime) -> None:
    """Check the request's Basic auth credentials against *config* in constant time;
    WebhookVerificationError when they are missing or wrong."""
    del body, now  # Postmark signs neither
    value = header(headers, "authorization")
    if not value:
        raise WebhookVerificationError(PROVIDER, "no Basic auth credentials")
    scheme, _, encoded = value.strip().partition(" ")
    if scheme.lower() != "basic":
        raise WebhookVerificationError(PROVIDER, "the Authorization header is not Basic auth")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError(
            PROVIDER, "the Basic auth credentials are not base64"
        ) from None
    username, colon, password = decoded.partition(b":")
    expected_user = config.username.encode()
    expected_password = config.password.reveal().encode()
    # Both comparisons always run: the time taken says nothing about which part failed.
    user_ok = hmac.compare_digest(username, expected_user)
    password_ok = hmac.compare_digest(password, expected_password)
    if not (colon and user_ok & password_ok):
        raise WebhookVerificationError(PROVIDER, "wrong Basic auth credentials")


# Bounce "Type" -> (kind, bounce); types missing here are skipped (AutoResponder ...).
_BOUNCE_TYPES: dict[str, tuple[EventKind, BounceKind | None]] = {
    "HardBounce": ("bounced", "hard"),
    "BadEmailAddress": ("bounced", "hard"),
    "SoftBounce": ("bounced", "soft"),
    "Unknown": ("bounced", "soft"),
    "VirusNotification": ("bounced", "soft"),
    "Transient": ("deferred", None),
    "DnsError": ("deferred", None),
    "Unsubscribe": ("unsubscribed", None),
    "ManualSuppression": ("unsubscribed", None),
    "SpamNotification": ("complained", None),
    "SpamComplaint": ("complained", None),
    "ManuallyDeactivated": ("rejected", None),
    "Unconfirmed": ("rejected", None),
    "Blocked": ("rejected", None),
    "SMTPApiError": ("rejected", None),
    "DMARCPolicy": ("rejected", None),
    "TemplateRenderingFailed": ("rejected", None),
}

# SubscriptionChange "SuppressionReason" -> (kind, bounce)
_SUPPRESSION_REASONS: dict[str, tuple[EventKind, BounceKind | None]] = {
    "HardBounce": ("bounced", "hard"),
    "SpamComplaint": ("complained", None),
    "ManualSuppression": ("unsubscribed", None),
}


def parse(body: bytes) -> tuple[DeliveryEvent, ...]:
    """The events in a Postmark webhook body (one JSON object); record types we do not
    normalize (Inbound, AutoResponder bounces, a reactivation) give none."""
    event = as_object(PROVIDER, load_json(PROVIDER, body), "the body")
    record_type = text(PROVIDER, event, "RecordType")
    kind: EventKind
    bounce: BounceKind | None = None
    reason: str | None = None
    if record_type == "Delivery":
        kind, recipient_key, time_key = "delivered", "Recipient", "DeliveredAt"
        reason = optional_text(event, "Details")
    elif record_type in ("Bounce", "SpamComplaint"):
        mapped = _BOUNCE_TYPES.get(text(PROVIDER, event, "Type"))
        if mapped is None:
            return ()
        (kind, bounce), recipient_key, time_key = mapped, "Email", "BouncedAt"
        reason = optional_text(event, "Details") or optional_text(event, "Description")
    elif record_type == "Open":
        kind, recipient_key, time_key = "opened", "Recipient", "ReceivedAt"
    elif record_type == "Click":
        kind, recipient_key, time_key = "clicked", "Recipient", "ReceivedAt"
    elif record_type == "SubscriptionChange":
        if event.get("SuppressSending") is not True:
            return ()  # a reactivation: nothing in our vocabulary
        mapped = _SUPPRESSION_REASONS.get(optional_text(event, "SuppressionReason") or "")
        (kind, bounce) = mapped or ("unsubscribed", None)
        recipient_key, time_key = "Recipient", "ChangedAt"
        reason = optional_text(event, "SuppressionReason")
    else:
        return ()
    recipient = text(PROVIDER, event, recipient_key)
    time_text = text(PROVIDER, event, time_key)
    timestamp = iso_time(PROVIDER, time_text, time_key)
    provider_message_id = optional_text(event, "MessageID")
    return (
        DeliveryEvent(
            kind=kind,
            bounce=bounce,
            provider=PROVIDER,
            provider_message_id=provider_message_id,
            message_id=echoed_message_id(event.get("Metadata")),
            recipient=recipient,
            timestamp=timestamp,
            reason=reason,
            event_id=_event_id(event, record_type, provider_message_id, recipient, time_text),
            raw=raw_json(event),
        ),
    )


def _event_id(
    event: dict[str, Any],
    record_type: str,
    message_id: str | None,
    recipient: str,
    time_text: str,
) -> str:
    """Bounces and complaints have Postmark's own ID; the others are named by what
    makes them unique, which a retry repeats."""
    bounce_id = optional_text(event, "ID")
    if bounce_id is not None:
        return f"postmark:{record_type}:{bounce_id}"
    return f"postmark:{record_type}:{message_id}:{recipient}:{time_text}"
