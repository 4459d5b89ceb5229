"""BaseMailer: the seam every backend (SMTP, console, memory, HTTP providers) fits.

Two levels, pick one to override:

- ``send_now(*messages) -> int``: the guide's 7.5 seam. A custom backend receives
  ``EmailMessageDict``s (``message["to"]``, ``message["body"]`` ...), calls
  ``self.render(message)`` for the MIME, and returns how many it sent.
- ``deliver(message) -> SendResult``: the rich seam the bundled mailers use: one
  validated ``Message`` record in, per-recipient statuses out. HTTP provider mailers
  fit here too (build a request from the record, parse the response into a result).

Each level is written in terms of the other, so overriding either one is enough.
"""

from __future__ import annotations

import email.message
import email.policy
from collections.abc import Iterable
from email.policy import Policy
from typing import ClassVar

from ..core.addresses import prep_address
from ..core.compose import parse_addresses
from ..core.mime import DEFAULT_POLICY, envelope_of, to_mime
from ..core.records import Envelope, Message, RecipientState, RecipientStatus, SendResult
from ..errors import ConfigError, DeliveryError, MessageError, ProperMailError
from ..serialization import EmailMessageDict, dump_message, load_message

__all__ = [
    "BaseMailer",
    "MessageLike",
    "all_sent",
    "as_record",
    "envelope_of_mime",
    "without_bcc",
]

#: What ``send_now`` and ``render`` accept.
MessageLike = Message | EmailMessageDict | email.message.EmailMessage


def as_record(message: Message | EmailMessageDict) -> Message:
    """Return *message* as a validated Message record (loading an EmailMessageDict)."""
    if isinstance(message, Message):
        return message
    if isinstance(message, dict):
        return load_message(message)
    raise MessageError("message", type(message).__name__, "expected a Message or EmailMessageDict")


class BaseMailer:
    """Base class of mailers: render messages, and send them.

    **Protocol:** override ``send_now(*messages) -> int`` (the guide's recipe) or
    ``deliver(message) -> SendResult``. Keyword-only constructor arguments only: the
    MAILERS config passes every key but ``type`` to the constructor.

    Attributes:
        policy: the email policy used to render; ``email.policy.SMTPUTF8`` keeps
            Unicode addresses and headers (the guide, 9).
        fail_silently: swallow delivery errors (``send_now`` then returns a lower count).
        alias: the name this mailer has in MAILERS ("" when built directly).
    """

    policy: ClassVar[Policy] = DEFAULT_POLICY

    def __init__(self, *, fail_silently: bool = False) -> None:
        self.fail_silently = fail_silently
        self.alias = ""

    def render(self, message: MessageLike) -> email.message.EmailMessage:
        """Return *message* as a stdlib EmailMessage, MIME built by the core."""
        if isinstance(message, email.message.EmailMessage):
            return message
        return to_mime(as_record(message), self.policy)

    def send_now(self, *messages: MessageLike) -> int:
        """Send *messages* now, in order; return how many were sent.

        Every message is attempted. When some fail and ``fail_silently`` is off, the
        first failure is raised after the batch, with ``.results`` holding the outcome
        of each message, so nothing is lost or sent twice by a caller retrying blindly.
        """
        results = self.send_many(messages)
        return self._count(results)

    def send_many(
        self, messages: Iterable[MessageLike]
    ) -> tuple[SendResult | ProperMailError, ...]:
        """Send *messages*; return each one's SendResult, or the DeliveryError it raised."""
        outcomes: list[SendResult | ProperMailError] = []
        for message in messages:
            try:
                if isinstance(message, email.message.EmailMessage):
                    outcomes.append(self.deliver_mime(message))
                else:
                    outcomes.append(self.deliver(as_record(message)))
            except DeliveryError as e:
                outcomes.append(e)
        return tuple(outcomes)

    def _count(self, outcomes: tuple[SendResult | ProperMailError, ...]) -> int:
        failures = [o for o in outcomes if isinstance(o, ProperMailError)]
        if failures and not self.fail_silently:
            first = failures[0]
            first.results = outcomes
            raise first
        return sum(1 for o in outcomes if isinstance(o, SendResult) and o.sent)

    def deliver(self, message: Message) -> SendResult:
        """Send one validated record; return per-recipient statuses.

        The default goes through ``send_now`` with the EmailMessageDict, for mailers
        written the guide's way; it reports every recipient as sent when it counts 1.
        """
        if type(self).send_now is BaseMailer.send_now:
            raise ConfigError(f"{type(self).__name__} must override send_now() or deliver()")
        envelope = envelope_of(message, self.policy)
        sent = self.send_now(dump_message(message))
        state: RecipientState = "sent" if sent else "failed"
        return SendResult(
            message_id=message.message_id,
            mailer=self.alias,
            recipients=tuple(RecipientStatus(a, state) for a in envelope.recipients),
        )

    def deliver_mime(self, message: email.message.EmailMessage) -> SendResult:
        """Send a stdlib EmailMessage assembled by hand (the guide's 5.3, workaround 3)."""
        raise ConfigError(
            f"{type(self).__name__} cannot send a hand-built email.message.EmailMessage"
        )

    def close(self) -> None:
        """Release connections and other resources (a no-op unless the mailer has any)."""

    def __enter__(self) -> BaseMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def envelope_of_mime(message: email.message.EmailMessage, policy: Policy) -> Envelope:
    """Return the envelope of a hand-built stdlib message: Sender/From, To + Cc + Bcc.

    Every address is re-checked with our strict parser and prepared with prep_address.
    """
    force_ascii = not getattr(policy, "utf8", False)
    modern = (
        message
        if isinstance(message.policy, email.policy.EmailPolicy)
        else email.message_from_bytes(message.as_bytes(), policy=email.policy.default)
    )
    senders = _header_addresses(modern, "Sender") or _header_addresses(modern, "From")
    if not senders:
        raise MessageError("from_email", None, "the message has no From (or Sender) header")
    seen: dict[str, None] = {}
    for name in ("To", "Cc", "Bcc"):
        for address in _header_addresses(modern, name):
            seen.setdefault(prep_address(address, force_ascii), None)
    if not seen:
        raise MessageError("to", (), "the message has no recipients (To, Cc and Bcc are empty)")
    return Envelope(prep_address(senders[0], force_ascii), tuple(seen))


def _header_addresses(message: email.message.EmailMessage, name: str) -> list[str]:
    found: list[str] = []
    for header in message.get_all(name, []):
        for address in getattr(header, "addresses", ()):
            found.extend(str(a) for a in parse_addresses(name.lower(), address.addr_spec))
    return found


def without_bcc(message: email.message.EmailMessage) -> email.message.EmailMessage:
    """Return a copy of *message* without its Bcc header (Bcc is envelope only)."""
    if message["Bcc"] is None:
        return message
    copy = email.message_from_bytes(message.as_bytes(), policy=message.policy)
    assert isinstance(copy, email.message.EmailMessage)
    del copy["Bcc"]
    return copy


def all_sent(message_id: str, alias: str, envelope: Envelope) -> SendResult:
    """A SendResult where every envelope recipient was accepted."""
    return SendResult(
        message_id=message_id,
        mailer=alias,
        recipients=tuple(RecipientStatus(a, "sent") for a in envelope.recipients),
    )
