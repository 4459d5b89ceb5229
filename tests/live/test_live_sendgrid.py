"""SendGrid for real: skipped unless credentials are in the environment (never in CI).

    PROPER_MAIL_LIVE_SENDGRID_KEY   an API key with the Mail Send permission
    PROPER_MAIL_LIVE_SENDGRID_FROM  a verified sender of that account
    PROPER_MAIL_LIVE_SENDGRID_TO    where the test message may go
    PROPER_MAIL_LIVE_SENDGRID_DELIVER=1   deliver it (default: sandbox mode, which
                                          validates the request and delivers nothing)
    PROPER_MAIL_LIVE_SENDGRID_BASE_URL    https://api.eu.sendgrid.com for an EU account

https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
"""

from __future__ import annotations

import os

import pytest

from proper_mail import Attachment, SendGridMailer, compose, new_stamp

KEY = os.environ.get("PROPER_MAIL_LIVE_SENDGRID_KEY", "")
FROM = os.environ.get("PROPER_MAIL_LIVE_SENDGRID_FROM", "")
TO = os.environ.get("PROPER_MAIL_LIVE_SENDGRID_TO", "")

pytestmark = pytest.mark.skipif(
    not (KEY and FROM and TO),
    reason="live SendGrid test: set PROPER_MAIL_LIVE_SENDGRID_KEY, _FROM and _TO to run it",
)


def test_sendgrid_accepts_a_full_message() -> None:
    """Text, html, an attachment, an inline image, a header, tags and metadata: SendGrid
    accepts the request (202, or 200 in sandbox mode) and the result says so."""
    deliver = os.environ.get("PROPER_MAIL_LIVE_SENDGRID_DELIVER") == "1"
    mailer = SendGridMailer(
        api_key=KEY,
        sandbox=not deliver,
        base_url=os.environ.get("PROPER_MAIL_LIVE_SENDGRID_BASE_URL") or None,
        timeout=20,
    )
    message = compose(
        stamp=new_stamp(),
        from_email=FROM,
        to=TO,
        subject="proper_mail live test (SendGrid)",
        body="<p>Hello from proper_mail <img src='cid:dot@proper-mail'></p>",
        content_subtype="html",
        alternatives=[("Hello from proper_mail", "text/plain")],
        attachments=[
            Attachment("hello.txt", b"hello\n", "text/plain"),
            Attachment(
                "dot.gif",
                b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
                "image/gif",
                "inline",
                "dot@proper-mail",
            ),
        ],
        headers={"X-Proper-Mail-Test": "live"},
        tags=["proper-mail-live"],
        metadata={"suite": "live"},
    )

    with mailer:
        result = mailer.deliver(message)

    assert result.sent
    assert result.recipients[0].code == (202 if deliver else 200)
    if deliver:
        assert result.provider_id
