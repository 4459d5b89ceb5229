"""Postmark: build_request and parse_response against Postmark's documented examples.

Sources (each test names the one it checks against):
- EMAIL_API: https://postmarkapp.com/developer/api/email-api (request fields, the curl
  example, the response example)
- OVERVIEW: https://postmarkapp.com/developer/api/overview (X-Postmark-Server-Token,
  POSTMARK_API_TEST, HTTP status codes, the ErrorCode table)
- ERROR_300: https://postmarkapp.com/support/article/1180-what-does-errorcode-300-mean
  (50 recipients at most, a body is required)
- METADATA: https://postmarkapp.com/support/article/1125-custom-metadata-faq (no keys
  that differ only in case; metadata is returned in webhook events)
- METADATA_LIMITS: Postmark's 422 "Field names are limited to 20 characters and field
  values are limited to 80 characters", quoted in
  https://github.com/anymail/django-anymail/issues/238 (and at most 10 fields:
  https://github.com/dittofeed/dittofeed/pull/1759)
- SIZES: https://postmarkapp.com/support/article/1056-what-are-the-attachment-and-email-size-limits
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import pickle
from typing import Any

import attrs
import pytest

from proper_mail import (
    Attachment,
    ConfigError,
    MessageTooLarge,
    PermanentDeliveryError,
    PostmarkMailer,
    RateLimited,
    TransientDeliveryError,
    UnsupportedFeature,
    compose,
)
from proper_mail.adapters.http import Secret
from proper_mail.adapters.postmark import (
    MAX_REQUEST_BYTES,
    PostmarkOptions,
    build_request,
    parse_response,
)
from proper_mail.core.compose import inline_part
from proper_mail.core.records import Stamp

STAMP = Stamp(date=dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), token="t1")
TOKEN = "pm-server-token-1234"
OPTIONS = PostmarkOptions(server_token=Secret(value=TOKEN))
# The curl example of EMAIL_API, as a record.
DOC_MESSAGE = compose(
    stamp=STAMP,
    from_email="sender@example.com",
    to="receiver@example.com",
    subject="Postmark test",
    body="Hello dear Postmark user.",
    alternatives=[
        ("<html><body><strong>Hello</strong> dear Postmark user.</body></html>", "text/html")
    ],
)
MESSAGE = compose(
    stamp=STAMP,
    from_email="App <app@example.com>",
    to=["a@example.com", "b@example.com"],
    cc="c@example.com",
    bcc="d@example.com",
    subject="Hi",
    body="Hello",
)
PNG = b"\x89PNG\r\n\x1a\n-image-"
# The success response example of EMAIL_API.
OK_BODY = {
    "To": "receiver@example.com",
    "SubmittedAt": "2014-02-17T07:25:01.4178645-05:00",
    "MessageID": "0a129aee-e1cd-480d-b08d-4f48548ff48d",
    "ErrorCode": 0,
    "Message": "OK",
}


def body_of(message: Any, options: PostmarkOptions = OPTIONS) -> dict[str, Any]:
    payload: dict[str, Any] = build_request(message, options).json()
    return payload


def encoded(data: object) -> bytes:
    return json.dumps(data).encode()


# -- build_request ------------------------------------------------------------------------


def test_the_documented_example_is_the_request() -> None:
    """EMAIL_API's curl example: POST /email, the token header, JSON both ways, the body."""
    request = build_request(DOC_MESSAGE, OPTIONS)

    assert request.method == "POST"
    assert request.url == "https://api.postmarkapp.com/email"
    assert request.header("X-Postmark-Server-Token") == TOKEN
    assert request.header("Content-Type") == "application/json"
    assert request.header("Accept") == "application/json"
    assert request.json() == {
        "From": "sender@example.com",
        "To": "receiver@example.com",
        "Subject": "Postmark test",
        "TextBody": "Hello dear Postmark user.",
        "HtmlBody": "<html><body><strong>Hello</strong> dear Postmark user.</body></html>",
        "MessageStream": "outbound",
        "Headers": [{"Name": "Message-ID", "Value": "<t1@example.com>"}],
        "Metadata": {"proper_mail_id": "t1@example.com"},
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"to": ["a@example.com", "B <b@example.com>"], "cc": "c@example.com"},
            {"To": "a@example.com, B <b@example.com>", "Cc": "c@example.com"},
            id="to-cc-comma-separated",
        ),
        pytest.param(
            {"bcc": ["x@example.com", "y@example.com"]},
            {"Bcc": "x@example.com, y@example.com"},
            id="bcc",
        ),
        pytest.param(
            {"reply_to": ["r1@example.com", "R 2 <r2@example.com>"]},
            {"ReplyTo": "r1@example.com, R 2 <r2@example.com>"},
            id="reply-to",
        ),
        pytest.param(
            {"to": '"Doe, John" <j@example.com>'},
            {"To": '"Doe, John" <j@example.com>'},
            id="punctuation-in-a-name-is-quoted",
        ),
        pytest.param(
            {"from_email": "Zoë <z@münchen.de>"},
            {"From": "Zoë <z@xn--mnchen-3ya.de>"},
            id="unicode-name-kept-idn-as-a-label",
        ),
        pytest.param({"body": "<p>Hi</p>", "content_subtype": "html"}, {}, id="html-only"),
        pytest.param({"tags": "welcome"}, {"Tag": "welcome"}, id="one-tag"),
        pytest.param(
            {"metadata": {"color": "blue", "client-id": 12345}},
            {
                "Metadata": {
                    "color": "blue",
                    "client-id": "12345",
                    "proper_mail_id": "t1@example.com",
                }
            },
            id="metadata-then-our-message-id",
        ),
    ],
)
def test_fields_map_to_postmark_fields(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    """Each message field lands in its EMAIL_API field, in Postmark's format."""
    message = compose(
        stamp=STAMP,
        **{"from_email": "app@example.com", "to": "t@example.com", "body": "x", **fields},
    )

    body = body_of(message)

    assert {key: body[key] for key in expected} == expected


def test_html_only_sends_no_text_body() -> None:
    """An HTML body alone is HtmlBody alone: no empty TextBody."""
    message = attrs.evolve(MESSAGE, body="<p>Hi</p>", content_subtype="html")

    body = body_of(message)

    assert body["HtmlBody"] == "<p>Hi</p>"
    assert "TextBody" not in body


def test_custom_headers_then_our_message_id() -> None:
    """Headers is a list of {Name, Value}: the message's, then its Message-ID."""
    message = attrs.evolve(MESSAGE, headers=(("X-Campaign", "may"), ("List-Id", "<l.example.com>")))

    assert body_of(message)["Headers"] == [
        {"Name": "X-Campaign", "Value": "may"},
        {"Name": "List-Id", "Value": "<l.example.com>"},
        {"Name": "Message-ID", "Value": "<t1@example.com>"},
    ]


def test_our_message_id_goes_in_metadata_without_angle_brackets() -> None:
    """METADATA: webhooks echo Metadata, not headers: proper_mail_id is the Message-ID
    without its angle brackets (the webhook parser puts them back)."""
    assert body_of(MESSAGE)["Metadata"] == {"proper_mail_id": "t1@example.com"}


@pytest.mark.parametrize(
    ("message_id", "sent"),
    [
        pytest.param("<" + "x" * 68 + "@example.com>", True, id="80-characters"),
        pytest.param("<" + "x" * 69 + "@example.com>", False, id="81-characters"),
    ],
)
def test_a_message_id_over_80_characters_is_not_echoed(message_id: str, sent: bool) -> None:
    """METADATA_LIMITS: values are at most 80 characters: a longer Message-ID goes as the
    header only, and the message is still sent."""
    message = attrs.evolve(MESSAGE, message_id=message_id)

    body = body_of(message)

    assert ("Metadata" in body) is sent
    assert {"Name": "Message-ID", "Value": message_id} in body["Headers"]


@pytest.mark.parametrize(("fields", "sent"), [(9, True), (10, False)])
def test_our_message_id_takes_no_11th_metadata_field(fields: int, sent: bool) -> None:
    """METADATA_LIMITS: 10 fields at most: the caller's 10 leave no room for ours, and
    the message goes without it rather than being refused."""
    metadata = tuple((f"key{i}", "v") for i in range(fields))
    message = attrs.evolve(MESSAGE, metadata=metadata)

    sent_metadata = body_of(message)["Metadata"]

    assert ("proper_mail_id" in sent_metadata) is sent
    assert len(sent_metadata) == fields + sent


def test_attachments_are_base64_and_inline_parts_carry_a_cid() -> None:
    """Attachments: Name, base64 Content, ContentType; an inline part's ContentID is cid:..."""
    logo = inline_part("logo.png", PNG, "image/png")
    message = attrs.evolve(
        MESSAGE,
        attachments=(Attachment("report.pdf", b"%PDF-1.7", "application/pdf"), logo),
    )

    attachments = body_of(message)["Attachments"]

    assert attachments == [
        {
            "Name": "report.pdf",
            "Content": base64.b64encode(b"%PDF-1.7").decode(),
            "ContentType": "application/pdf",
        },
        {
            "Name": "logo.png",
            "Content": base64.b64encode(PNG).decode(),
            "ContentType": "image/png",
            "ContentID": f"cid:{logo.content_id}",
        },
    ]


def test_envelope_to_narrows_each_field_to_the_retried_recipients() -> None:
    """A retry to some recipients sends to those only, each in its own field."""
    message = attrs.evolve(MESSAGE, envelope_to=("b@example.com", "d@example.com"))

    body = body_of(message)

    assert (body["To"], body.get("Cc"), body["Bcc"]) == ("b@example.com", None, "d@example.com")


def test_an_envelope_sender_equal_to_from_is_no_change() -> None:
    """envelope_from naming the From mailbox asks for nothing Postmark lacks."""
    message = compose(
        stamp=STAMP,
        from_email="App <app@example.com>",
        to="t@example.com",
        envelope_from="app@example.com",
        body="x",
    )

    assert body_of(message)["From"] == "App <app@example.com>"


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param({}, {"MessageStream": "outbound"}, id="default-stream"),
        pytest.param({"message_stream": "broadcast"}, {"MessageStream": "broadcast"}, id="stream"),
        pytest.param({"track_opens": True}, {"TrackOpens": True}, id="track-opens"),
        pytest.param({"track_opens": False}, {"TrackOpens": False}, id="no-open-tracking"),
        pytest.param({"track_links": "HtmlOnly"}, {"TrackLinks": "HtmlOnly"}, id="track-links"),
    ],
)
def test_mailer_options_become_fields(options: dict[str, Any], expected: dict[str, Any]) -> None:
    """message_stream, track_opens and track_links are EMAIL_API's fields."""
    body = body_of(MESSAGE, attrs.evolve(OPTIONS, **options))

    assert {key: body[key] for key in expected} == expected


def test_tracking_is_left_to_the_server_unless_set() -> None:
    """Unset tracking options send no TrackOpens / TrackLinks (the server's settings)."""
    body = body_of(MESSAGE)

    assert "TrackOpens" not in body
    assert "TrackLinks" not in body


def test_test_mode_sends_the_documented_test_token() -> None:
    """OVERVIEW: POSTMARK_API_TEST as the server token validates without delivering."""
    request = build_request(MESSAGE, PostmarkOptions(server_token=None, test_mode=True))

    assert request.header("X-Postmark-Server-Token") == "POSTMARK_API_TEST"


def test_provider_options_merge_into_the_body_message_winning() -> None:
    """The mailer's options, then the message's, set top-level fields (and win over ours)."""
    message = attrs.evolve(
        MESSAGE, provider_options=(("postmark", '{"MessageStream": "broadcast"}'),)
    )
    options = attrs.evolve(
        OPTIONS, provider_options={"MessageStream": "other", "InlineCss": False, "Subject": "X"}
    )

    body = body_of(message, options)

    assert body["MessageStream"] == "broadcast"
    assert body["InlineCss"] is False
    assert body["Subject"] == "X"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"tags": ["a", "b"]}, "tags", id="two-tags"),
        pytest.param({"tags": "x" * 1001}, "tags[0]", id="tag-over-1000"),
        pytest.param({"metadata": {"a_key": "1", "A_Key": "2"}}, "metadata", id="metadata-case"),
        pytest.param({"metadata": {"Proper_Mail_Id": "x"}}, "metadata", id="reserved-key"),
        pytest.param(
            {
                "to": [f"u{i}@example.com" for i in range(40)],
                "cc": [f"c{i}@example.com" for i in range(11)],
            },
            "to",
            id="51-recipients",
        ),
        pytest.param({"envelope_from": "bounces@example.com"}, "envelope_from", id="envelope-from"),
        pytest.param({"to": "jörg@example.com"}, "to", id="non-ascii-local-part"),
        pytest.param(
            {"alternatives": [("BEGIN:VCALENDAR", "text/calendar")]},
            "alternatives[0]",
            id="calendar-part",
        ),
        pytest.param(
            {
                "body": "<p>a</p>",
                "content_subtype": "html",
                "alternatives": [("<p>b</p>", "text/html")],
            },
            "alternatives[0]",
            id="two-html-bodies",
        ),
        pytest.param({"body": ""}, "body", id="no-body"),
        pytest.param({"charset": "iso-8859-1"}, "charset", id="latin-1-charset"),
        pytest.param(
            {"attachments": [Attachment("a.png", PNG, "image/png", "inline")]},
            "attachments[0].disposition",
            id="inline-without-cid",
        ),
        pytest.param(
            {"attachments": [Attachment("a.png", PNG, "image/png", "attachment", "a@x")]},
            "attachments[0].content_id",
            id="attachment-with-cid",
        ),
    ],
)
def test_what_postmark_cannot_express_is_refused(fields: dict[str, Any], field: str) -> None:
    """UnsupportedFeature names the field; nothing is dropped silently."""
    message = compose(
        stamp=STAMP,
        **{"from_email": "app@example.com", "to": "t@example.com", "body": "x", **fields},
    )

    with pytest.raises(UnsupportedFeature) as caught:
        build_request(message, OPTIONS)

    assert caught.value.field == field
    assert caught.value.provider == "postmark"
    assert str(caught.value).startswith("postmark: ")


def test_fifty_recipients_are_accepted() -> None:
    """ERROR_300: 50 recipients in To, Cc and Bcc together is the limit, not over it."""
    message = attrs.evolve(MESSAGE, to=MESSAGE.to * 24, cc=MESSAGE.cc, bcc=MESSAGE.bcc)

    assert body_of(message)["To"].count("@") == 48


def test_a_request_over_ten_megabytes_is_refused_before_sending() -> None:
    """SIZES: 10 MB including base64 attachments; over it is MessageTooLarge, unsent."""
    big = Attachment("big.bin", b"\0" * (MAX_REQUEST_BYTES * 3 // 4 + 1))
    message = attrs.evolve(MESSAGE, attachments=(big,))

    with pytest.raises(MessageTooLarge) as caught:
        build_request(message, OPTIONS)

    assert caught.value.limit == MAX_REQUEST_BYTES
    assert (caught.value.size or 0) > MAX_REQUEST_BYTES


# -- parse_response -----------------------------------------------------------------------


def test_the_documented_success_is_sent_with_postmarks_id() -> None:
    """EMAIL_API's response: every envelope recipient sent, MessageID as provider_id."""
    result = parse_response(MESSAGE, 200, {}, encoded(OK_BODY))

    assert result.accepted == ("a@example.com", "b@example.com", "c@example.com", "d@example.com")
    assert result.provider_id == "0a129aee-e1cd-480d-b08d-4f48548ff48d"
    assert result.message_id == "<t1@example.com>"


def test_the_test_token_answer_is_a_success() -> None:
    """OVERVIEW: the test token's answer is an ErrorCode 0 like any accepted send."""
    body = {
        **OK_BODY,
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Message": "Test job accepted",
    }

    result = parse_response(MESSAGE, 200, {}, encoded(body))

    assert result.sent
    assert result.provider_id == "00000000-0000-0000-0000-000000000000"


def test_inactive_recipients_of_an_accepted_message_are_rejected() -> None:
    """A 200 naming inactive addresses (lower case) rejects those, the others are sent."""
    text = (
        "Message OK, but will not deliver to these inactive addresses: b@example.com, "
        "d@example.com. Inactive recipients are ones that have generated a hard bounce, a "
        "spam complaint, or a manual suppression."
    )
    message = attrs.evolve(MESSAGE, to=(MESSAGE.to[0], attrs.evolve(MESSAGE.to[1], local_part="B")))

    result = parse_response(message, 200, {}, encoded({**OK_BODY, "Message": text}))

    assert result.accepted == ("a@example.com", "c@example.com")
    assert result.rejected == ("B@example.com", "d@example.com")
    assert {r.code for r in result.recipients if r.status == "rejected"} == {406}


INACTIVE = (
    "You tried to send to a recipient that has been marked as inactive.\n"
    "Found inactive addresses: a@example.com, b@example.com, c@example.com, d@example.com.\n"
    "Inactive recipients are ones that have generated a hard bounce, a spam complaint, or a "
    "manual suppression. "
)


@pytest.mark.parametrize(
    ("status", "body", "headers", "error_type", "retry_after"),
    [
        pytest.param(
            401,
            {"ErrorCode": 10, "Message": "Request does not contain a valid Server token."},
            {},
            PermanentDeliveryError,
            None,
            id="401-bad-token",
        ),
        pytest.param(
            422,
            {"ErrorCode": 10, "Message": "Bad or missing API token"},
            {},
            PermanentDeliveryError,
            None,
            id="errorcode-10",
        ),
        pytest.param(
            422,
            {"ErrorCode": 300, "Message": "Invalid 'From' address: 'app@example'."},
            {},
            PermanentDeliveryError,
            None,
            id="300-invalid-request",
        ),
        pytest.param(
            422,
            {
                "ErrorCode": 400,
                "Message": "The 'From' address you supplied is not a Sender Signature.",
            },
            {},
            PermanentDeliveryError,
            None,
            id="400-no-sender-signature",
        ),
        pytest.param(
            422,
            {"ErrorCode": 405, "Message": "Not allowed to send"},
            {},
            PermanentDeliveryError,
            None,
            id="405-not-allowed-to-send",
        ),
        pytest.param(
            422,
            {"ErrorCode": 406, "Message": INACTIVE},
            {},
            PermanentDeliveryError,
            None,
            id="406-inactive-recipients",
        ),
        pytest.param(
            422,
            {"ErrorCode": 411, "Message": "Forbidden attachment type"},
            {},
            PermanentDeliveryError,
            None,
            id="411-forbidden-attachment",
        ),
        pytest.param(
            422,
            {"ErrorCode": 412, "Message": "Account is Pending"},
            {},
            PermanentDeliveryError,
            None,
            id="412-account-pending",
        ),
        pytest.param(
            422,
            {"ErrorCode": 100, "Message": "Maintenance"},
            {"Retry-After": "60"},
            TransientDeliveryError,
            60.0,
            id="100-maintenance",
        ),
        pytest.param(
            429,
            {"ErrorCode": 429, "Message": "Rate Limit Exceeded"},
            {"Retry-After": "30"},
            RateLimited,
            30.0,
            id="429-rate-limit",
        ),
        pytest.param(
            422,
            {"ErrorCode": 429, "Message": "Rate Limit Exceeded"},
            {},
            RateLimited,
            None,
            id="errorcode-429-in-a-422",
        ),
        pytest.param(
            413,
            {"ErrorCode": 0, "Message": "Request too large"},
            {},
            MessageTooLarge,
            None,
            id="413-too-large",
        ),
        pytest.param(
            500,
            {"ErrorCode": 0, "Message": "Internal Server Error"},
            {},
            TransientDeliveryError,
            None,
            id="500",
        ),
        pytest.param(
            503,
            b"<html>Service Unavailable</html>",
            {},
            TransientDeliveryError,
            None,
            id="503-html",
        ),
        pytest.param(
            403,
            b"<html>403 Forbidden</html>",
            {},
            PermanentDeliveryError,
            None,
            id="403-network-layer",
        ),
        pytest.param(
            200,
            {"ErrorCode": 406, "Message": INACTIVE},
            {},
            PermanentDeliveryError,
            None,
            id="200-with-an-errorcode",
        ),
    ],
)
def test_errors_are_classified_by_errorcode_then_status(
    status: int,
    body: object,
    headers: dict[str, str],
    error_type: type[Exception],
    retry_after: float | None,
) -> None:
    """OVERVIEW's status codes and ErrorCode table: rate limit and maintenance transient,
    5xx transient, 413 too large, every other refusal permanent; Retry-After kept."""
    raw = body if isinstance(body, bytes) else encoded(body)

    with pytest.raises(error_type) as caught:
        parse_response(MESSAGE, status, headers, raw)

    error = caught.value
    assert type(error) is error_type
    assert error.code == status  # type: ignore[attr-defined]
    assert error.retry_after == retry_after  # type: ignore[attr-defined]
    assert str(error).startswith(f"postmark: HTTP {status}: ")


def test_the_errors_text_is_postmarks_words() -> None:
    """The ErrorCode and Postmark's Message are in the error; the request is not."""
    with pytest.raises(PermanentDeliveryError) as caught:
        parse_response(
            MESSAGE, 422, {}, encoded({"ErrorCode": 405, "Message": "You ran out of credits."})
        )

    assert str(caught.value) == "postmark: HTTP 422: ErrorCode 405: You ran out of credits."


def test_an_inactive_recipient_error_rejects_the_named_recipients() -> None:
    """ErrorCode 406: the addresses Postmark names are rejected, nobody got the message."""
    text = INACTIVE.replace(
        "a@example.com, b@example.com, c@example.com, d@example.com", "b@example.com"
    )

    with pytest.raises(PermanentDeliveryError) as caught:
        parse_response(MESSAGE, 422, {}, encoded({"ErrorCode": 406, "Message": text}))

    statuses = {r.address: r.status for r in caught.value.recipients}
    assert statuses == {
        "a@example.com": "failed",
        "b@example.com": "rejected",
        "c@example.com": "failed",
        "d@example.com": "failed",
    }


def test_an_invalid_recipient_error_rejects_that_recipient() -> None:
    """ErrorCode 300 about a To/Cc/Bcc address: that recipient rejected, none sent."""
    text = "Error parsing 'Cc': Illegal email domain 'example.com' in address 'c@example.com'."

    with pytest.raises(PermanentDeliveryError) as caught:
        parse_response(MESSAGE, 422, {}, encoded({"ErrorCode": 300, "Message": text}))

    assert [r.address for r in caught.value.recipients if r.status == "rejected"] == [
        "c@example.com"
    ]


def test_errors_pickle_with_their_recipients() -> None:
    """Dramatiq stores errors: a classified one comes back whole."""
    with pytest.raises(PermanentDeliveryError) as caught:
        parse_response(MESSAGE, 422, {}, encoded({"ErrorCode": 406, "Message": INACTIVE}))

    restored = pickle.loads(pickle.dumps(caught.value))

    assert restored.recipients == caught.value.recipients
    assert str(restored) == str(caught.value)


# -- the mailer ---------------------------------------------------------------------------


def test_the_token_is_in_no_repr() -> None:
    """repr of the mailer, its options and its request never show the server token."""
    mailer = PostmarkMailer(server_token=TOKEN)

    shown = repr(mailer) + repr(mailer.options) + repr(mailer.build_request(MESSAGE))

    assert TOKEN not in shown


@pytest.mark.parametrize(
    ("options", "named"),
    [
        pytest.param({}, "server_token", id="missing-token"),
        pytest.param({"server_token": ""}, "server_token", id="empty-token"),
        pytest.param({"server_token": "a\nb"}, "server_token", id="token-with-newline"),
        pytest.param({"server_token": TOKEN, "message_stream": ""}, "message_stream", id="stream"),
        pytest.param({"server_token": TOKEN, "track_opens": "yes"}, "track_opens", id="opens"),
        pytest.param({"server_token": TOKEN, "track_links": "All"}, "track_links", id="links"),
        pytest.param({"server_token": TOKEN, "test_mode": "on"}, "test_mode", id="test-mode"),
        pytest.param(
            {"server_token": TOKEN, "base_url": "http://api.example"}, "base_url", id="url"
        ),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(
    options: dict[str, Any], named: str
) -> None:
    """A wrong or missing option is a ConfigError that names it and never shows a token."""
    with pytest.raises(ConfigError, match=named) as caught:
        PostmarkMailer(**options)

    assert "a\nb" not in str(caught.value)


def test_test_mode_needs_no_token() -> None:
    """test_mode=True works without a server token (Postmark's test token is public)."""
    mailer = PostmarkMailer(test_mode=True)

    assert mailer.build_request(MESSAGE).header("X-Postmark-Server-Token") == "POSTMARK_API_TEST"


def test_the_mailer_uses_its_options_and_provider_options() -> None:
    """The mailer's options and provider_options reach the request."""
    mailer = PostmarkMailer(
        server_token=TOKEN,
        message_stream="broadcast",
        track_links="HtmlAndText",
        provider_options={"InlineCss": True},
        base_url="http://127.0.0.1:9/",
    )

    request = mailer.build_request(MESSAGE)

    assert request.url == "http://127.0.0.1:9/email"
    assert {k: request.json()[k] for k in ("MessageStream", "TrackLinks", "InlineCss")} == {
        "MessageStream": "broadcast",
        "TrackLinks": "HtmlAndText",
        "InlineCss": True,
    }
