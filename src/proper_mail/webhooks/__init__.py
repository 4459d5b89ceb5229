"""Delivery events from providers' webhooks, and the suppression list they feed.

``import proper_mail.webhooks`` (not imported by ``import proper_mail``: it needs
``cryptography``). What is here:

- ``DeliveryEvent``: the normalized event record (``events``).
- one module per provider, each with a pure ``verify(headers, body, config, now)`` and
  ``parse(body)``: ``postmark``, ``resend``, ``sendgrid``, ``mailgun``, ``ses`` (SNS).
- ``verify_and_parse`` and ``receive`` (``receiver``); ``webhook_app`` (WSGI) and
  ``asgi_webhook_app`` (``apps``), configured by a ``WebhookConfig``.
- event-id dedupe stores (``dedupe``) and the suppression list (``suppression``):
  ``SuppressionStore`` with memory and Redis implementations, ``apply_event``,
  ``record_event``.
"""

from .apps import asgi_webhook_app, webhook_app
from .dedupe import DedupeStore, MemoryDedupeStore, RedisDedupeStore
from .events import EVENT_KINDS, DeliveryEvent
from .mailgun import MailgunConfig
from .postmark import PostmarkConfig
from .receiver import PROVIDERS, Reply, WebhookConfig, receive, verify_and_parse
from .resend import ResendConfig
from .sendgrid import SendGridConfig
from .ses import SNS_ORIGIN, SesConfig
from .sns_http import SnsCertificates
from .suppression import (
    DEFAULT_POLICY,
    Decision,
    MemorySuppressionStore,
    RedisSuppressionStore,
    Suppression,
    SuppressionPolicy,
    SuppressionStore,
    apply_event,
    normalize_address,
    record_event,
)

__all__ = [
    "DEFAULT_POLICY",
    "EVENT_KINDS",
    "PROVIDERS",
    "SNS_ORIGIN",
    "Decision",
    "DedupeStore",
    "DeliveryEvent",
    "MailgunConfig",
    "MemoryDedupeStore",
    "MemorySuppressionStore",
    "PostmarkConfig",
    "RedisDedupeStore",
    "RedisSuppressionStore",
    "Reply",
    "ResendConfig",
    "SendGridConfig",
    "SesConfig",
    "SnsCertificates",
    "Suppression",
    "SuppressionPolicy",
    "SuppressionStore",
    "WebhookConfig",
    "apply_event",
    "asgi_webhook_app",
    "normalize_address",
    "receive",
    "record_event",
    "verify_and_parse",
    "webhook_app",
]
