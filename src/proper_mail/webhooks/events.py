"""The normalized delivery event: one record per recipient per provider event.

Every provider's webhook payload becomes a tuple of ``DeliveryEvent`` (``parse`` in
each provider module). The vocabulary is Anymail's, kept small:

==============  ==========================================================
kind            meaning
==============  ==========================================================
queued          the provider took the message and will send it
sent            the provider handed it to the recipient's server (or tried)
delivered       the recipient's server accepted it
deferred        a temporary failure; the provider keeps trying
bounced         the recipient's server refused it: ``bounce`` is "hard"
                (permanent: no such user) or "soft" (mailbox full ...)
complained      the recipient marked it as spam
unsubscribed    the recipient unsubscribed (list-unsubscribe, a link)
opened          the tracking pixel was loaded
clicked         a tracked link was followed
rejected        the provider refused to send it (suppressed, invalid, policy)
==============  ==========================================================

Provider events outside this vocabulary (Postmark's AutoResponder, SES's Rendering
Failure ...) are skipped, not guessed at.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

import attrs

__all__ = ["BOUNCE_KINDS", "EVENT_KINDS", "BounceKind", "DeliveryEvent", "EventKind"]

EventKind = Literal[
    "queued",
    "sent",
    "delivered",
    "deferred",
    "bounced",
    "complained",
    "unsubscribed",
    "opened",
    "clicked",
    "rejected",
]
BounceKind = Literal["hard", "soft"]

EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)
BOUNCE_KINDS: tuple[BounceKind, ...] = get_args(BounceKind)


def _check_timestamp(_: object, __: object, value: dt.datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"timestamp must be an aware datetime, not {value!r}")


@attrs.frozen
class DeliveryEvent:
    """What a provider reported about one message for one recipient.

    Attributes:
        kind: one of ``EVENT_KINDS`` (see the module's table).
        bounce: ``"hard"`` or ``"soft"`` when ``kind == "bounced"``, else None.
        provider: ``"postmark"``, ``"resend"``, ``"sendgrid"``, ``"mailgun"``, ``"ses"``.
        provider_message_id: the provider's id of the message (the ``provider_id`` of
            the SendResult that sent it), when the event carries it.
        message_id: our Message-ID, angle brackets included (``Message.message_id``),
            when the provider echoes it back: the ``proper_mail_id`` metadata, custom
            arg, user variable or tag our mailers send, or SES's copy of the
            ``Message-ID`` header (see ``adapters/echo.py``).
        recipient: the address the event is about, as the provider wrote it; None when
            the provider does not say which recipient (SES opens of a message to many).
        timestamp: when the event happened, timezone-aware.
        reason: the provider's or the remote server's words (an SMTP reply, a bounce
            description), when given.
        event_id: a stable id for deduplication, prefixed with the provider
            (``"sendgrid:<sg_event_id>"``): a retried delivery of the same event has
            the same id.
        raw: the provider's event as JSON text (hashable, unlike a dict).
    """

    kind: EventKind
    provider: str
    recipient: str | None
    timestamp: dt.datetime = attrs.field(validator=_check_timestamp)
    event_id: str
    raw: str = attrs.field(repr=False)
    bounce: BounceKind | None = None
    provider_message_id: str | None = None
    message_id: str | None = None
    reason: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.kind not in EVENT_KINDS:
            raise ValueError(f"kind must be one of {EVENT_KINDS}, not {self.kind!r}")
        if (self.kind == "bounced") != (self.bounce is not None):
            raise ValueError("bounce is 'hard' or 'soft' for a bounced event, else None")
        if self.bounce is not None and self.bounce not in BOUNCE_KINDS:
            raise ValueError(f"bounce must be 'hard' or 'soft', not {self.bounce!r}")
