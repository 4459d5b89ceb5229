"""proper_mail: application email for Python.

Typed, immutable message records built by pure functions (``compose``), a fast and
proven MIME writer, and mailers at the edge. See README.md.
"""

import importlib.metadata
import logging

from .adapters.base import BaseMailer, Sendable, new_stamp
from .adapters.console import ToConsoleMailer
from .adapters.failover import FailoverMailer, RoundRobinMailer
from .adapters.http import HttpMailer, HttpRequest, Secret
from .adapters.mailgun import MailgunMailer, MailgunOptions
from .adapters.memory import ToMemoryMailer
from .adapters.postmark import PostmarkMailer, PostmarkOptions
from .adapters.resend import ResendMailer, ResendOptions
from .adapters.sendgrid import SendGridMailer, SendGridOptions
from .adapters.ses import SESMailer, SESOptions
from .adapters.smtp import SMTPMailer
from .core.addresses import Address, check_address, prep_address
from .core.compose import defaults_from_options, layer_defaults
from .core.hooks import Interceptor, SendHooks, Skip
from .core.mime import envelope_of, iter_bytes, to_bytes, to_mime, wire_size
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
    HookError,
    InvalidAddress,
    InvalidHeader,
    LedgerUnavailable,
    MessageError,
    MessageInFlight,
    MessageTooLarge,
    PayloadTooLarge,
    PermanentDeliveryError,
    ProperMailError,
    QueueUnavailable,
    RateLimited,
    SerializationError,
    StoreUnavailable,
    TemplateError,
    TransientDeliveryError,
    UnsupportedFeature,
    WebhookError,
    WebhookPayloadError,
    WebhookUnavailable,
    WebhookVerificationError,
)
from .mail import Mail, compose, configure, current_mail, send, send_later, using
from .message import EmailMessage
from .tasks.delivery import GiveUp
from .tasks.serialization import EmailMessageDict

__version__ = importlib.metadata.version("proper-mail")

# A library logs, the app decides where to: no "No handlers" fallback output on stderr.
logging.getLogger("proper_mail").addHandler(logging.NullHandler())

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
    "FailoverMailer",
    "GiveUp",
    "HookError",
    "HttpMailer",
    "HttpRequest",
    "Interceptor",
    "InvalidAddress",
    "InvalidHeader",
    "LedgerUnavailable",
    "Mail",
    "MailgunMailer",
    "MailgunOptions",
    "Message",
    "MessageError",
    "MessageInFlight",
    "MessageTooLarge",
    "PayloadTooLarge",
    "PermanentDeliveryError",
    "PostmarkMailer",
    "PostmarkOptions",
    "ProperMailError",
    "QueueUnavailable",
    "RateLimited",
    "RecipientStatus",
    "ResendMailer",
    "ResendOptions",
    "RoundRobinMailer",
    "SESMailer",
    "SESOptions",
    "SMTPMailer",
    "Secret",
    "SendGridMailer",
    "SendGridOptions",
    "SendHooks",
    "SendResult",
    "Sendable",
    "SerializationError",
    "Skip",
    "Stamp",
    "StoreUnavailable",
    "TemplateError",
    "ToConsoleMailer",
    "ToMemoryMailer",
    "TransientDeliveryError",
    "UnsupportedFeature",
    "WebhookError",
    "WebhookPayloadError",
    "WebhookUnavailable",
    "WebhookVerificationError",
    "__version__",
    "check_address",
    "compose",
    "configure",
    "current_mail",
    "defaults_from_options",
    "envelope_of",
    "iter_bytes",
    "layer_defaults",
    "new_stamp",
    "prep_address",
    "send",
    "send_later",
    "to_bytes",
    "to_mime",
    "using",
    "wire_size",
]
