"""Amazon SES events through Amazon SNS: the SNS message signature checked with its
signing certificate, the certificate URL pinned to SNS's hosts, the topic allow-listed.

An SNS HTTP(S) subscription posts JSON messages of three types: ``Notification``
(an SES event in ``Message``), ``SubscriptionConfirmation`` (confirm by fetching
``SubscribeURL``) and ``UnsubscribeConfirmation``. Each is signed: RSA over a
canonical string of its fields (fixed names, in order, each as ``name\\nvalue\\n``),
with SHA1 (``SignatureVersion`` 1) or SHA256 (2), by the key of the certificate at
``SigningCertURL``. We verify it this way:

1. the ``TopicArn`` is in the allow-list (``SesConfig.topic_arns``), before any I/O;
2. ``SigningCertURL`` is https on ``sns.<region>.amazonaws.com`` (or ``.com.cn``) and
   names a ``.pem``: the pin (``SNS_ORIGIN``); anything else is refused unfetched;
3. the certificate is fetched over verified TLS from that host and cached
   (``sns_http.SnsCertificates``, injected as ``certificate_for``), as AWS's own SDK
   validators do: TLS to the pinned AWS host is what makes the certificate authentic;
   it must be valid at ``now``;
4. the signature over the canonical string, with the version's hash;
5. ``Timestamp`` within the window (1 hour by default: SNS retries a message with its
   original timestamp); the dedupe id is the SNS ``MessageId``, the same on retries.

A ``SubscriptionConfirmation`` that passes is confirmed by fetching its
``SubscribeURL`` (pinned the same way) through the injected ``confirm`` function.
Raw message delivery must be off (a raw message carries no signature).

Docs: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html,
https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message-verify-message-signature.html,
https://docs.aws.amazon.com/sns/latest/dg/http-subscription-confirmation-json.html,
https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html,
https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html,
https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-examples.html,
https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html.

Our Message-ID comes back in ``mail.headers`` / ``mail.commonHeaders.messageId``: SES
documents ``mail.messageId`` as its own id and the original message's Message-ID as
found in ``headers`` and ``commonHeaders`` (event-publishing-retrieving-sns-contents.html;
identity notifications carry them when "Include original headers" is on:
https://aws.amazon.com/blogs/messaging-and-targeting/amazon-ses-now-includes-original-message-headers-in-notifications/).
``mail.messageId`` is the ``MessageId`` of SES's answer to SendEmail: the SendResult's
provider_id.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import attrs
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from ..adapters.echo import message_id_from_echo
from ..errors import ConfigError, WebhookPayloadError, WebhookVerificationError
from .events import BounceKind, DeliveryEvent, EventKind
from .payload import (
    as_list,
    as_object,
    iso_time,
    load_json,
    optional_text,
    text,
)
from .signing import Headers, header

__all__ = [
    "PROVIDER",
    "SNS_ORIGIN",
    "SesConfig",
    "confirm_subscription",
    "parse",
    "string_to_sign",
    "verify",
]

PROVIDER = "ses"

#: The origins (scheme://host) SNS signing certificates and SubscribeURLs may come
#: from: https on sns.<region>.amazonaws.com, or .amazonaws.com.cn in China.
SNS_ORIGIN = re.compile(r"https://sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?")

#: SES publishes this as a Notification when an event destination is created.
SETUP_MESSAGE = "Successfully validated SNS topic for Amazon SES event publishing."

CertificateFor = Callable[[str], x509.Certificate]
Confirm = Callable[[str], None]

_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
_NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_CONFIRMATION_FIELDS = (
    "Message",
    "MessageId",
    "SubscribeURL",
    "Timestamp",
    "Token",
    "TopicArn",
    "Type",
)
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,  # SNS SignatureVersion 1 is defined as SHA1
    "2": hashes.SHA256,
}


def _topic_arns(value: object) -> frozenset[str]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable):
        raise ConfigError("ses topic_arns must be a list of SNS topic ARNs")
    arns = frozenset(value)
    if not arns or not all(isinstance(a, str) and a.startswith("arn:") for a in arns):
        raise ConfigError(
            "ses topic_arns must list the SNS topic ARNs you subscribed "
            "(arn:aws:sns:<region>:<account>:<topic>): messages from other topics are refused"
        )
    return arns


def _default_certificates() -> CertificateFor:
    from .sns_http import SnsCertificates

    return SnsCertificates()


def _default_confirm() -> Confirm:
    from .sns_http import confirm_subscription_url

    return confirm_subscription_url


@attrs.frozen
class SesConfig:
    """What an SNS message must satisfy, and the two I/O functions verification needs.

    Attributes:
        topic_arns: the SNS topics you subscribed; any other topic is refused. Required.
        certificate_for: ``url -> x509.Certificate``, called only with a pinned URL;
            default ``sns_http.SnsCertificates()`` (httpx, 5 s timeout, cached).
        confirm: ``url -> None`` that confirms a subscription by fetching its
            SubscribeURL (pinned); default ``sns_http.confirm_subscription_url``. None
            leaves confirmations to you (they are verified, then ignored).
        tolerance: how far the signed Timestamp may be from our clock.
        origin_pattern: the pin, matched against ``scheme://host[:port]`` of both URLs.
            For tests only (a loopback server): in production keep ``SNS_ORIGIN``.
    """

    topic_arns: frozenset[str] = attrs.field(converter=_topic_arns)
    certificate_for: CertificateFor = attrs.field(factory=_default_certificates, repr=False)
    confirm: Confirm | None = attrs.field(factory=_default_confirm, repr=False)
    tolerance: dt.timedelta = dt.timedelta(hours=1)
    origin_pattern: re.Pattern[str] = SNS_ORIGIN


def _pinned(config: SesConfig, url: str, what: str, *, pem: bool) -> str:
    """*url* if its origin matches the pin (and, for a certificate, it names a .pem);
    else WebhookVerificationError: such a URL is never fetched."""
    try:
        parts = urllib.parse.urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
    except ValueError:
        origin, parts = "", None
    if (
        parts is None
        or "@" in parts.netloc
        or not config.origin_pattern.fullmatch(origin)
        or (pem and (parts.query or parts.fragment or not parts.path.endswith(".pem")))
    ):
        raise WebhookVerificationError(PROVIDER, f"{what} is not an Amazon SNS URL: {url[:100]!r}")
    return url


def string_to_sign(message: dict[str, Any]) -> bytes:
    """The canonical string SNS signs for *message*, per its Type (raises
    WebhookVerificationError when a field it needs is missing or not a string)."""
    kind = message.get("Type")
    fields = _NOTIFICATION_FIELDS if kind == "Notification" else _CONFIRMATION_FIELDS
    lines: list[str] = []
    for name in fields:
        value = message.get(name)
        if name == "Subject" and value is None:
            continue  # a Notification without a subject leaves the pair out
        if not isinstance(value, str):
            raise WebhookVerificationError(PROVIDER, f"the signed field {name} is missing")
        lines += (name, value)
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


def _message_of(body: bytes) -> dict[str, Any]:
    try:
        return as_object(PROVIDER, load_json(PROVIDER, body), "the body")
    except WebhookPayloadError as e:
        raise WebhookVerificationError(PROVIDER, f"not an SNS message: {e.reason}") from None


def verify(headers: Headers, body: bytes, config: SesConfig, now: dt.datetime) -> None:
    """Check an SNS message: type, topic allow-list, pinned certificate URL, the
    certificate's validity, the signature and the timestamp window. Raises
    WebhookVerificationError (WebhookUnavailable when the certificate cannot be had)."""
    message = _message_of(body)
    kind = message.get("Type")
    if kind not in _TYPES:
        raise WebhookVerificationError(PROVIDER, f"not an SNS message type: {kind!r:.40}")
    header_type = header(headers, "x-amz-sns-message-type")
    if header_type is not None and header_type != kind:
        raise WebhookVerificationError(PROVIDER, "x-amz-sns-message-type differs from Type")
    topic = message.get("TopicArn")
    if not isinstance(topic, str) or topic not in config.topic_arns:
        raise WebhookVerificationError(PROVIDER, f"topic not in topic_arns: {topic!r:.120}")
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise WebhookVerificationError(PROVIDER, "SignatureVersion is neither 1 nor 2")
    cert_url = message.get("SigningCertURL")
    if not isinstance(cert_url, str):
        raise WebhookVerificationError(PROVIDER, "SigningCertURL is missing")
    signature_text = message.get("Signature")
    if not isinstance(signature_text, str):
        raise WebhookVerificationError(PROVIDER, "Signature is missing")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookVerificationError(PROVIDER, "Signature is not base64") from None
    signed = string_to_sign(message)
    timestamp = message.get("Timestamp")
    try:
        when = iso_time(PROVIDER, timestamp, "Timestamp")
    except WebhookPayloadError as e:
        raise WebhookVerificationError(PROVIDER, e.reason) from None
    skew = abs((now - when).total_seconds())
    if skew > config.tolerance.total_seconds():
        raise WebhookVerificationError(
            PROVIDER, f"Timestamp is {skew:.0f} s from our clock (a replay, or a wrong clock)"
        )
    certificate = config.certificate_for(_pinned(config, cert_url, "SigningCertURL", pem=True))
    if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
        raise WebhookVerificationError(PROVIDER, "the signing certificate is not valid now")
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise WebhookVerificationError(PROVIDER, "the signing certificate's key is not RSA")
    try:
        key.verify(signature, signed, padding.PKCS1v15(), algorithm())
    except (InvalidSignature, ValueError):
        raise WebhookVerificationError(PROVIDER, "the signature does not match") from None


def confirm_subscription(body: bytes, config: SesConfig) -> bool:
    """Confirm a verified SubscriptionConfirmation by fetching its (pinned)
    SubscribeURL through ``config.confirm``; True when it did. Call after ``verify``."""
    message = _message_of(body)
    if message.get("Type") != "SubscriptionConfirmation" or config.confirm is None:
        return False
    url = message.get("SubscribeURL")
    if not isinstance(url, str):
        raise WebhookVerificationError(PROVIDER, "SubscribeURL is missing")
    config.confirm(_pinned(config, url, "SubscribeURL", pem=False))
    return True


def parse(body: bytes) -> tuple[DeliveryEvent, ...]:
    """The SES events in a verified SNS message: one per recipient the event names.
    Confirmations, SES's set-up message and inbound mail give none."""
    message = as_object(PROVIDER, load_json(PROVIDER, body), "the body")
    if message.get("Type") != "Notification":
        return ()
    sns_id = text(PROVIDER, message, "MessageId")
    content = text(PROVIDER, message, "Message")
    if content == SETUP_MESSAGE:
        return ()
    event = as_object(
        PROVIDER, load_json(PROVIDER, content.encode("utf-8", "surrogatepass")), "Message"
    )
    event_type = event.get("eventType") or event.get("notificationType")
    mail = as_object(PROVIDER, event.get("mail"), "Message.mail")
    handler = _HANDLERS.get(event_type) if isinstance(event_type, str) else None
    if handler is None:
        return ()
    found = handler(event, mail)
    if not found:
        return ()
    provider_message_id = optional_text(mail, "messageId")
    message_id = _our_message_id(mail)
    return tuple(
        DeliveryEvent(
            kind=kind,
            bounce=bounce,
            provider=PROVIDER,
            provider_message_id=provider_message_id,
            message_id=message_id,
            recipient=recipient,
            timestamp=timestamp,
            reason=reason,
            event_id=f"ses:{sns_id}:{recipient or '*'}",
            raw=content,
        )
        for kind, bounce, recipient, timestamp, reason in found
    )


_Found = tuple[EventKind, BounceKind | None, str | None, dt.datetime, str | None]


def _our_message_id(mail: dict[str, Any]) -> str | None:
    """The original ``Message-ID`` header, else ``commonHeaders.messageId`` (the one
    left when SES truncated the headers), with its angle brackets."""
    headers = mail.get("headers")
    for item in headers if isinstance(headers, list) else ():
        if isinstance(item, dict) and str(item.get("name")).lower() == "message-id":
            found = message_id_from_echo(item.get("value"))
            if found is not None:
                return found
    common = mail.get("commonHeaders")
    return message_id_from_echo(common.get("messageId")) if isinstance(common, dict) else None


def _detail(event: dict[str, Any], key: str) -> tuple[dict[str, Any], dt.datetime]:
    detail = as_object(PROVIDER, event.get(key), f"Message.{key}")
    return detail, iso_time(PROVIDER, detail.get("timestamp"), f"Message.{key}.timestamp")


def _addresses(items: object, where: str, key: str | None = "emailAddress") -> list[Any]:
    """The recipients listed under *where*: dicts with *key*, or bare strings."""
    found = []
    for item in as_list(PROVIDER, items, where):
        address = item.get(key) if key and isinstance(item, dict) else item
        if not isinstance(address, str) or not address:
            raise WebhookPayloadError(PROVIDER, f"{where} holds an entry without an address")
        found.append((address, item if isinstance(item, dict) else {}))
    return found


def _bounce(event: dict[str, Any], mail: dict[str, Any]) -> list[_Found]:
    detail, when = _detail(event, "bounce")
    bounce: BounceKind = "hard" if detail.get("bounceType") == "Permanent" else "soft"
    summary = f"{detail.get('bounceType')}/{detail.get('bounceSubType')}"
    return [
        ("bounced", bounce, address, when, optional_text(item, "diagnosticCode") or summary)
        for address, item in _addresses(detail.get("bouncedRecipients"), "bouncedRecipients")
    ]


def _complaint(event: dict[str, Any], mail: dict[str, Any]) -> list[_Found]:
    detail, when = _detail(event, "complaint")
    if detail.get("complaintFeedbackType") == "not-spam":
        return []  # the recipient said it is *not* spam
    reason = optional_text(detail, "complaintFeedbackType")
    return [
        ("complained", None, address, when, reason)
        for address, _ in _addresses(detail.get("complainedRecipients"), "complainedRecipients")
    ]


def _delivery(event: dict[str, Any], mail: dict[str, Any]) -> list[_Found]:
    detail, when = _detail(event, "delivery")
    reason = optional_text(detail, "smtpResponse")
    return [
        ("delivered", None, address, when, reason)
        for address, _ in _addresses(detail.get("recipients"), "delivery.recipients", None)
    ]


def _delay(event: dict[str, Any], mail: dict[str, Any]) -> list[_Found]:
    detail, when = _detail(event, "deliveryDelay")
    return [
        ("deferred", None, address, when, optional_text(item, "diagnosticCode"))
        for address, item in _addresses(detail.get("delayedRecipients"), "delayedRecipients")
    ]


def _per_destination(kind: EventKind, key: str | None) -> Callable[..., list[_Found]]:
    """Events SES reports once per message: one per destination, at the detail's time
    (or the mail's), with the detail's reason."""

    def found(event: dict[str, Any], mail: dict[str, Any]) -> list[_Found]:
        if key is None:
            reason, when = None, iso_time(PROVIDER, mail.get("timestamp"), "mail.timestamp")
        elif key in ("reject", "failure"):
            detail = as_object(PROVIDER, event.get(key), f"Message.{key}")
            reason = optional_text(detail, "reason") or optional_text(detail, "errorMessage")
            when = iso_time(PROVIDER, mail.get("timestamp"), "mail.timestamp")
        else:
            detail, when = _detail(event, key)
            reason = None
            if key == "subscription":
                prefs = detail.get("newTopicPreferences")
                if not (isinstance(prefs, dict) and prefs.get("unsubscribeAll") is True):
                    return []
        return [
            (kind, None, address, when, reason)
            for address, _ in _addresses(mail.get("destination"), "mail.destination", None)
        ]

    return found


def _engagement(kind: EventKind, key: str) -> Callable[..., list[_Found]]:
    """Opens and clicks: SES does not say which recipient; named only when the
    message had one."""

    def found(event: dict[str, Any], mail: dict[str, Any]) -> list[_Found]:
        _, when = _detail(event, key)
        destinations = _addresses(mail.get("destination"), "mail.destination", None)
        recipient = destinations[0][0] if len(destinations) == 1 else None
        return [(kind, None, recipient, when, None)]

    return found


_HANDLERS: dict[str, Callable[[dict[str, Any], dict[str, Any]], list[_Found]]] = {
    "Bounce": _bounce,
    "Complaint": _complaint,
    "Delivery": _delivery,
    "DeliveryDelay": _delay,
    "Send": _per_destination("sent", None),
    "Reject": _per_destination("rejected", "reject"),
    "Rendering Failure": _per_destination("rejected", "failure"),
    "Subscription": _per_destination("unsubscribed", "subscription"),
    "Open": _engagement("opened", "open"),
    "Click": _engagement("clicked", "click"),
}
