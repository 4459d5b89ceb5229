"""The whole exception tree of proper_mail, classified for retry.

::

    ProperMailError
    ├── ConfigError                  bad MAILERS / MAILER / via=, bad settings
    ├── HookError                    a send hook raised (the message may have been sent)
    ├── MessageError (ValueError)    the email itself is wrong
    │   ├── InvalidAddress
    │   ├── InvalidHeader            CR / LF / NUL, bad names, reserved names
    │   ├── EmailTemplateNotFound    (also LookupError)
    │   ├── TemplateError
    │   ├── PayloadTooLarge          over the queue's payload cap (QUEUE_MAX_PAYLOAD)
    │   └── UnsupportedFeature       a field the chosen provider cannot express
    ├── DeliveryError                the mail system said no, or could not be reached
    │   ├── TransientDeliveryError   retry later
    │   │   ├── LedgerUnavailable    the idempotency ledger (Redis) failed
    │   │   ├── QueueUnavailable     the broker could not take the message
    │   │   ├── MessageInFlight      another worker is sending this message right now
    │   │   └── StoreUnavailable     the suppression list or webhook dedupe store failed
    │   └── PermanentDeliveryError   do not retry
    │       └── MessageTooLarge      refused for its size (SIZE, a 552, a provider's limit)
    ├── SerializationError           a queued payload cannot be loaded (never retried)
    └── WebhookError                 a delivery-event webhook request was refused
        ├── WebhookVerificationError not proven to come from the provider (4xx)
        │   └── WebhookUnavailable   could not be verified now: the SNS certificate (503)
        └── WebhookPayloadError      verified, but not an event payload we can read (400)

Every error pickles cleanly (Dramatiq stores them) because its constructor arguments are
exactly its ``args`` (keyword arguments are kept through ``__reduce__``). Messages name
the field and show the offending value, shortened; they never hold a credential.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.records import RecipientStatus, SendResult

__all__ = [
    "ConfigError",
    "DeliveryError",
    "EmailTemplateNotFound",
    "HookError",
    "InvalidAddress",
    "InvalidHeader",
    "LedgerUnavailable",
    "MessageError",
    "MessageInFlight",
    "MessageTooLarge",
    "PayloadTooLarge",
    "PermanentDeliveryError",
    "ProperMailError",
    "QueueUnavailable",
    "RateLimited",
    "SerializationError",
    "StoreUnavailable",
    "TemplateError",
    "TransientDeliveryError",
    "UnsupportedFeature",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookUnavailable",
    "WebhookVerificationError",
]

_MAX_SHOWN = 120


def shorten(value: object) -> str:
    """Return ``repr(value)``, cut to a readable length for error messages."""
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = f"{text[: _MAX_SHOWN - 15]}...{text[-10:]}"
    return text


class ProperMailError(Exception):
    """Base class of every error proper_mail raises on purpose.

    Attributes:
        results: when raised for a batch (``send_now`` with several messages), the
            outcome of every message attempted: a SendResult or the error it raised.
    """

    results: tuple[SendResult | ProperMailError, ...] = ()


class HookError(ProperMailError):
    """A send hook (before_send, after_send, on_failure) raised; the hook's exception is
    the cause. ``results`` holds the SendResult when the message was sent anyway (an
    after_send hook failed after the mailer accepted it: do not send it again).

    Attributes:
        hook: the hook's name.
    """

    def __init__(self, hook: str, detail: str) -> None:
        super().__init__(hook, detail)
        self.hook = hook
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.hook}: {self.detail}"


class ConfigError(ProperMailError):
    """The configuration is wrong: an unknown mailer, a bad option, a missing extra."""


class MessageError(ProperMailError, ValueError):
    """The email itself is wrong; sending it again will not help.

    Attributes:
        field: the message field at fault (``"to"``, ``"headers"``, ``"subject"`` ...).
        value: the offending value, as given.
        reason: what is wrong with it, in words.
    """

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(field, value, reason)
        self.field = field
        self.value = value
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}: {shorten(self.value)}"


class InvalidAddress(MessageError):
    """An email address could not be parsed, or cannot be sent as it is."""


class InvalidHeader(MessageError):
    """A header name or value would corrupt the message (CR, LF, NUL, a reserved name)."""


class EmailTemplateNotFound(MessageError, LookupError):
    """An email has no body and none of its templates exist."""


class TemplateError(MessageError):
    """A template exists but failed to render."""


class PayloadTooLarge(MessageError):
    """The message is larger than the queue accepts (QUEUE_MAX_PAYLOAD): send it now,
    or make it smaller (a link instead of a large attachment)."""


class UnsupportedFeature(MessageError):
    """The message uses a field the chosen provider cannot express (a provider without
    cc, a header it forbids): it is refused whole rather than sent without it.

    Attributes:
        provider: the provider's name (``"resend"``).
    """

    def __init__(self, field: str, value: object, reason: str, provider: str = "") -> None:
        MessageError.__init__(self, field, value, reason)
        self.args = (field, value, reason, provider)
        self.provider = provider

    def __str__(self) -> str:
        where = f"{self.provider}: " if self.provider else ""
        return f"{where}{super().__str__()}"


class DeliveryError(ProperMailError):
    """The mail system refused or failed to take the message.

    Attributes:
        detail: what the server or provider said (never credentials).
        code: the SMTP reply code or HTTP status, when there is one.
        recipients: per-recipient statuses, when the failure is about recipients.
        retry_after: seconds the server asked us to wait, if it said.
    """

    def __init__(
        self,
        detail: str,
        *,
        code: int | None = None,
        recipients: tuple[RecipientStatus, ...] = (),
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.recipients = recipients
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.detail, self._keywords()))

    def _keywords(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "recipients": self.recipients,
            "retry_after": self.retry_after,
        }


def _rebuild(cls: type[DeliveryError], detail: str, keywords: dict[str, Any]) -> DeliveryError:
    return cls(detail, **keywords)


class TransientDeliveryError(DeliveryError):
    """A temporary failure (4xx, disconnect, timeout, rate limit): retrying may succeed."""


class PermanentDeliveryError(DeliveryError):
    """A permanent failure (5xx, authentication, certificate): retrying will not help."""


class MessageTooLarge(PermanentDeliveryError):
    """The server or provider refuses the message for its size, whichever side found it:
    the client's check against the server's SIZE, or the server's own 552 after DATA.

    Attributes:
        size: the message's size in bytes, when known.
        limit: the largest size accepted, when the server said.
    """

    def __init__(
        self,
        detail: str,
        *,
        code: int | None = 552,
        recipients: tuple[RecipientStatus, ...] = (),
        retry_after: float | None = None,
        size: int | None = None,
        limit: int | None = None,
    ) -> None:
        super().__init__(detail, code=code, recipients=recipients, retry_after=retry_after)
        self.size = size
        self.limit = limit

    def _keywords(self) -> dict[str, Any]:
        return {**super()._keywords(), "size": self.size, "limit": self.limit}


class LedgerUnavailable(TransientDeliveryError):
    """The idempotency ledger (Redis) could not be read or written: nothing was sent
    because of it, and retrying later may succeed."""


class QueueUnavailable(TransientDeliveryError):
    """The broker (Redis, RabbitMQ) could not take the message: it was not queued."""


class MessageInFlight(TransientDeliveryError):
    """Another worker holds the claim on this message's recipients and is sending it
    now: this copy waits for the outcome instead of sending a second one."""


class StoreUnavailable(TransientDeliveryError):
    """The suppression list or the webhook dedupe store (Redis) could not be read or
    written: retrying later may succeed."""


class RateLimited(TransientDeliveryError):
    """Sending now would break the mailer's rate limit (``rate_limit`` in MAILERS, or
    the provider's own 429): retry after ``retry_after`` seconds."""


class SerializationError(ProperMailError):
    """A queued payload cannot be loaded; it is reported, never retried."""


class WebhookError(ProperMailError):
    """A webhook request from a provider was refused; the receiver answers 4xx.

    Attributes:
        provider: the provider the request claimed to come from (``"resend"``).
        reason: what is wrong, in words; never a secret, a signature or a key.
    """

    def __init__(self, provider: str, reason: str) -> None:
        super().__init__(provider, reason)
        self.provider = provider
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.provider} webhook: {self.reason}"


class WebhookVerificationError(WebhookError):
    """The request is not proven to come from the provider: a missing or wrong
    signature or credential, a timestamp outside the window, a certificate URL or
    topic that is not allowed. Nothing in it was read as an event."""


class WebhookUnavailable(WebhookVerificationError):
    """The request could not be verified right now (the SNS signing certificate could
    not be fetched, the subscription could not be confirmed): answered 503 so the
    provider retries later."""


class WebhookPayloadError(WebhookError, ValueError):
    """The request is verified (or needs no signature) but its body is not an event
    payload of that provider: not JSON, a missing or mistyped field."""
