"""Frozen records: the data every other part of proper_mail passes around.

Records hold data and nothing else. They are immutable (``attrs.frozen``), use tuples
instead of lists, and are changed with ``attrs.evolve``. They know nothing about JSON:
the one serializer lives in ``proper_mail.tasks``.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Literal

import attrs

from .addresses import Address

__all__ = [
    "Address",
    "Alternative",
    "Attachment",
    "Defaults",
    "Envelope",
    "Message",
    "RecipientState",
    "RecipientStatus",
    "SendResult",
    "Stamp",
]

ContentSubtype = Literal["plain", "html"]
Disposition = Literal["attachment", "inline"]
Headers = tuple[tuple[str, str], ...]


def _short_bytes(content: bytes) -> str:
    return f"<{len(content)} bytes>"


def _short_text(content: str) -> str:
    return repr(content) if len(content) <= 40 else f"<{len(content)} chars>"


@attrs.frozen
class Attachment:
    """A file carried by a message: a download, or an inline part referenced by cid.

    Attributes:
        filename: the file's base name ("" for none); never a path.
        content: the exact bytes, sent base64-encoded.
        mimetype: ``type/subtype``.
        disposition: ``"attachment"``, or ``"inline"`` for a part the HTML shows.
        content_id: the id an HTML body references as ``cid:<content_id>``, without
            angle brackets; an inline part with one goes into multipart/related.
    """

    filename: str
    content: bytes = attrs.field(repr=_short_bytes)
    mimetype: str = "application/octet-stream"
    disposition: Disposition = "attachment"
    content_id: str | None = None


@attrs.frozen
class Alternative:
    """Another rendering of the body, such as the text/plain twin of an HTML body.

    Attributes:
        content: the text.
        mimetype: ``text/plain``, ``text/html`` or another text type.
    """

    content: str = attrs.field(repr=_short_text)
    mimetype: str


@attrs.frozen
class Stamp:
    """What makes a message unique in time: its Date and the token of its Message-ID.

    The shell makes one per message (clock + randomness); the pure core only reads it.
    """

    date: dt.datetime
    token: str


@attrs.frozen
class Message:
    """A complete, validated email, ready to be rendered as MIME or queued.

    Build one with ``compose()``, which validates every field; constructing a Message
    directly skips that validation.

    Attributes:
        from_email: the author (From header and, unless ``envelope_from`` is set, the
            envelope sender).
        to, cc, bcc, reply_to: recipients; bcc is envelope-only, never a header.
        subject: the Subject, as Unicode.
        body: the main body text.
        content_subtype: ``"plain"`` or ``"html"``, the type of *body*.
        charset: the charset bodies are encoded in.
        headers: extra headers as ordered ``(name, value)`` pairs.
        alternatives: other renderings of the body (multipart/alternative).
        attachments: files and inline parts.
        message_id: the Message-ID, with angle brackets; fixed at compose time, so every
            retry carries the same one.
        date: the Date header, timezone-aware; fixed at compose time.
        tags: per-message labels for providers that support them.
        metadata: per-message key/value data for providers and webhooks.
        envelope_from: a different envelope sender (bounce address), if any.
        envelope_to: when set, the only envelope recipients (prepared addr-specs, a
            subset of to, cc and bcc): a retry goes to the deferred recipients only,
            while the headers still show everyone.
        expires: when set, the message must not be sent after this moment (a password
            reset link that would arrive too late); it is dropped and reported instead.
        provider_options: per-provider extras no common field expresses, as
            ``(provider, JSON object text)`` pairs (``("postmark", '{"MessageStream":
            "outbound"}')``); read them with ``options_for(provider)``. An HTTP provider
            mailer merges its own into the request; other mailers ignore them.
    """

    from_email: Address
    to: tuple[Address, ...]
    cc: tuple[Address, ...]
    bcc: tuple[Address, ...]
    reply_to: tuple[Address, ...]
    subject: str
    body: str = attrs.field(repr=_short_text)
    content_subtype: ContentSubtype
    charset: str
    headers: Headers
    alternatives: tuple[Alternative, ...]
    attachments: tuple[Attachment, ...]
    message_id: str
    date: dt.datetime
    tags: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    envelope_from: Address | None = None
    envelope_to: tuple[str, ...] = ()
    expires: dt.datetime | None = None
    provider_options: tuple[tuple[str, str], ...] = ()

    def options_for(self, provider: str) -> dict[str, Any]:
        """The provider options this message carries for *provider* (a new dict)."""
        for name, text in self.provider_options:
            if name == provider:
                options: dict[str, Any] = json.loads(text)
                return options
        return {}

    @property
    def idempotency_key(self) -> str:
        """A key that is the same for every retry of this message: its Message-ID."""
        return self.message_id

    @property
    def recipients(self) -> tuple[Address, ...]:
        """Every recipient, in to, cc, bcc order (duplicates kept)."""
        return (*self.to, *self.cc, *self.bcc)


@attrs.frozen
class Defaults:
    """App-wide defaults (MAILER_DEFAULT_OPTIONS), used where a message sets nothing.

    Build one from the config mapping with ``compose.defaults_from_options()``.
    """

    from_email: Address | None = None
    subject: str = ""
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    headers: Headers = ()


@attrs.frozen
class Envelope:
    """The SMTP envelope: MAIL FROM and RCPT TO, as prepared addr-specs."""

    sender: str
    recipients: tuple[str, ...]


RecipientState = Literal[
    "sent", "queued", "deferred", "rejected", "failed", "suppressed", "cancelled"
]


@attrs.frozen
class RecipientStatus:
    """What happened to one recipient of one message.

    Attributes:
        address: the envelope address (as prepared for the wire).
        status: ``sent`` (accepted by the server or provider), ``queued`` (accepted for
            later delivery), ``deferred`` (refused for now, 4xx: retry), ``rejected``
            (refused for good, 5xx), ``failed`` (the message never got through),
            ``suppressed`` (not sent: the address is on the suppression list),
            ``cancelled`` (not sent: a before_send hook said so, *detail* says why).
        code: the SMTP reply code or HTTP status, when there is one.
        detail: the server's or provider's words (never credentials).
    """

    address: str
    status: RecipientState
    code: int | None = None
    detail: str = ""


@attrs.frozen
class SendResult:
    """The outcome of sending one message through one mailer.

    Attributes:
        message_id: the Message-ID that went out.
        mailer: the alias of the mailer that sent it ("" when used directly).
        recipients: one status per envelope recipient.
        provider_id: the provider's own id for the message, if it returns one.
    """

    message_id: str
    mailer: str
    recipients: tuple[RecipientStatus, ...]
    provider_id: str | None = None

    @property
    def sent(self) -> bool:
        """True when at least one recipient accepted the message."""
        return any(r.status in ("sent", "queued") for r in self.recipients)

    def by_status(self, *states: RecipientState) -> tuple[str, ...]:
        """The addresses whose status is one of *states*."""
        return tuple(r.address for r in self.recipients if r.status in states)

    @property
    def accepted(self) -> tuple[str, ...]:
        """Addresses that accepted the message (sent or queued)."""
        return self.by_status("sent", "queued")

    @property
    def deferred(self) -> tuple[str, ...]:
        """Addresses refused for now (retry them)."""
        return self.by_status("deferred")

    @property
    def rejected(self) -> tuple[str, ...]:
        """Addresses refused for good."""
        return self.by_status("rejected", "failed")

    @property
    def suppressed(self) -> tuple[str, ...]:
        """Addresses not sent to because they are on the suppression list."""
        return self.by_status("suppressed")

    @property
    def cancelled(self) -> tuple[str, ...]:
        """Addresses not sent to because a before_send hook cancelled them."""
        return self.by_status("cancelled")
