"""Mailgun webhooks: HMAC-SHA256 of timestamp + token inside the JSON body, one event
per request.

Mailgun posts ``{"signature": {"timestamp", "token", "signature"}, "event-data":
{...}}``; ``signature`` is the hex HMAC-SHA256 of ``timestamp + token`` under the
webhook signing key (a ``parent-signature`` under the parent account's key for
subaccounts: either matches). The HMAC does not cover ``event-data``: a captured
request could be replayed with other event data inside the window. So the token is
the dedupe id (each token is accepted once) and the timestamp window applies
(5 minutes by default; widen it if your receiver lags).

Docs: https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/securing-webhooks,
https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhooks (payload),
https://documentation.mailgun.com/docs/mailgun/user-manual/events/event-types.

Our Message-ID comes back as the ``proper_mail_id`` user variable (``user-variables``),
without angle brackets (see ``adapters/echo.py``). ``message.headers.message-id`` is the
send API's ``id`` without its angle brackets: they are put back, so it equals the
SendResult's provider_id.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import Any

import attrs

from ..adapters.http import Secret
from ..errors import WebhookPayloadError, WebhookVerificationError
from .events import BounceKind, DeliveryEvent, EventKind
from .payload import (
    as_object,
    echoed_message_id,
    load_json,
    optional_text,
    raw_json,
    text,
    unix_time,
)
from .signing import DEFAULT_TOLERANCE, Headers, check_window

__all__ = ["PROVIDER", "MailgunConfig", "parse", "verify"]

PROVIDER = "mailgun"


def _signing_key(value: object) -> Secret:
    return Secret.of("mailgun signing_key", value)


@attrs.frozen
class MailgunConfig:
    """The HTTP webhook signing key and the timestamp window.

    Attributes:
        signing_key: Mailgun's "HTTP webhook signing key" (a ``Secret``; a str is
            accepted).
        tolerance: how far the signed timestamp may be from our clock.
    """

    signing_key: Secret = attrs.field(converter=_signing_key)
    tolerance: dt.timedelta = DEFAULT_TOLERANCE


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def verify(headers: Headers, body: bytes, config: MailgunConfig, now: dt.datetime) -> None:
    """Check the HMAC in the body's ``signature`` object and its timestamp window;
    WebhookVerificationError when missing, malformed, stale or wrong."""
    del headers  # Mailgun signs inside the body
    try:
        payload = as_object(PROVIDER, load_json(PROVIDER, body), "the body")
        signature = as_object(PROVIDER, payload.get("signature"), "signature")
        token = text(PROVIDER, signature, "token", "signature")
    except WebhookPayloadError as e:
        raise WebhookVerificationError(
            PROVIDER, f"not a signed Mailgun payload: {e.reason}"
        ) from None
    timestamp = signature.get("timestamp")
    if isinstance(timestamp, int) and not isinstance(timestamp, bool):
        timestamp = str(timestamp)
    if not isinstance(timestamp, str):
        raise WebhookVerificationError(PROVIDER, "signature.timestamp is missing")
    check_window(PROVIDER, timestamp, now, config.tolerance)
    expected = hmac.new(
        _utf8(config.signing_key.reveal()), _utf8(timestamp + token), hashlib.sha256
    ).hexdigest()
    matched = False
    for key in ("signature", "parent-signature"):
        given = signature.get(key)
        if isinstance(given, str):
            matched |= hmac.compare_digest(_utf8(given.lower()), expected.encode())
    if not matched:
        raise WebhookVerificationError(PROVIDER, "the signature does not match")


_EVENTS: dict[str, EventKind] = {
    "accepted": "queued",
    "rejected": "rejected",
    "delivered": "delivered",
    "failed": "bounced",
    "opened": "opened",
    "clicked": "clicked",
    "unsubscribed": "unsubscribed",
    "complained": "complained",
}

# Permanent failures where Mailgun did not try: the address is on its own list.
_SUPPRESSED = frozenset({"suppress-bounce", "suppress-unsubscribe", "suppress-complaint"})


def parse(body: bytes) -> tuple[DeliveryEvent, ...]:
    """The event in a Mailgun webhook body; event types outside our vocabulary
    (stored, list events) give none."""
    payload = as_object(PROVIDER, load_json(PROVIDER, body), "the body")
    data = as_object(PROVIDER, payload.get("event-data"), "event-data")
    signature = as_object(PROVIDER, payload.get("signature"), "signature")
    kind = _EVENTS.get(text(PROVIDER, data, "event", "event-data"))
    if kind is None:
        return ()
    bounce: BounceKind | None = None
    if kind == "bounced":
        kind, bounce = _failure_of(data)
    message = data.get("message")
    headers = message.get("headers") if isinstance(message, dict) else None
    provider_message_id = (
        optional_text(headers, "message-id") if isinstance(headers, dict) else None
    )
    if provider_message_id and not provider_message_id.startswith("<"):
        provider_message_id = f"<{provider_message_id}>"  # as the send API's "id"
    return (
        DeliveryEvent(
            kind=kind,
            bounce=bounce,
            provider=PROVIDER,
            provider_message_id=provider_message_id,
            message_id=echoed_message_id(data.get("user-variables")),
            recipient=text(PROVIDER, data, "recipient", "event-data"),
            timestamp=unix_time(PROVIDER, data.get("timestamp"), "event-data.timestamp"),
            reason=_reason_of(data),
            event_id=f"mailgun:{text(PROVIDER, signature, 'token', 'signature')}",
            raw=raw_json(data),
        ),
    )


def _failure_of(data: dict[str, Any]) -> tuple[EventKind, BounceKind | None]:
    """A ``failed`` event: temporary -> deferred; Mailgun's own suppression ->
    rejected; a refused address (reason ``bounce``) -> hard; others (``old``: gave up
    after retrying, ``generic``, ``espblock``) -> soft."""
    if data.get("severity") == "temporary":
        return "deferred", None
    reason = data.get("reason")
    if isinstance(reason, str) and reason in _SUPPRESSED:
        return "rejected", None
    return "bounced", "hard" if reason == "bounce" else "soft"


def _reason_of(data: dict[str, Any]) -> str | None:
    status = data.get("delivery-status")
    if isinstance(status, dict):
        found = optional_text(status, "message") or optional_text(status, "description")
        if found:
            return found
    reject = data.get("reject")
    if isinstance(reject, dict):
        return optional_text(reject, "reason")
    return optional_text(data, "reason")
