"""ResendMailer against the real Resend API: skipped unless credentials are set.

Never run in CI. To run: PROPER_MAIL_LIVE_RESEND_KEY (an API key), and optionally
PROPER_MAIL_LIVE_RESEND_FROM (default onboarding@resend.dev, which sends only to the
account's own address and Resend's test addresses) and PROPER_MAIL_LIVE_RESEND_TO
(default delivered@resend.dev, Resend's test address that accepts and discards). Docs:
https://resend.com/docs/api-reference/emails/send-email and
https://resend.com/docs/dashboard/emails/idempotency-keys.
"""

from __future__ import annotations

import os

import pytest

import proper_mail
from proper_mail import PermanentDeliveryError, ResendMailer

API_KEY = os.environ.get("PROPER_MAIL_LIVE_RESEND_KEY", "")
SENDER = os.environ.get("PROPER_MAIL_LIVE_RESEND_FROM", "onboarding@resend.dev")
RECIPIENT = os.environ.get("PROPER_MAIL_LIVE_RESEND_TO", "delivered@resend.dev")

pytestmark = pytest.mark.skipif(
    not API_KEY, reason="live Resend test: set PROPER_MAIL_LIVE_RESEND_KEY (never in CI)"
)


def message(subject: str) -> proper_mail.Message:
    return proper_mail.compose(
        from_email=SENDER,
        to=RECIPIENT,
        subject=subject,
        body="<p>Sent by proper_mail's live test.</p>",
        content_subtype="html",
        alternatives=[("Sent by proper_mail's live test.", "text/plain")],
        tags="proper-mail-live",
        metadata={"suite": "live"},
    )


def test_resend_accepts_a_message_once_per_idempotency_key() -> None:
    """A real send, then the same message again: the same id (Resend sent it once)."""
    record = message("proper_mail live test")
    with ResendMailer(api_key=API_KEY, timeout=20) as mailer:
        first = mailer.deliver(record)
        again = mailer.deliver(record)

    assert first.sent
    assert first.provider_id
    assert again.provider_id == first.provider_id


def test_a_wrong_key_is_permanent_and_not_shown() -> None:
    """A key Resend does not know: 4xx, permanent, the key not in the error."""
    wrong = "re_00000000_not_a_real_key"
    with (
        ResendMailer(api_key=wrong, timeout=20) as mailer,
        pytest.raises(PermanentDeliveryError) as caught,
    ):
        mailer.deliver(message("proper_mail wrong key"))

    assert wrong not in str(caught.value)
