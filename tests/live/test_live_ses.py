"""Live: one real send through Amazon SES (never in CI; skipped without credentials).

Run it by hand with AWS credentials botocore can find (AWS_ACCESS_KEY_ID and
AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and:

    PROPER_MAIL_LIVE_SES_FROM=verified-sender@your-domain
    PROPER_MAIL_LIVE_SES_TO=success@simulator.amazonses.com   (SES's mailbox simulator)
    PROPER_MAIL_LIVE_SES_REGION=eu-west-1                     (or AWS_REGION)

https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html
https://docs.aws.amazon.com/ses/latest/dg/send-an-email-from-console.html (the simulator)
"""

from __future__ import annotations

import os

import pytest

from proper_mail import Attachment, ConfigError, SESMailer, compose
from proper_mail.adapters.base import new_stamp
from proper_mail.core.compose import inline_part


def live_settings() -> tuple[str, str, str]:
    """(from, to, region) from the environment, or skip saying what is missing."""
    if os.environ.get("CI"):
        pytest.skip("live SES test: never run in CI")
    sender = os.environ.get("PROPER_MAIL_LIVE_SES_FROM", "")
    recipient = os.environ.get("PROPER_MAIL_LIVE_SES_TO", "")
    region = os.environ.get("PROPER_MAIL_LIVE_SES_REGION") or os.environ.get(
        "AWS_REGION", os.environ.get("AWS_DEFAULT_REGION", "")
    )
    if not (sender and recipient and region):
        pytest.skip(
            "live SES test: set PROPER_MAIL_LIVE_SES_FROM, PROPER_MAIL_LIVE_SES_TO and "
            "PROPER_MAIL_LIVE_SES_REGION (or AWS_REGION), with AWS credentials"
        )
    return sender, recipient, region


def test_live_send_through_ses() -> None:
    """A real SendEmail: SES accepts an html message with an inline image and a file."""
    sender, recipient, region = live_settings()
    try:
        mailer = SESMailer(region=region, timeout=20)
    except ConfigError as e:
        pytest.skip(f"live SES test: {e}")
    logo = inline_part("dot.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif")
    message = compose(
        stamp=new_stamp(),
        from_email=f"proper_mail live test <{sender}>",
        to=recipient,
        subject="proper_mail SES live test",
        body=f'<p>Live test <img src="cid:{logo.content_id}"></p>',
        content_subtype="html",
        alternatives=[("Live test", "text/plain")],
        attachments=[logo, Attachment("note.txt", b"hello\r\n", "text/plain")],
        tags=["live-test"],
    )

    with mailer:
        result = mailer.deliver(message)

    assert result.sent
    assert result.provider_id
