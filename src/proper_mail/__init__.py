"""proper_mail: application email for Python.

Typed, immutable message records built by pure functions (``compose``), a fast and
proven MIME writer, and mailers at the edge. See README.md.
"""

from .adapters.base import BaseMailer
from .adapters.console import ToConsoleMailer
from .core.addresses import Address, prep_address
from .core.compose import defaults_from_options, layer_defaults
from .core.mime import envelope_of, to_bytes, to_mime
from .core.records import Alternative, Attachment, Defaults, Envelope, Message, Stamp
from .errors import (
    ConfigError,
    DeliveryError,
    EmailTemplateNotFound,
    InvalidAddress,
    InvalidHeader,
    MessageError,
    MessageTooLarge,
    PermanentDeliveryError,
    ProperMailError,
    SerializationError,
    TemplateError,
    TransientDeliveryError,
)
from .mail import compose, new_stamp

__all__ = [
    "Address",
    "Alternative",
    "Attachment",
    "BaseMailer",
    "ConfigError",
    "Defaults",
    "DeliveryError",
    "EmailTemplateNotFound",
    "Envelope",
    "InvalidAddress",
    "InvalidHeader",
    "Message",
    "MessageError",
    "MessageTooLarge",
    "PermanentDeliveryError",
    "ProperMailError",
    "SerializationError",
    "Stamp",
    "TemplateError",
    "ToConsoleMailer",
    "TransientDeliveryError",
    "compose",
    "defaults_from_options",
    "envelope_of",
    "layer_defaults",
    "new_stamp",
    "prep_address",
    "to_bytes",
    "to_mime",
]
