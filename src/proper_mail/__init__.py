"""proper_mail: application email for Python.

Typed, immutable message records built by pure functions (``compose``), a fast and
proven MIME writer, and mailers at the edge. See README.md.
"""

from .adapters.base import BaseMailer
from .adapters.console import ToConsoleMailer
from .adapters.memory import ToMemoryMailer
from .adapters.smtp import SMTPMailer
from .core.addresses import Address, prep_address
from .core.compose import defaults_from_options, layer_defaults
from .core.mime import envelope_of, to_bytes, to_mime
from .core.records import (
    Alternative,
    Attachment,
    Defaults,
    Envelope,
    Message,
    RecipientStatus,
    SendResult,
    Stamp,
)
from .errors import (
    ConfigError,
    DeliveryError,
    EmailTemplateNotFound,
    InvalidAddress,
    InvalidHeader,
    LedgerUnavailable,
    MessageError,
    MessageTooLarge,
    PermanentDeliveryError,
    ProperMailError,
    SerializationError,
    TemplateError,
    TransientDeliveryError,
)
from .mail import Mail, compose, configure, current_mail, new_stamp, send, send_later, using
from .message import EmailMessage
from .serialization import EmailMessageDict

__all__ = [
    "Address",
    "Alternative",
    "Attachment",
    "BaseMailer",
    "ConfigError",
    "Defaults",
    "DeliveryError",
    "EmailMessage",
    "EmailMessageDict",
    "EmailTemplateNotFound",
    "Envelope",
    "InvalidAddress",
    "InvalidHeader",
    "LedgerUnavailable",
    "Mail",
    "Message",
    "MessageError",
    "MessageTooLarge",
    "PermanentDeliveryError",
    "ProperMailError",
    "RecipientStatus",
    "SMTPMailer",
    "SendResult",
    "SerializationError",
    "Stamp",
    "TemplateError",
    "ToConsoleMailer",
    "ToMemoryMailer",
    "TransientDeliveryError",
    "compose",
    "configure",
    "current_mail",
    "defaults_from_options",
    "envelope_of",
    "layer_defaults",
    "new_stamp",
    "prep_address",
    "send",
    "send_later",
    "to_bytes",
    "to_mime",
    "using",
]
