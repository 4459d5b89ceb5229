"""Signing webhook requests the way each provider does, with real keys, for the tests.

Each signer follows the provider's documentation (cited in the provider modules under
src/proper_mail/webhooks/): Svix HMAC for Resend, ECDSA P-256 for SendGrid, the HMAC of
timestamp + token for Mailgun, RSA over the canonical string with a certificate chain
(a CA and a leaf, made with ``cryptography``) for Amazon SNS. Nothing here is a stand-in:
the verifiers check these requests exactly as they check the providers'.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import hmac
import json
from typing import Any

import attrs
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from proper_mail.webhooks.ses import string_to_sign

#: The clock of the pure tests.
NOW = dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)
NOW_TS = int(NOW.timestamp())

# -- Resend (Svix) ------------------------------------------------------------------------

#: A webhook secret as Resend shows it: whsec_ + base64 of the key.
RESEND_SECRET = "whsec_" + base64.b64encode(b"proper_mail resend test key 0001").decode()


def svix_headers(
    body: bytes,
    *,
    secret: str = RESEND_SECRET,
    msg_id: str = "msg_2W2D3qXLS5fOaPja1GDg7rF2CwB",
    timestamp: int = NOW_TS,
) -> dict[str, str]:
    """svix-id / svix-timestamp / svix-signature for *body*, as Svix signs."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {
        "svix-id": msg_id,
        "svix-timestamp": str(timestamp),
        "svix-signature": f"v1,{signature}",
    }


# -- SendGrid (ECDSA P-256) ---------------------------------------------------------------


@functools.cache
def sendgrid_key() -> ec.EllipticCurvePrivateKey:
    """A P-256 key pair made for the tests (SendGrid generates one per account)."""
    return ec.generate_private_key(ec.SECP256R1())


def sendgrid_public_key() -> str:
    """The public key as SendGrid shows it: base64 DER SubjectPublicKeyInfo."""
    der = (
        sendgrid_key()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


def sendgrid_headers(body: bytes, *, timestamp: int = NOW_TS) -> dict[str, str]:
    """The two Event Webhook headers: ECDSA-SHA256 over timestamp + body, DER, base64."""
    signature = sendgrid_key().sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
    }


# -- Mailgun (HMAC of timestamp + token) --------------------------------------------------

MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def mailgun_signature(
    token: str, *, timestamp: int = NOW_TS, key: str = MAILGUN_KEY
) -> dict[str, str]:
    """The body's "signature" object, as Mailgun builds it."""
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": str(timestamp), "token": token, "signature": digest}


def mailgun_body(event_data: dict[str, Any], token: str, *, timestamp: int = NOW_TS) -> bytes:
    """A signed Mailgun webhook body around *event_data*."""
    payload = {"signature": mailgun_signature(token, timestamp=timestamp), "event-data": event_data}
    return json.dumps(payload).encode()


# -- Postmark (Basic auth) ----------------------------------------------------------------


def basic_auth(username: str, password: str) -> dict[str, str]:
    """The Authorization header Postmark sends for credentials in the webhook URL."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


# -- Amazon SNS (RSA + X.509) -------------------------------------------------------------

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:ses-events"
CERT_URL = (
    "https://sns.us-east-1.amazonaws.com/"
    "SimpleNotificationService-9c6465fa7f48f5cacd23014631ec1136.pem"
)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@attrs.frozen
class SnsSigner:
    """A certificate authority, and the SNS signing certificate it issued, with its key."""

    key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    ca_certificate: x509.Certificate

    @classmethod
    def make(
        cls,
        *,
        not_before: dt.datetime = NOW - dt.timedelta(days=30),
        not_after: dt.datetime = NOW + dt.timedelta(days=300),
    ) -> SnsSigner:
        """A CA and an ``sns.amazonaws.com`` certificate valid from *not_before* to *not_after*."""
        ca_key = _rsa_key("ca")
        ca = (
            x509.CertificateBuilder()
            .subject_name(_name("Test Root CA"))
            .issuer_name(_name("Test Root CA"))
            .public_key(ca_key.public_key())
            .serial_number(1)
            .not_valid_before(NOW - dt.timedelta(days=3650))
            .not_valid_after(NOW + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = _rsa_key("leaf")
        leaf = (
            x509.CertificateBuilder()
            .subject_name(_name("sns.amazonaws.com"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(2)
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        return cls(key, leaf, ca)

    def pem(self) -> bytes:
        """The signing certificate, then its issuer: what SigningCertURL serves."""
        return b"".join(
            c.public_bytes(serialization.Encoding.PEM)
            for c in (self.certificate, self.ca_certificate)
        )

    def sign(
        self, message: dict[str, Any], *, version: str = "2", cert_url: str = CERT_URL
    ) -> dict[str, Any]:
        """*message* with SignatureVersion, SigningCertURL and Signature set, as SNS signs."""
        unsigned = {**message, "SignatureVersion": version, "SigningCertURL": cert_url}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(string_to_sign(unsigned), padding.PKCS1v15(), algorithm)
        return {**unsigned, "Signature": base64.b64encode(signature).decode()}


@functools.cache
def _rsa_key(_: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@functools.cache
def sns_signer() -> SnsSigner:
    """The session's SNS signer."""
    return SnsSigner.make()


def sns_notification(
    ses_event: dict[str, Any] | str,
    *,
    message_id: str = "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
    timestamp: dt.datetime = NOW,
    topic: str = TOPIC_ARN,
    subject: str | None = None,
) -> dict[str, Any]:
    """An unsigned SNS Notification carrying *ses_event* (the SES event JSON)."""
    message: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic,
        "Message": ses_event if isinstance(ses_event, str) else json.dumps(ses_event),
        "Timestamp": timestamp.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&x=1",
    }
    if subject is not None:
        message["Subject"] = subject
    return message


def sns_body(message: dict[str, Any]) -> bytes:
    """The HTTP body SNS posts for *message*."""
    return json.dumps(message, indent=2).encode()


def sns_headers(message: dict[str, Any]) -> dict[str, str]:
    """The x-amz-sns-* headers SNS sends with *message*."""
    return {
        "x-amz-sns-message-type": message["Type"],
        "x-amz-sns-message-id": message["MessageId"],
        "x-amz-sns-topic-arn": message["TopicArn"],
        "Content-Type": "text/plain; charset=UTF-8",
    }
