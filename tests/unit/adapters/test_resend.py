"""Resend: build_request and parse_response against Resend's documented examples.

Sources (each test names the one it checks against):
- SEND: https://resend.com/docs/api-reference/emails/send-email (body parameters, tag
  alphabet, "to" max 50, the Node example and the {"id"} response)
- ERRORS: https://resend.com/docs/api-reference/errors (error names and statuses)
- IDEMPOTENCY: https://resend.com/docs/dashboard/emails/idempotency-keys (the
  Idempotency-Key header, 256 characters at most, 24 hours)
- INLINE: https://resend.com/docs/dashboard/emails/embed-inline-images (content_id,
  less than 128 characters)
- RATE: https://resend.com/docs/api-reference/rate-limit (retry-after, ratelimit-reset)
- ATTACHMENTS: https://resend.com/docs/dashboard/emails/attachments (40 MB after base64)
- WEBHOOK_BODY: https://resend.com/docs/dashboard/webhooks/body-parameters (events
  echo ``tags``; no headers)
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import attrs
import pytest

from proper_mail import (
    Attachment,
    ConfigError,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    ResendMailer,
    TransientDeliveryError,
    UnsupportedFeature,
    compose,
)
from proper_mail.adapters.http import Secret
from proper_mail.adapters.resend import (
    MAX_REQUEST_BYTES,
    ResendOptions,
    build_request,
    idempotency_key_of,
    parse_response,
)
from proper_mail.core.compose import inline_part
from proper_mail.core.records import Stamp

STAMP = Stamp(date=dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), token="t1")
API_KEY = "re_123456789"
OPTIONS = ResendOptions(api_key=Secret(value=API_KEY))
INVOICE = b"%PDF-1.7 invoice"
# The Node example of SEND, as a record.
DOC_MESSAGE = compose(
    stamp=STAMP,
    from_email="Acme <onboarding@resend.dev>",
    to=["delivered@resend.dev"],
    subject="hello world",
    body="it works!",
    attachments=[Attachment("invoice.pdf", INVOICE, "application/pdf")],
    headers={"X-Entity-Ref-ID": "123456789"},
    metadata={"category": "confirm_email"},
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
#: Our Message-ID's tag: base64url of "t1@resend.dev" / "t1@example.com", unpadded.
DOC_ECHO = {"name": "proper_mail_id", "value": "dDFAcmVzZW5kLmRldg"}
ECHO = {"name": "proper_mail_id", "value": "dDFAZXhhbXBsZS5jb20"}


def body_of(message: Any, options: ResendOptions = OPTIONS) -> dict[str, Any]:
    payload: dict[str, Any] = build_request(message, options).json()
    return payload


def encoded(data: object) -> bytes:
    return json.dumps(data).encode()


def message_with(**fields: Any) -> Any:
    return compose(
        stamp=STAMP,
        **{"from_email": "app@example.com", "to": "t@example.com", "body": "x", **fields},
    )


# -- build_request ------------------------------------------------------------------------


def test_the_documented_example_is_the_request() -> None:
    """SEND's example: POST /emails, Bearer key, Idempotency-Key, and the body fields."""
    request = build_request(DOC_MESSAGE, OPTIONS)

    assert request.method == "POST"
    assert request.url == "https://api.resend.com/emails"
    assert request.header("Authorization") == f"Bearer {API_KEY}"
    assert request.header("Content-Type") == "application/json"
    assert request.header("Idempotency-Key") == "t1@resend.dev"
    assert request.json() == {
        "from": "Acme <onboarding@resend.dev>",
        "to": ["delivered@resend.dev"],
        "subject": "hello world",
        "text": "it works!",
        "attachments": [
            {
                "filename": "invoice.pdf",
                "content": base64.b64encode(INVOICE).decode(),
                "content_type": "application/pdf",
            }
        ],
        "headers": {"X-Entity-Ref-ID": "123456789", "Message-ID": "<t1@resend.dev>"},
        "tags": [{"name": "category", "value": "confirm_email"}, DOC_ECHO],
    }


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        pytest.param(
            {"to": ["a@example.com", "B <b@example.com>"], "cc": ["c@example.com"]},
            {"to": ["a@example.com", "B <b@example.com>"], "cc": ["c@example.com"]},
            id="to-cc-arrays",
        ),
        pytest.param({"bcc": "x@example.com"}, {"bcc": ["x@example.com"]}, id="bcc"),
        pytest.param(
            {"reply_to": ["r1@example.com", "R 2 <r2@example.com>"]},
            {"reply_to": ["r1@example.com", "R 2 <r2@example.com>"]},
            id="reply-to",
        ),
        pytest.param(
            {"from_email": "Zoë <z@münchen.de>"},
            {"from": "Zoë <z@xn--mnchen-3ya.de>"},
            id="unicode-name-kept-idn-as-a-label",
        ),
        pytest.param(
            {"to": '"Doe, John" <j@example.com>'},
            {"to": ['"Doe, John" <j@example.com>']},
            id="punctuation-in-a-name-is-quoted",
        ),
        pytest.param(
            {"body": "<p>Hi</p>", "content_subtype": "html"},
            {"html": "<p>Hi</p>", "text": ""},
            id="html-only-opts-out-of-generated-text",
        ),
        pytest.param(
            {"body": "Hi", "alternatives": [("<p>Hi</p>", "text/html")]},
            {"html": "<p>Hi</p>", "text": "Hi"},
            id="text-and-html",
        ),
        pytest.param(
            {"tags": ["welcome", "onboarding", "welcome"]},
            {"tags": [{"name": "welcome"}, {"name": "onboarding"}, ECHO]},
            id="tags-are-names-once",
        ),
        pytest.param(
            {"metadata": {"user_id": 42, "plan": "pro-2", "note": ""}, "tags": "welcome"},
            {
                "tags": [
                    {"name": "user_id", "value": "42"},
                    {"name": "plan", "value": "pro-2"},
                    {"name": "note"},
                    {"name": "welcome"},
                    ECHO,
                ]
            },
            id="metadata-are-name-value-tags",
        ),
    ],
)
def test_fields_map_to_resend_fields(fields: dict[str, Any], expected: dict[str, Any]) -> None:
    """Each message field lands in its SEND parameter, in Resend's format."""
    body = body_of(message_with(**fields))

    assert {key: body.get(key) for key in expected} == expected


def test_our_message_id_is_a_tag_in_base64url() -> None:
    """WEBHOOK_BODY: events echo tags, not headers; the tag alphabet ([A-Za-z0-9_-]) has
    no '@' or '.', so proper_mail_id is the Message-ID (no angle brackets) in base64url."""
    tags = body_of(MESSAGE)["tags"]

    assert tags == [ECHO]
    assert base64.urlsafe_b64decode(ECHO["value"] + "==") == b"t1@example.com"


@pytest.mark.parametrize(
    ("left", "sent"),
    [
        pytest.param("x" * 180, True, id="192-characters-256-encoded"),
        pytest.param("x" * 181, False, id="193-characters-over-256"),
    ],
)
def test_a_message_id_too_long_for_a_tag_is_not_echoed(left: str, sent: bool) -> None:
    """SEND: a tag value has at most 256 characters: a longer encoded Message-ID is left
    out (the header still goes), and the message is still sent."""
    message = attrs.evolve(MESSAGE, message_id=f"<{left}@example.com>")

    body = body_of(message)

    assert ("tags" in body) is sent
    assert body["headers"]["Message-ID"] == message.message_id


def test_text_only_sends_no_html() -> None:
    """A plain-text message has text and no html."""
    body = body_of(MESSAGE)

    assert body["text"] == "Hello"
    assert "html" not in body


def test_inline_parts_carry_their_content_id() -> None:
    """INLINE: an inline part's content_id is sent as it is referenced (cid:...)."""
    logo = inline_part("logo.png", PNG, "image/png")
    message = attrs.evolve(MESSAGE, attachments=(logo,))

    assert body_of(message)["attachments"] == [
        {
            "filename": "logo.png",
            "content": base64.b64encode(PNG).decode(),
            "content_type": "image/png",
            "content_id": logo.content_id,
        }
    ]


def test_envelope_to_narrows_each_field_to_the_retried_recipients() -> None:
    """A retry to some recipients sends to those only, each in its own field."""
    message = attrs.evolve(MESSAGE, envelope_to=("b@example.com", "d@example.com"))

    body = body_of(message)

    assert (body["to"], body.get("cc"), body["bcc"]) == (
        ["b@example.com"],
        None,
        ["d@example.com"],
    )


def test_provider_options_merge_into_the_body_message_winning() -> None:
    """The mailer's options, then the message's, set top-level fields (and win over ours)."""
    message = attrs.evolve(MESSAGE, provider_options=(("resend", '{"scheduled_at": "in 1 hour"}'),))
    options = attrs.evolve(
        OPTIONS, provider_options={"scheduled_at": "tomorrow", "topic_id": "t-1", "subject": "X"}
    )

    body = body_of(message, options)

    assert (body["scheduled_at"], body["topic_id"], body["subject"]) == ("in 1 hour", "t-1", "X")


# -- the idempotency key ------------------------------------------------------------------


def test_the_idempotency_key_is_the_message_id() -> None:
    """IDEMPOTENCY: one key per message, the same on every retry: our Message-ID."""
    assert idempotency_key_of(MESSAGE) == "t1@example.com"
    assert build_request(MESSAGE, OPTIONS).header("Idempotency-Key") == "t1@example.com"


def test_a_retry_to_some_recipients_has_its_own_stable_key() -> None:
    """envelope_to changes the payload, so the key too; the same subset, the same key."""
    first = attrs.evolve(MESSAGE, envelope_to=("b@example.com", "d@example.com"))
    again = attrs.evolve(MESSAGE, envelope_to=("d@example.com", "b@example.com"))
    other = attrs.evolve(MESSAGE, envelope_to=("b@example.com",))

    key = idempotency_key_of(first)

    assert key.startswith("t1@example.com/")
    assert idempotency_key_of(again) == key
    assert idempotency_key_of(other) not in (key, "t1@example.com")


def test_a_key_over_256_characters_becomes_a_digest() -> None:
    """IDEMPOTENCY: keys are 1 to 256 characters; a longer Message-ID is hashed."""
    message = attrs.evolve(MESSAGE, message_id=f"<{'x' * 300}@example.com>")

    key = idempotency_key_of(message)

    assert key.startswith("sha256:")
    assert len(key) == len("sha256:") + 64
    assert idempotency_key_of(message) == key


# -- what Resend cannot express -----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        pytest.param({"tags": "needs space"}, "tags[0]", id="tag-with-a-space"),
        pytest.param({"tags": "x" * 257}, "tags[0]", id="tag-over-256"),
        pytest.param({"tags": "étiquette"}, "tags[0]", id="non-ascii-tag"),
        pytest.param({"metadata": {"user.id": "1"}}, "metadata['user.id']", id="key-with-a-dot"),
        pytest.param({"metadata": {"email": "a@b.c"}}, "metadata['email']", id="value-with-at"),
        pytest.param({"metadata": {"proper_mail_id": "x"}}, "metadata", id="reserved-key"),
        pytest.param({"tags": "PROPER_MAIL_ID"}, "tags", id="reserved-tag"),
        pytest.param(
            {"metadata": {"welcome": "1"}, "tags": "welcome"}, "tags[0]", id="tag-is-a-key"
        ),
        pytest.param({"to": [f"u{i}@example.com" for i in range(51)]}, "to", id="51-to"),
        pytest.param({"to": None, "bcc": "d@example.com"}, "to", id="bcc-only"),
        pytest.param({"envelope_from": "bounces@example.com"}, "envelope_from", id="envelope-from"),
        pytest.param({"to": "jörg@example.com"}, "to", id="non-ascii-local-part"),
        pytest.param(
            {"alternatives": [("BEGIN:VCALENDAR", "text/calendar")]},
            "alternatives[0]",
            id="calendar-part",
        ),
        pytest.param(
            {"body": "a", "alternatives": [("b", "text/plain")]},
            "alternatives[0]",
            id="two-text-bodies",
        ),
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
        pytest.param(
            {"attachments": [Attachment("a.png", PNG, "image/png", "inline", "x" * 128)]},
            "attachments[0].content_id",
            id="content-id-of-128",
        ),
    ],
)
def test_what_resend_cannot_express_is_refused(fields: dict[str, Any], field: str) -> None:
    """UnsupportedFeature names the field; nothing is dropped or rewritten silently."""
    message = message_with(**fields)

    with pytest.raises(UnsupportedFeature) as caught:
        build_request(message, OPTIONS)

    assert caught.value.field == field
    assert caught.value.provider == "resend"


def test_fifty_to_recipients_are_accepted() -> None:
    """SEND: "to" takes at most 50 addresses; 50 is fine."""
    message = message_with(to=[f"u{i}@example.com" for i in range(50)])

    assert len(body_of(message)["to"]) == 50


def test_a_request_over_forty_megabytes_is_refused_before_sending() -> None:
    """ATTACHMENTS: 40 MB after base64; over it is MessageTooLarge, unsent."""
    big = Attachment("big.bin", b"\0" * (MAX_REQUEST_BYTES * 3 // 4 + 1))

    with pytest.raises(MessageTooLarge) as caught:
        build_request(attrs.evolve(MESSAGE, attachments=(big,)), OPTIONS)

    assert caught.value.limit == MAX_REQUEST_BYTES


# -- parse_response -----------------------------------------------------------------------


def test_the_documented_success_is_sent_with_resends_id() -> None:
    """SEND's response {"id"}: every envelope recipient sent, the id as provider_id."""
    body = encoded({"id": "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"})

    result = parse_response(MESSAGE, 200, {}, body)

    assert result.accepted == ("a@example.com", "b@example.com", "c@example.com", "d@example.com")
    assert result.provider_id == "49a3999c-0ce1-4ea6-ab68-afcd6dc2e794"


def error_body(status: int, name: str, message: str) -> bytes:
    return encoded({"statusCode": status, "name": name, "message": message})


@pytest.mark.parametrize(
    ("status", "name", "headers", "error_type", "retry_after"),
    [
        pytest.param(
            400, "validation_error", {}, PermanentDeliveryError, None, id="400-validation"
        ),
        pytest.param(
            400, "invalid_idempotency_key", {}, PermanentDeliveryError, None, id="400-bad-key"
        ),
        pytest.param(401, "missing_api_key", {}, PermanentDeliveryError, None, id="401-no-key"),
        pytest.param(
            401, "restricted_api_key", {}, PermanentDeliveryError, None, id="401-restricted"
        ),
        pytest.param(403, "invalid_api_key", {}, PermanentDeliveryError, None, id="403-bad-key"),
        pytest.param(403, "validation_error", {}, PermanentDeliveryError, None, id="403-domain"),
        pytest.param(404, "not_found", {}, PermanentDeliveryError, None, id="404"),
        pytest.param(
            409,
            "invalid_idempotent_request",
            {},
            PermanentDeliveryError,
            None,
            id="409-same-key-other-payload",
        ),
        pytest.param(
            409,
            "concurrent_idempotent_requests",
            {"retry-after": "1"},
            TransientDeliveryError,
            1.0,
            id="409-same-key-in-progress",
        ),
        pytest.param(
            422, "missing_required_field", {}, PermanentDeliveryError, None, id="422-missing"
        ),
        pytest.param(422, "invalid_attachment", {}, PermanentDeliveryError, None, id="422-attach"),
        pytest.param(
            429, "rate_limit_exceeded", {"retry-after": "1"}, RateLimited, 1.0, id="429-rate"
        ),
        pytest.param(
            429,
            "daily_quota_exceeded",
            {"ratelimit-reset": "3600"},
            RateLimited,
            3600.0,
            id="429-daily-quota-waits-for-the-reset",
        ),
        pytest.param(
            429, "monthly_quota_exceeded", {}, PermanentDeliveryError, None, id="429-monthly"
        ),
        pytest.param(451, "security_error", {}, PermanentDeliveryError, None, id="451"),
        pytest.param(500, "application_error", {}, TransientDeliveryError, None, id="500-app"),
        pytest.param(
            500,
            "internal_server_error",
            {"Retry-After": "5"},
            TransientDeliveryError,
            5.0,
            id="500",
        ),
        pytest.param(413, "", {}, MessageTooLarge, None, id="413"),
    ],
)
def test_errors_are_classified_by_name_then_status(
    status: int,
    name: str,
    headers: dict[str, str],
    error_type: type[Exception],
    retry_after: float | None,
) -> None:
    """ERRORS: rate limits and the daily quota wait (RATE's headers), a key in use is
    retried, a reused key with another payload and the monthly quota are reported,
    5xx transient, other 4xx permanent."""
    with pytest.raises(error_type) as caught:
        parse_response(MESSAGE, status, headers, error_body(status, name, "words"))

    error = caught.value
    assert type(error) is error_type
    assert error.code == status  # type: ignore[attr-defined]
    assert error.retry_after == retry_after  # type: ignore[attr-defined]
    assert str(error).startswith(f"resend: HTTP {status}: ")


def test_the_errors_text_is_resends_words() -> None:
    """The error name and Resend's message are in the error."""
    body = error_body(422, "validation_error", "Invalid `to` field.")

    with pytest.raises(PermanentDeliveryError) as caught:
        parse_response(MESSAGE, 422, {}, body)

    assert str(caught.value) == "resend: HTTP 422: validation_error: Invalid `to` field."


def test_a_proxys_html_page_is_classified_by_status() -> None:
    """A body that is not Resend's JSON: its status decides (502 transient)."""
    with pytest.raises(TransientDeliveryError, match="Bad Gateway"):
        parse_response(MESSAGE, 502, {}, b"<html>502 Bad Gateway</html>")


# -- the mailer ---------------------------------------------------------------------------


def test_the_key_is_in_no_repr_nor_error() -> None:
    """repr of the mailer, its options and its request, and a 401's text, never show the key."""
    mailer = ResendMailer(api_key=API_KEY)
    with pytest.raises(PermanentDeliveryError) as caught:
        mailer.parse_response(MESSAGE, 401, {}, error_body(401, "missing_api_key", "Missing"))

    shown = (
        repr(mailer)
        + repr(mailer.options)
        + repr(mailer.build_request(MESSAGE))
        + str(caught.value)
    )

    assert API_KEY not in shown


@pytest.mark.parametrize(
    ("options", "named"),
    [
        pytest.param({"api_key": ""}, "api_key", id="empty-key"),
        pytest.param({"api_key": None}, "api_key", id="none-key"),
        pytest.param(
            {"api_key": API_KEY, "base_url": "http://api.resend.com"}, "base_url", id="url"
        ),
        pytest.param({"api_key": API_KEY, "timeout": 0}, "timeout", id="timeout"),
        pytest.param({"api_key": API_KEY, "provider_options": []}, "provider_options", id="opts"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(
    options: dict[str, Any], named: str
) -> None:
    """A wrong option is a ConfigError that names it."""
    with pytest.raises(ConfigError, match=named):
        ResendMailer(**options)


def test_the_mailer_uses_its_base_url_and_provider_options() -> None:
    """base_url and provider_options reach the request."""
    mailer = ResendMailer(
        api_key=API_KEY, base_url="http://127.0.0.1:9/", provider_options={"topic_id": "t"}
    )

    request = mailer.build_request(MESSAGE)

    assert request.url == "http://127.0.0.1:9/emails"
    assert request.json()["topic_id"] == "t"
