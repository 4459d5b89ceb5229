"""The app that real Dramatiq worker processes load in the Redis tests.

Configured from the environment the test sets: the SMTP test server's port, the Redis
URL and a key namespace of the test's own. ``broker`` is what ``dramatiq`` loads.
"""

from __future__ import annotations

import os

from proper_mail import Message, PermanentDeliveryError, SendResult, configure
from proper_mail.adapters.base import BaseMailer


class ApiMailer(BaseMailer):
    """A stand-in HTTP-provider mailer with an API key that always refuses."""

    def __init__(self, *, api_key: str, fail_silently: bool = False) -> None:
        super().__init__(fail_silently=fail_silently)
        self._api_key = api_key

    def deliver(self, message: Message) -> SendResult:
        """Refuse, as a provider would refuse an unverified sender (no key in the text)."""
        raise PermanentDeliveryError("422 the sender domain is not verified", code=422)


def settings() -> dict[str, object]:
    """The configuration the test process and the workers share."""
    return {
        "MAILERS": {
            "smtp": {
                "type": "proper_mail.SMTPMailer",
                "host": "127.0.0.1",
                "port": int(os.environ["PM_TEST_SMTP_PORT"]),
                "username": "user",
                "password": os.environ["PM_TEST_SMTP_PASSWORD"],
                "allow_cleartext_auth": True,
                "timeout": 3,
                "send_timeout": 3,
                "max_connections": 4,
            },
            "api": {"type": ApiMailer, "api_key": os.environ["PM_TEST_API_KEY"]},
        },
        "MAILER": "smtp",
        "MAILER_DEFAULT_OPTIONS": {"from": "no-reply@example.com"},
        "QUEUE": os.environ["PM_TEST_REDIS_URL"],
        "QUEUE_NAMESPACE": os.environ["PM_TEST_NAMESPACE"],
        "QUEUE_HEARTBEAT_TIMEOUT": int(os.environ.get("PM_TEST_HEARTBEAT_MS", "2000")),
        "QUEUE_MAINTENANCE_CHANCE": 1_000_000,
        "QUEUE_MIN_BACKOFF": 0.1,
        "QUEUE_MAX_BACKOFF": 0.5,
        "QUEUE_MAX_RETRIES": 3,
        # Leases of max(3, 2 x send_timeout) = 6 s: a killed worker's claims free up fast.
        "QUEUE_CLAIM_TTL": 3,
    }


if "PM_TEST_REDIS_URL" in os.environ:
    mail = configure(settings())
    broker = mail.queue.broker
