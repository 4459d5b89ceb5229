"""Our Message-ID and the provider's id, round trip: the request a mailer builds, the
event the provider makes of it, the DeliveryEvent its webhook parser reads.

For each provider: build the request for one composed message (``build_request``),
copy the fields the provider echoes from that request into its documented event
example, as the provider would, parse the event, and check that ``event.message_id``
is ``message.message_id`` (angle brackets included) and ``event.provider_message_id``
is the ``provider_id`` that ``parse_response`` reads from the documented send response.

Echoed fields (see src/proper_mail/adapters/echo.py):
- Postmark: Metadata, returned in webhook events
  (https://postmarkapp.com/support/article/1125-custom-metadata-faq); MessageID of the
  send response (https://postmarkapp.com/developer/api/email-api) and of the bounce
  webhook (https://postmarkapp.com/developer/webhooks/bounce-webhook).
- SendGrid: custom_args at the top level of every event, and sg_message_id starting
  with the send response's X-Message-Id
  (https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event,
  https://www.twilio.com/docs/sendgrid/glossary/x-message-id).
- Mailgun: X-Mailgun-Variables as ``user-variables``
  (https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/send-attachments);
  the send response's ``id`` is ``message.headers.message-id`` without its angle
  brackets (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads).
- Resend: ``tags`` in ``data`` (https://resend.com/docs/dashboard/webhooks/body-parameters,
  an array of {name, value}; https://resend.com/docs/webhooks/emails/bounced shows an
  object); ``email_id`` is the send response's ``id``
  (https://resend.com/docs/api-reference/emails/send-email).
- SES: the original headers in ``mail.headers`` and ``mail.commonHeaders``; ``mail.messageId``
  is SendEmail's MessageId
  (https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html,
  https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.parser
import email.policy
import json

import attrs
import pytest

from proper_mail.adapters import mailgun as mailgun_mailer
from proper_mail.adapters import postmark as postmark_mailer
from proper_mail.adapters import resend as resend_mailer
from proper_mail.adapters import sendgrid as sendgrid_mailer
from proper_mail.adapters import ses as ses_mailer
from proper_mail.adapters.http import Secret
from proper_mail.core.compose import compose
from proper_mail.core.records import Message, Stamp
from proper_mail.webhooks import DeliveryEvent, mailgun, postmark, resend, sendgrid, ses
from tests.multipart_form import parse_form, values
from tests.unit.webhooks.test_mailgun import FAILED
from tests.unit.webhooks.test_postmark import BOUNCE as POSTMARK_BOUNCE
from tests.unit.webhooks.test_resend import BOUNCED
from tests.unit.webhooks.test_sendgrid import BATCH
from tests.unit.webhooks.test_ses import BOUNCE as SES_BOUNCE
from tests.webhook_signing import mailgun_body, sns_body, sns_notification

# A message as an app composes it, with a metadata key of its own named message_id
# (which must not be taken for ours).
MESSAGE = compose(
    stamp=Stamp(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC), "19a0c3e5f1b.8f14e45fceea167a"),
    message_id_domain="mail.app.example.com",
    from_email="App <app@app.example.com>",
    to="Alice <alice@example.com>",
    subject="Your order",
    body="Order 7 ships today.",
    metadata={"message_id": "order-7"},
)
LONG_ID = "<" + "x" * 200 + "@mail.app.example.com>"


def test_the_message_id_is_the_one_an_app_makes() -> None:
    """The Message-ID under test has angle brackets, a dot and an @ (what tags cannot hold)."""
    assert MESSAGE.message_id == "<19a0c3e5f1b.8f14e45fceea167a@mail.app.example.com>"


# -- Postmark -----------------------------------------------------------------------------

POSTMARK_OPTIONS = postmark_mailer.PostmarkOptions(server_token=Secret("server-token"))
POSTMARK_SENT = json.dumps(
    {
        "To": "alice@example.com",
        "SubmittedAt": "2014-02-17T07:25:01.4178645-05:00",
        "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
        "ErrorCode": 0,
        "Message": "OK",
    }
).encode()


def postmark_event(message: Message) -> DeliveryEvent:
    """Postmark's bounce webhook for *message*: its Metadata, the send's MessageID."""
    request = postmark_mailer.build_request(message, POSTMARK_OPTIONS).json()
    sent = json.loads(POSTMARK_SENT)
    event = {
        **POSTMARK_BOUNCE,
        "MessageID": sent["MessageID"],
        "Email": "alice@example.com",
        "Metadata": request.get("Metadata", {}),
    }
    (parsed,) = postmark.parse(json.dumps(event).encode())
    return parsed


def test_postmark_round_trip() -> None:
    """Metadata["proper_mail_id"] comes back as our Message-ID; MessageID as the provider id."""
    result = postmark_mailer.parse_response(MESSAGE, 200, {}, POSTMARK_SENT)

    event = postmark_event(MESSAGE)

    assert event.message_id == MESSAGE.message_id
    assert event.provider_message_id == result.provider_id
    assert event.provider_message_id is not None


def test_postmark_without_room_for_the_echo_gives_no_message_id() -> None:
    """A Message-ID over Postmark's 80 characters is not sent, so none comes back."""
    event = postmark_event(attrs.evolve(MESSAGE, message_id=LONG_ID))

    assert event.message_id is None
    assert event.provider_message_id == "0a129aee-e1cd-480d-b08d-4f48548ff48d"


# -- SendGrid -----------------------------------------------------------------------------

SENDGRID_OPTIONS = sendgrid_mailer.SendGridOptions(api_key=Secret("SG.test-key"))
SENDGRID_BOUNCE = next(event for event in BATCH if event["event"] == "bounce")


@pytest.mark.parametrize(
    ("x_message_id", "sg_message_id"),
    [
        pytest.param(
            "14c5d75ce93.dfd.64b469",
            "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            id="documented-filter0001",
        ),
        pytest.param(
            "LRzXl_NHStOGhQ4kofSm_A",
            "LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0",
            id="filterdrecv",
        ),
        pytest.param(
            "W5dXcqBzTnKmyGHPQ-lWTg",
            "W5dXcqBzTnKmyGHPQ-lWTg.recvd-7bd9484584-qt86v-1-698B2E9F-D.0",
            id="recvd",
        ),
    ],
)
def test_sendgrid_round_trip(x_message_id: str, sg_message_id: str) -> None:
    """custom_args come back at the top level of the event; sg_message_id without its
    per-recipient suffix is the X-Message-Id of the 202."""
    request = sendgrid_mailer.build_request(MESSAGE, SENDGRID_OPTIONS).json()
    result = sendgrid_mailer.parse_response(MESSAGE, 202, {"X-Message-Id": x_message_id}, b"")
    event = {
        **SENDGRID_BOUNCE,
        "email": "alice@example.com",
        "sg_message_id": sg_message_id,
        **request["custom_args"],
    }

    (parsed,) = sendgrid.parse(json.dumps([event]).encode())

    assert parsed.message_id == MESSAGE.message_id
    assert parsed.provider_message_id == result.provider_id == x_message_id


# -- Mailgun ------------------------------------------------------------------------------

MAILGUN_OPTIONS = mailgun_mailer.MailgunOptions(
    api_key=Secret("key-3ax6xnjp29jd6fds4gc373sgvjxteol0"), domain="mg.example.com"
)
MAILGUN_SENT = (
    b'{"id": "<20111114174239.25659.5817@samples.mailgun.org>", "message": "Queued. Thank you."}'
)


@pytest.mark.parametrize("mime", [False, True], ids=["form", "mime"])
def test_mailgun_round_trip(mime: bool) -> None:
    """X-Mailgun-Variables come back as user-variables; the event's message-id, given
    its angle brackets back, is the id of the send response."""
    options = attrs.evolve(MAILGUN_OPTIONS, mime=mime)
    request = mailgun_mailer.build_request(MESSAGE, options, boundary="pm-roundtrip")
    fields = parse_form(request.body, request.header("Content-Type") or "")
    (variables,) = values(fields, "h:X-Mailgun-Variables")
    result = mailgun_mailer.parse_response(MESSAGE, 200, {}, MAILGUN_SENT)
    sent_id = json.loads(MAILGUN_SENT)["id"]
    event = {
        **FAILED,
        "recipient": "alice@example.com",
        "message": {**FAILED["message"], "headers": {"message-id": sent_id.strip("<>")}},
        "user-variables": json.loads(variables),
    }

    (parsed,) = mailgun.parse(mailgun_body(event, "roundtrip-token"))

    assert parsed.message_id == MESSAGE.message_id
    assert parsed.provider_message_id == result.provider_id == sent_id


# -- Resend -------------------------------------------------------------------------------

RESEND_OPTIONS = resend_mailer.ResendOptions(api_key=Secret("re_123456789"))
RESEND_SENT = b'{"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"}'


def resend_event(message: Message, *, as_object: bool) -> DeliveryEvent:
    """Resend's email.bounced for *message*: the request's tags (as the documented array,
    or as the object of the docs' example), the send's id as email_id."""
    request = resend_mailer.build_request(message, RESEND_OPTIONS).json()
    tags = request.get("tags", [])
    event = {
        **BOUNCED,
        "data": {
            **BOUNCED["data"],
            "email_id": json.loads(RESEND_SENT)["id"],
            "to": ["alice@example.com"],
            "tags": {t["name"]: t.get("value", "") for t in tags} if as_object else tags,
        },
    }
    (parsed,) = resend.parse(json.dumps(event).encode(), svix_id="msg_roundtrip")
    return parsed


@pytest.mark.parametrize("as_object", [False, True], ids=["tag-array", "tag-object"])
def test_resend_round_trip(as_object: bool) -> None:
    """The proper_mail_id tag (base64url) decodes to our Message-ID; email_id is the id."""
    result = resend_mailer.parse_response(MESSAGE, 200, {}, RESEND_SENT)

    event = resend_event(MESSAGE, as_object=as_object)

    assert event.message_id == MESSAGE.message_id
    assert event.provider_message_id == result.provider_id
    assert event.provider_message_id is not None


def test_resend_without_room_for_the_echo_gives_no_message_id() -> None:
    """A Message-ID whose tag would pass 256 characters is not sent: none comes back."""
    event = resend_event(attrs.evolve(MESSAGE, message_id=LONG_ID), as_object=False)

    assert event.message_id is None


# -- SES ----------------------------------------------------------------------------------

SES_OPTIONS = ses_mailer.SESOptions(
    region="us-east-1", base_url="https://email.us-east-1.amazonaws.com"
)
SES_SENT = b'{"MessageId": "EXAMPLE7c191be45-e9aedb9a-02f9-4d12-a87d-dd0099a07f8a-000000"}'


@pytest.mark.parametrize("truncated", [False, True], ids=["headers", "headers-truncated"])
def test_ses_round_trip(truncated: bool) -> None:
    """The raw message's Message-ID comes back in mail.headers (or, when SES truncated
    them, in mail.commonHeaders); mail.messageId is SendEmail's MessageId."""
    request = ses_mailer.build_request(MESSAGE, SES_OPTIONS).json()
    raw = base64.b64decode(request["Content"]["Raw"]["Data"])
    sent = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    headers = [{"name": name, "value": str(value)} for name, value in sent.items()]
    result = ses_mailer.parse_response(MESSAGE, 200, {}, SES_SENT)
    mail = {
        **SES_BOUNCE["mail"],
        "messageId": json.loads(SES_SENT)["MessageId"],
        "headersTruncated": truncated,
        "headers": headers[:2] if truncated else headers,
        "commonHeaders": {
            **SES_BOUNCE["mail"]["commonHeaders"],
            "messageId": str(sent["Message-ID"]),
        },
    }
    event = {**SES_BOUNCE, "mail": mail}

    (parsed,) = ses.parse(sns_body(sns_notification(event)))

    assert parsed.message_id == MESSAGE.message_id
    assert parsed.provider_message_id == result.provider_id
    assert parsed.provider_message_id is not None
