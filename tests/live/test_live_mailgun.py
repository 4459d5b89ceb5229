"""Mailgun for real: skipped unless credentials are in the environment (never in CI).

    PROPER_MAIL_LIVE_MAILGUN_KEY      an API key (or a domain sending key)
    PROPER_MAIL_LIVE_MAILGUN_DOMAIN   the sending domain (mg.example.com)
    PROPER_MAIL_LIVE_MAILGUN_TO       where the test message may go
    PROPER_MAIL_LIVE_MAILGUN_FROM     the From (default: proper-mail@<domain>)
    PROPER_MAIL_LIVE_MAILGUN_DELIVER=1   deliver it (default: o:testmode, which Mailgun
                                         accepts and does not deliver)
    PROPER_MAIL_LIVE_MAILGUN_BASE_URL    https://api.eu.mailgun.net for an EU domain

https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages
"""

from __future__ import annotations

import os

import pytest

from proper_mail import Attachment, MailgunMailer, compose, new_stamp

KEY = os.environ.get("PROPER_MAIL_LIVE_MAILGUN_KEY", "")
DOMAIN = os.environ.get("PROPER_MAIL_LIVE_MAILGUN_DOMAIN", "")
TO = os.environ.get("PROPER_MAIL_LIVE_MAILGUN_TO", "")

pytestmark = pytest.mark.skipif(
    not (KEY and DOMAIN and TO),
    reason="live Mailgun test: set PROPER_MAIL_LIVE_MAILGUN_KEY, _DOMAIN and _TO to run it",
)


@pytest.mark.parametrize("mime", [False, True])
def test_mailgun_queues_a_full_message(mime: bool) -> None:
    """Both endpoints: text, html, files, an inline image, a header, tags and metadata are
    queued (200 "Queued. Thank you.") and the result carries Mailgun's id."""
    mailer = MailgunMailer(
        api_key=KEY,
        domain=DOMAIN,
        test_mode=os.environ.get("PROPER_MAIL_LIVE_MAILGUN_DELIVER") != "1",
        mime=mime,
        base_url=os.environ.get("PROPER_MAIL_LIVE_MAILGUN_BASE_URL") or None,
        timeout=20,
    )
    message = compose(
        stamp=new_stamp(),
        from_email=os.environ.get("PROPER_MAIL_LIVE_MAILGUN_FROM") or f"proper-mail@{DOMAIN}",
        to=TO,
        subject=f"proper_mail live test (Mailgun, mime={mime})",
        body="<p>Hello from proper_mail <img src='cid:dot.gif'></p>",
        content_subtype="html",
        alternatives=[("Hello from proper_mail", "text/plain")],
        attachments=[
            Attachment("hello.txt", b"hello\n", "text/plain"),
            Attachment(
                "dot.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/gif", "inline", "dot.gif"
            ),
        ],
        headers={"X-Proper-Mail-Test": "live"},
        tags=["proper-mail-live"],
        metadata={"suite": "live"},
    )

    with mailer:
        result = mailer.deliver(message)

    assert result.sent
    assert result.provider_id
