"""PostmarkMailer against the real Postmark API: skipped unless credentials are set.

Never run in CI. To run: PROPER_MAIL_LIVE_POSTMARK_TOKEN (a server token),
PROPER_MAIL_LIVE_POSTMARK_FROM (an address with a confirmed Sender Signature) and,
optionally, PROPER_MAIL_LIVE_POSTMARK_TO (default: Postmark's black hole address,
test@blackhole.postmarkapp.com, which accepts and discards). Docs:
https://postmarkapp.com/developer/api/email-api and
https://postmarkapp.com/developer/api/overview (POSTMARK_API_TEST).
"""

from __future__ import annotations

import os

import pytest

import proper_mail
from proper_mail import PermanentDeliveryError, PostmarkMailer

TOKEN = os.environ.get("PROPER_MAIL_LIVE_POSTMARK_TOKEN", "")
SENDER = os.environ.get("PROPER_MAIL_LIVE_POSTMARK_FROM", "")
RECIPIENT = os.environ.get("PROPER_MAIL_LIVE_POSTMARK_TO", "test@blackhole.postmarkapp.com")

pytestmark = pytest.mark.skipif(
    not (TOKEN and SENDER),
    reason="live Postmark test: set PROPER_MAIL_LIVE_POSTMARK_TOKEN and "
    "PROPER_MAIL_LIVE_POSTMARK_FROM (never in CI)",
)


def message(subject: str) -> proper_mail.Message:
    return proper_mail.compose(
        from_email=SENDER,
        to=RECIPIENT,
        subject=subject,
        body="Sent by proper_mail's live test.",
        alternatives=[("<p>Sent by proper_mail's live test.</p>", "text/html")],
        tags="proper-mail-live",
        metadata={"suite": "live"},
    )


def test_postmark_accepts_a_message() -> None:
    """A real send: Postmark answers with its MessageID for every recipient."""
    with PostmarkMailer(server_token=TOKEN, timeout=20) as mailer:
        result = mailer.deliver(message("proper_mail live test"))

    assert result.sent
    assert result.provider_id


def test_postmark_test_mode_validates_without_delivering() -> None:
    """POSTMARK_API_TEST: the request is checked and answered, nothing is delivered."""
    with PostmarkMailer(test_mode=True, timeout=20) as mailer:
        result = mailer.deliver(message("proper_mail test mode"))

    assert result.sent


def test_a_wrong_token_is_permanent_and_not_shown() -> None:
    """A token Postmark does not know: 401, permanent, the token not in the error."""
    wrong = "00000000-0000-0000-0000-000000000000"
    with (
        PostmarkMailer(server_token=wrong, timeout=20) as mailer,
        pytest.raises(PermanentDeliveryError) as caught,
    ):
        mailer.deliver(message("proper_mail wrong token"))

    assert wrong not in str(caught.value)
