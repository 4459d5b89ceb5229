"""Resend webhooks: Svix signatures, one event per request.

Svix signs ``"{svix-id}.{svix-timestamp}.{raw body}"`` with HMAC-SHA256 under the
endpoint's secret (``whsec_`` + base64 key) and sends ``svix-signature: v1,<base64>``
(several, space-separated, while a secret is being rotated). The timestamp must be
within the window (5 minutes by default, as Svix's own libraries); ``svix-id`` is the
same on every retry of one message, so it is the dedupe id. White-labelled
``webhook-id`` / ``webhook-timestamp`` / ``webhook-signature`` headers (the Standard
Webhooks names) are read too.

Docs: https://docs.svix.com/receiving/verifying-payloads/how-manual (the scheme and
its test vector), https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests,
https://resend.com/docs/webhooks/event-types,
https://resend.com/docs/webhooks/emails/bounced,
https://resend.com/docs/dashboard/webhooks/body-parameters.

Our Message-ID comes back in the ``proper_mail_id`` tag of ``data.tags`` (Resend's
events echo tags, not custom headers), its value the Message-ID as unpadded base64url
(see ``adapters/echo.py``). The docs describe ``tags`` as an array of ``{name, value}``
and show an object ``{name: value}`` in their examples: both are read. ``email_id`` is
the ``id`` of Resend's answer to the send: the SendResult's provider_id.

Resend's events name the message's ``to`` list, not the recipient: the event's
recipient is that address when there is one, None when there are several (send one
message per recipient if you rely on bounces).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from typing import Any

import attrs

from ..adapters.echo import ECHO_KEY, message_id_from_tag
from ..adapters.http import Secret
from ..errors import ConfigError, WebhookVerificationError
from .events import BounceKind, DeliveryEvent, EventKind
from .payload import as_object, iso_time, load_json, optional_text, raw_json, text
from .signing import DEFAULT_TOLERANCE, Headers, check_window, header

__all__ = ["PROVIDER", "ResendConfig", "event_id_header", "parse", "verify"]

PROVIDER = "resend"

_MAX_SIGNATURES = 16


def _key_of(value: object) -> bytes:
    secret = Secret.of("resend secret", value).reveal()
    encoded = secret.removeprefix("whsec_")
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConfigError(
            "resend secret must be the endpoint's signing secret, whsec_ followed by base64"
        ) from None
    if not key:
        raise ConfigError("resend secret is empty after its whsec_ prefix")
    return key


@attrs.frozen
class ResendConfig:
    """The endpoint's signing secret and the timestamp window.

    Attributes:
        secret: the signing secret as Resend shows it (``whsec_...``); held as the
            decoded key, never shown in a repr.
        tolerance: how far ``svix-timestamp`` may be from our clock.
    """

    secret: bytes = attrs.field(converter=_key_of, repr=False)
    tolerance: dt.timedelta = DEFAULT_TOLERANCE


def _svix_header(headers: Headers, name: str) -> str | None:
    return header(headers, f"svix-{name}") or header(headers, f"webhook-{name}")


def event_id_header(headers: Headers) -> str | None:
    """The Svix message id of the request (the dedupe id of its event)."""
    return _svix_header(headers, "id")


def verify(headers: Headers, body: bytes, config: ResendConfig, now: dt.datetime) -> None:
    """Check the Svix signature of *body* and its timestamp window; raise
    WebhookVerificationError when any part is missing, malformed or wrong."""
    message_id = _svix_header(headers, "id")
    timestamp = _svix_header(headers, "timestamp")
    signatures = _svix_header(headers, "signature")
    if not message_id or not timestamp or not signatures:
        raise WebhookVerificationError(
            PROVIDER, "the svix-id, svix-timestamp and svix-signature headers are required"
        )
    check_window(PROVIDER, timestamp, now, config.tolerance)
    signed = b"%s.%s.%s" % (message_id.encode(), timestamp.encode(), body)
    expected = hmac.new(config.secret, signed, hashlib.sha256).digest()
    for entry in signatures.split()[:_MAX_SIGNATURES]:
        version, _, encoded = entry.partition(",")
        if version != "v1":
            continue  # v1a (asymmetric) and future versions: not ours to check
        try:
            given = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(given, expected):
            return
    raise WebhookVerificationError(PROVIDER, "no svix-signature matches the body")


_TYPES: dict[str, EventKind] = {
    "email.scheduled": "queued",
    "email.sent": "sent",
    "email.delivered": "delivered",
    "email.delivery_delayed": "deferred",
    "email.bounced": "bounced",
    "email.complained": "complained",
    "email.opened": "opened",
    "email.clicked": "clicked",
    "email.failed": "rejected",
    "email.suppressed": "rejected",
}


def parse(body: bytes, *, svix_id: str | None = None) -> tuple[DeliveryEvent, ...]:
    """The event in a Resend webhook body; event types outside the email delivery
    vocabulary (contact.*, domain.*, email.received) give none. *svix_id* (the
    request's ``svix-id``) is the dedupe id when given."""
    event = as_object(PROVIDER, load_json(PROVIDER, body), "the body")
    kind = _TYPES.get(text(PROVIDER, event, "type"))
    if kind is None:
        return ()
    data = as_object(PROVIDER, event.get("data"), "data")
    email_id = optional_text(data, "email_id")
    created_at = text(PROVIDER, event, "created_at")
    bounce: BounceKind | None = None
    reason: str | None = None
    if kind == "bounced":
        details = data.get("bounce")
        details = details if isinstance(details, dict) else {}
        # Resend's email.bounced is a permanent rejection unless it says Transient.
        bounce = "soft" if details.get("type") in ("Transient", "Undetermined") else "hard"
        reason = optional_text(details, "message")
    elif kind == "rejected":
        failed = data.get("failed") or data.get("suppressed")
        reason = optional_text(failed, "reason") if isinstance(failed, dict) else None
    return (
        DeliveryEvent(
            kind=kind,
            bounce=bounce,
            provider=PROVIDER,
            provider_message_id=email_id,
            message_id=_message_id_of(data.get("tags")),
            recipient=_recipient_of(data),
            timestamp=iso_time(PROVIDER, created_at, "created_at"),
            reason=reason,
            event_id=f"resend:{svix_id}"
            if svix_id
            else f"resend:{event['type']}:{email_id}:{created_at}",
            raw=raw_json(event),
        ),
    )


def _message_id_of(tags: object) -> str | None:
    """Our Message-ID from the ``proper_mail_id`` tag: *tags* as an array of
    ``{name, value}`` or as an object ``{name: value}``."""
    if isinstance(tags, dict):
        return message_id_from_tag(tags.get(ECHO_KEY))
    if isinstance(tags, list):
        for tag in tags:
            if isinstance(tag, dict) and tag.get("name") == ECHO_KEY:
                return message_id_from_tag(tag.get("value"))
    return None


def _recipient_of(data: dict[str, Any]) -> str | None:
    to = data.get("to")
    if isinstance(to, str):
        to = [to]
    if not isinstance(to, list) or len(to) != 1 or not isinstance(to[0], str) or not to[0]:
        return None
    return _addr_spec(to[0])


def _addr_spec(text: str) -> str:
    """``"Name <a@b>"`` -> ``a@b``; a bare address unchanged."""
    start, end = text.rfind("<"), text.rfind(">")
    return text[start + 1 : end].strip() if 0 <= start < end else text.strip()
