"""SendGrid: build_request and parse_response against SendGrid's documented examples.

Sources (read 2026-12):
- Mail Send request body and its examples (MailSendNoTemplate), 202 and error responses:
  https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
  (the same OpenAPI file: github.com/twilio/sendgrid-oai spec/yaml/tsg_mail_v3.yaml)
- Limitations (recipient names with "," or ";", 1000 recipients, custom_args size):
  https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send#limitations
- Parameter-level errors (reserved headers, categories, content order, attachments):
  https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors
- X-Message-Id: https://www.twilio.com/docs/sendgrid/glossary/x-message-id
- Event Webhook (custom_args come back at the top level of every event):
  https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
"""

from __future__ import annotations

import base64
import datetime as dt
import pickle
from typing import Any

import attrs
import pytest

from proper_mail import (
    Address,
    Alternative,
    Attachment,
    ConfigError,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    SendGridMailer,
    TransientDeliveryError,
    UnsupportedFeature,
)
from proper_mail.adapters.http import Secret
from proper_mail.adapters.sendgrid import (
    SENDGRID_EU_URL,
    SendGridOptions,
    build_request,
    parse_response,
)
from proper_mail.core.compose import compose
from proper_mail.core.records import Stamp

STAMP = Stamp(dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), "sg1")
OPTIONS = SendGridOptions(api_key=Secret("SG.test-key"))
INDEX_HTML = base64.b64decode(
    "PCFET0NUWVBFIGh0bWw+CjxodG1sIGxhbmc9ImVuIj4KCiAgICA8aGVhZD4KICAgICAgICA8bWV0YSBjaGFyc2V0"
    "PSJVVEYtOCI+CiAgICAgICAgPG1ldGEgaHR0cC1lcXVpdj0iWC1VQS1Db21wYXRpYmxlIiBjb250ZW50PSJJRT1l"
    "ZGdlIj4KICAgICAgICA8bWV0YSBuYW1lPSJ2aWV3cG9ydCIgY29udGVudD0id2lkdGg9ZGV2aWNlLXdpZHRoLCBp"
    "bml0aWFsLXNjYWxlPTEuMCI+CiAgICAgICAgPHRpdGxlPkRvY3VtZW50PC90aXRsZT4KICAgIDwvaGVhZD4KCiAg"
    "ICA8Ym9keT4KCiAgICA8L2JvZHk+Cgo8L2h0bWw+Cg=="
)
HTML = (
    "<p>Hello from Twilio SendGrid!</p><p>Sending with the email service trusted by "
    "developers and marketers for <strong>time-savings</strong>, <strong>scalability"
    "</strong>, and <strong>delivery expertise</strong>.</p><p>%open-track%</p>"
)
# The first personalization of the documented MailSendNoTemplate example, as a Message.
MESSAGE = compose(
    stamp=STAMP,
    from_email="Example Order Confirmation <orders@example.com>",
    to=["Alex <alex@example.com>", "Bola <bola@example.com>"],
    cc="Charlie <charlie@example.com>",
    bcc="Dana <dana@example.com>",
    reply_to="Example Customer Service Team <customer_service@example.com>",
    subject="Your Example Order Confirmation",
    body=HTML,
    content_subtype="html",
    attachments=[Attachment("index.html", INDEX_HTML, "text/html")],
    tags=["cake", "pie", "baking"],
)
# The documented example's settings that have no Message field: the escape hatch.
DOCUMENTED_EXTRAS: dict[str, Any] = {
    "send_at": 1617260400,
    "batch_id": "AsdFgHjklQweRTYuIopzXcVBNm0aSDfGHjklmZcVbNMqWert1znmOP2asDFjkl",
    "asm": {"group_id": 12345, "groups_to_display": [12345]},
    "ip_pool_name": "transactional email",
    "mail_settings": {
        "bypass_list_management": {"enable": False},
        "footer": {"enable": False},
        "sandbox_mode": {"enable": False},
    },
    "tracking_settings": {
        "click_tracking": {"enable": True, "enable_text": False},
        "open_tracking": {"enable": True, "substitution_tag": "%open-track%"},
        "subscription_tracking": {"enable": False},
    },
}
DOCUMENTED_BODY: dict[str, Any] = {
    "personalizations": [
        {
            "to": [
                {"email": "alex@example.com", "name": "Alex"},
                {"email": "bola@example.com", "name": "Bola"},
            ],
            "cc": [{"email": "charlie@example.com", "name": "Charlie"}],
            "bcc": [{"email": "dana@example.com", "name": "Dana"}],
        }
    ],
    "from": {"email": "orders@example.com", "name": "Example Order Confirmation"},
    "reply_to": {"email": "customer_service@example.com", "name": "Example Customer Service Team"},
    "subject": "Your Example Order Confirmation",
    "content": [{"type": "text/html", "value": HTML}],
    "attachments": [
        {
            "content": base64.b64encode(INDEX_HTML).decode(),
            "filename": "index.html",
            "type": "text/html",
            "disposition": "attachment",
        }
    ],
    "categories": ["cake", "pie", "baking"],
    **DOCUMENTED_EXTRAS,
    "headers": {"Message-ID": "<sg1@example.com>"},
    "custom_args": {"proper_mail_id": "sg1@example.com"},
}


def body_of(message: Any, options: SendGridOptions = OPTIONS) -> Any:
    return build_request(message, options).json()


def test_the_documented_example_is_built_exactly() -> None:
    """MailSendNoTemplate's first personalization, its settings given as provider options,
    comes out as the documented body (plus our Message-ID, as a header and a custom arg)."""
    options = attrs.evolve(OPTIONS, provider_options=DOCUMENTED_EXTRAS)

    request = build_request(MESSAGE, options)

    assert request.method == "POST"
    assert request.url == "https://api.sendgrid.com/v3/mail/send"
    assert request.header("Authorization") == "Bearer SG.test-key"
    assert request.header("Content-Type") == "application/json"
    assert request.json() == DOCUMENTED_BODY


def test_the_eu_region_is_a_base_url() -> None:
    """EU accounts post to api.eu.sendgrid.com."""
    request = build_request(MESSAGE, attrs.evolve(OPTIONS, base_url=SENDGRID_EU_URL))

    assert request.url == "https://api.eu.sendgrid.com/v3/mail/send"


@pytest.mark.parametrize(
    ("change", "key", "expected"),
    [
        pytest.param(
            {"content_subtype": "plain", "body": "Hi", "alternatives": ()},
            "content",
            [{"type": "text/plain", "value": "Hi"}],
            id="text-only",
        ),
        pytest.param(
            {"alternatives": (Alternative("Hi", "text/plain"),)},
            "content",
            [{"type": "text/plain", "value": "Hi"}, {"type": "text/html", "value": HTML}],
            id="text/plain-first",
        ),
        pytest.param(
            {
                "content_subtype": "plain",
                "body": "Hi",
                "alternatives": (
                    Alternative("BEGIN:VCALENDAR", "text/calendar"),
                    Alternative("<p>Hi</p>", "text/html"),
                ),
            },
            "content",
            [
                {"type": "text/plain", "value": "Hi"},
                {"type": "text/html", "value": "<p>Hi</p>"},
                {"type": "text/calendar", "value": "BEGIN:VCALENDAR"},
            ],
            id="plain-html-then-others",
        ),
        pytest.param(
            {"body": "", "alternatives": (Alternative("Hi", "text/plain"),)},
            "content",
            [{"type": "text/plain", "value": "Hi"}],
            id="empty-part-left-out",
        ),
        pytest.param(
            {"reply_to": (Address.parse("a@example.com"), Address.parse("B <b@example.com>"))},
            "reply_to_list",
            [{"email": "a@example.com"}, {"email": "b@example.com", "name": "B"}],
            id="reply_to_list",
        ),
        pytest.param(
            {"reply_to": (Address.parse("a@example.com"), Address.parse("A <A@example.com>"))},
            "reply_to",
            {"email": "a@example.com"},
            id="reply_to-once",
        ),
        pytest.param(
            {"from_email": Address.parse("Zoë <zoe@münchen.de>")},
            "from",
            {"email": "zoe@xn--mnchen-3ya.de", "name": "Zoë"},
            id="idna-domain-unicode-name",
        ),
        pytest.param(
            {"to": (Address.parse('"Doe, Jane" <jane@example.com>'),), "cc": (), "bcc": ()},
            "personalizations",
            [{"to": [{"email": "jane@example.com", "name": '"Doe, Jane"'}]}],
            id="name-with-comma-quoted",
        ),
        pytest.param(
            {"to": (Address.parse('"a;\\"b" <j@example.com>'),), "cc": (), "bcc": ()},
            "personalizations",
            [{"to": [{"email": "j@example.com", "name": '"a;\\"b"'}]}],
            id="name-with-semicolon-and-quote",
        ),
        pytest.param(
            {"cc": (Address.parse("ALEX <alex@example.com>"),), "bcc": ()},
            "personalizations",
            [
                {
                    "to": [
                        {"email": "alex@example.com", "name": "Alex"},
                        {"email": "bola@example.com", "name": "Bola"},
                    ]
                }
            ],
            id="duplicate-sent-once-where-first",
        ),
        pytest.param(
            {"headers": (("X-Campaign", "spring"), ("List-Unsubscribe", "<https://x.test/u>"))},
            "headers",
            {
                "X-Campaign": "spring",
                "List-Unsubscribe": "<https://x.test/u>",
                "Message-ID": "<sg1@example.com>",
            },
            id="headers-and-message-id",
        ),
        pytest.param(
            {"headers": (("X-Greeting", "Grüße"),)},
            "headers",
            {"X-Greeting": "=?utf-8?b?R3LDvMOfZQ==?=", "Message-ID": "<sg1@example.com>"},
            id="non-ascii-header-encoded",
        ),
        pytest.param(
            {"tags": ("a", "b", "a")},
            "categories",
            ["a", "b"],
            id="categories-once-each",
        ),
        pytest.param(
            {"metadata": (("order", "123"), ("user", "zoë"))},
            "custom_args",
            {"order": "123", "user": "zoë", "proper_mail_id": "sg1@example.com"},
            id="metadata-then-our-message-id-as-custom_args",
        ),
        pytest.param(
            {
                "attachments": (
                    Attachment("logo.png", b"\x89PNG\r\n", "image/png", "inline", "logo@x"),
                )
            },
            "attachments",
            [
                {
                    "content": "iVBORw0K",
                    "type": "image/png",
                    "filename": "logo.png",
                    "disposition": "inline",
                    "content_id": "logo@x",
                }
            ],
            id="inline-cid-image",
        ),
    ],
)
def test_field_mapping(change: dict[str, Any], key: str, expected: Any) -> None:
    """Each Message field lands in its documented SendGrid field."""
    body = body_of(attrs.evolve(MESSAGE, **change))

    assert body[key] == expected


def test_no_optional_fields_when_the_message_has_none() -> None:
    """A bare message sends no reply_to, attachments or categories; custom_args hold
    our Message-ID alone."""
    message = compose(stamp=STAMP, from_email="a@example.com", to="b@example.com", subject="S")
    message = attrs.evolve(message, body="x")

    body = body_of(message)

    assert set(body) == {"personalizations", "from", "subject", "content", "headers", "custom_args"}
    assert body["custom_args"] == {"proper_mail_id": message.message_id.strip("<>")}


def test_our_message_id_is_left_out_rather_than_passing_10000_bytes() -> None:
    """Limitations: custom_args stay under 10,000 bytes: metadata that fits alone is
    sent without our Message-ID (the header still goes) rather than refused."""
    metadata = (("k", "v" * (10_000 - 40)),)

    body = body_of(attrs.evolve(MESSAGE, metadata=metadata))

    assert body["custom_args"] == dict(metadata)
    assert body["headers"]["Message-ID"] == "<sg1@example.com>"


def test_sandbox_sets_mail_settings() -> None:
    """sandbox=True is mail_settings.sandbox_mode.enable (merged with the options')."""
    options = SendGridOptions(
        api_key=Secret("k"),
        sandbox=True,
        provider_options={"mail_settings": {"footer": {"enable": False}}},
    )

    body = body_of(MESSAGE, options)

    assert body["mail_settings"] == {
        "sandbox_mode": {"enable": True},
        "footer": {"enable": False},
    }


def test_provider_options_merge_message_over_mailer() -> None:
    """The message's options replace the mailer's of the same name (key by key)."""
    options = attrs.evolve(
        OPTIONS,
        provider_options={"ip_pool_name": "a", "tracking_settings": {"x": {"enable": True}}},
    )
    message = attrs.evolve(
        MESSAGE,
        provider_options=(
            ("sendgrid", '{"ip_pool_name": "b", "tracking_settings": {"y": {"enable": false}}}'),
            ("mailgun", '{"o:tracking": "no"}'),
        ),
    )

    body = body_of(message, options)

    assert body["ip_pool_name"] == "b"
    assert body["tracking_settings"] == {"y": {"enable": False}}
    assert "o:tracking" not in body


def test_a_subset_retry_lists_only_those_recipients() -> None:
    """envelope_to: the personalization holds the retried recipients, in their fields."""
    message = attrs.evolve(MESSAGE, envelope_to=("bola@example.com", "dana@example.com"))

    body = body_of(message)

    assert body["personalizations"] == [
        {
            "to": [{"email": "bola@example.com", "name": "Bola"}],
            "bcc": [{"email": "dana@example.com", "name": "Dana"}],
        }
    ]


def test_without_a_to_each_recipient_gets_its_own_copy() -> None:
    """No To among the recipients (a Cc/Bcc-only retry): one personalization each."""
    message = attrs.evolve(MESSAGE, envelope_to=("charlie@example.com", "dana@example.com"))

    body = body_of(message)

    assert body["personalizations"] == [
        {"to": [{"email": "charlie@example.com", "name": "Charlie"}]},
        {"to": [{"email": "dana@example.com", "name": "Dana"}]},
    ]


def test_a_bcc_only_message_sends_each_its_own_copy() -> None:
    """No To at all: SendGrid requires one, so each Bcc recipient is the To of its copy."""
    message = attrs.evolve(MESSAGE, to=(), cc=())

    body = body_of(message)

    assert body["personalizations"] == [{"to": [{"email": "dana@example.com", "name": "Dana"}]}]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"subject": ""}, "subject", id="empty-subject"),
        pytest.param({"body": "", "alternatives": ()}, "body", id="no-text"),
        pytest.param(
            {"alternatives": (Alternative("<b>2</b>", "text/html"),)},
            "alternatives",
            id="two-html-parts",
        ),
        pytest.param({"headers": (("X-SG-EID", "x"),)}, "headers", id="reserved-x-sg-eid"),
        pytest.param({"headers": (("Received", "x"),)}, "headers", id="reserved-received"),
        pytest.param(
            {"headers": (("DKIM-Signature", "x"),)}, "headers", id="reserved-dkim-signature"
        ),
        pytest.param({"headers": (("To", "x"),)}, "headers", id="reserved-to-built-by-hand"),
        pytest.param({"headers": (("X-A", "1"), ("x-a", "2"))}, "headers", id="same-header-twice"),
        pytest.param({"tags": tuple(f"t{i}" for i in range(11))}, "tags", id="11-categories"),
        pytest.param({"tags": ("x" * 256,)}, "tags", id="category-over-255"),
        pytest.param({"tags": ("café",)}, "tags", id="non-ascii-category"),
        pytest.param({"metadata": (("k", "v" * 10_000),)}, "metadata", id="custom_args-10k"),
        pytest.param({"metadata": (("proper_mail_id", "x"),)}, "metadata", id="reserved-key"),
        pytest.param(
            {"attachments": (Attachment("", b"x", "text/plain"),)},
            "attachments[0].filename",
            id="file-without-name",
        ),
        pytest.param(
            {"attachments": (Attachment("empty.txt", b"", "text/plain"),)},
            "attachments[0].content",
            id="empty-file",
        ),
        pytest.param(
            {"to": (Address("", "jörg", "example.com"),)}, "to", id="non-ascii-local-part"
        ),
        pytest.param(
            {"envelope_from": Address.parse("bounces@example.com")},
            "envelope_from",
            id="envelope_from",
        ),
        pytest.param(
            {"bcc": tuple(Address("", f"u{i}", "example.com") for i in range(1000))},
            "to",
            id="over-1000-recipients",
        ),
    ],
)
def test_what_sendgrid_cannot_express_is_refused(change: dict[str, Any], field: str) -> None:
    """UnsupportedFeature names the field; nothing is sent without it."""
    with pytest.raises(UnsupportedFeature) as caught:
        build_request(attrs.evolve(MESSAGE, **change), OPTIONS)

    assert caught.value.field == field
    assert caught.value.provider == "sendgrid"


def test_envelope_from_equal_to_from_is_fine() -> None:
    """An envelope sender that is the From address changes nothing."""
    message = attrs.evolve(MESSAGE, envelope_from=Address.parse("orders@example.com"))

    assert body_of(message)["from"]["email"] == "orders@example.com"


# -- responses ------------------------------------------------------------------------


def test_202_queues_every_envelope_recipient() -> None:
    """202 Accepted, empty body: bcc included, provider_id from X-Message-Id."""
    result = parse_response(MESSAGE, 202, {"X-Message-Id": "W5dXcqBzTnKmyGHPQ-lWTg"}, b"")

    assert result.provider_id == "W5dXcqBzTnKmyGHPQ-lWTg"
    assert [(r.address, r.status, r.code) for r in result.recipients] == [
        ("alex@example.com", "queued", 202),
        ("bola@example.com", "queued", 202),
        ("charlie@example.com", "queued", 202),
        ("dana@example.com", "queued", 202),
    ]


def test_202_reports_only_the_retried_recipients() -> None:
    """A subset retry's result covers that subset."""
    message = attrs.evolve(MESSAGE, envelope_to=("bola@example.com",))

    result = parse_response(message, 202, {"x-message-id": "id"}, b"")

    assert result.accepted == ("bola@example.com",)


def test_200_is_sandbox_mode() -> None:
    """200 means valid but not delivered (sandbox): reported so."""
    result = parse_response(MESSAGE, 200, {}, b"")

    assert result.sent
    assert {r.detail for r in result.recipients} == {"sandbox mode: validated, not delivered"}


@pytest.mark.parametrize(
    ("status", "body", "error_type", "text"),
    [
        (
            400,
            b'{"errors":[{"message":"invalid request","field":"null"}]}',
            PermanentDeliveryError,
            "HTTP 400: invalid request",
        ),
        (
            401,
            b'{"errors":[{"message":"authorization required","field":"null"}]}',
            PermanentDeliveryError,
            "authorization required",
        ),
        (
            403,
            b'{"errors":[{"message":"access forbidden","field":"null"}]}',
            PermanentDeliveryError,
            "access forbidden",
        ),
        (404, b'{"errors":[{"message":"not found"}]}', PermanentDeliveryError, "not found"),
        (
            405,
            b'{"errors":[{"message":"method not allowed"}]}',
            PermanentDeliveryError,
            "method not allowed",
        ),
        (413, b'{"errors":[{"message":"content too large"}]}', MessageTooLarge, "too large"),
        (
            415,
            b'{"errors":[{"message":"Invalid UTF8 in request"}]}',
            PermanentDeliveryError,
            "UTF8",
        ),
        (429, b'{"errors":[{"message":"too many requests"}]}', RateLimited, "too many"),
        (500, b'{"errors":[{"message":"internal server error"}]}', TransientDeliveryError, "int"),
        (503, b"<html>Service Unavailable</html>", TransientDeliveryError, "Service Unavailable"),
        (
            400,
            b'{"errors":[{"message":"The from email does not contain a valid address.",'
            b'"field":"from.email","help":"http://sendgrid.com/docs/..."}]}',
            PermanentDeliveryError,
            "from.email: The from email does not contain a valid address.",
        ),
    ],
)
def test_documented_errors_are_classified(
    status: int, body: bytes, error_type: type[Exception], text: str
) -> None:
    """4xx permanent (413 too large), 429 rate limited, 5xx transient; SendGrid's words kept."""
    with pytest.raises(error_type) as caught:
        parse_response(MESSAGE, status, {}, body)

    assert type(caught.value) is error_type
    assert text in str(caught.value)
    assert str(caught.value).startswith(f"sendgrid: HTTP {status}")


def test_retry_after_is_honoured() -> None:
    """A 429's Retry-After becomes retry_after, and survives pickling (Dramatiq)."""
    with pytest.raises(RateLimited) as caught:
        parse_response(MESSAGE, 429, {"Retry-After": "12"}, b"")

    assert caught.value.retry_after == 12.0
    assert pickle.loads(pickle.dumps(caught.value)).retry_after == 12.0


def test_a_400_about_one_recipient_rejects_that_one() -> None:
    """personalizations.0.to.1.email names Bola: rejected; the others failed with it."""
    body = (
        b'{"errors":[{"message":"Does not contain a valid address.",'
        b'"field":"personalizations.0.to.1.email",'
        b'"help":"http://sendgrid.com/docs/API_Reference/Web_API_v3/Mail/errors.html"}]}'
    )

    with pytest.raises(PermanentDeliveryError) as caught:
        parse_response(MESSAGE, 400, {}, body)

    statuses = {r.address: (r.status, r.code) for r in caught.value.recipients}
    assert statuses == {
        "alex@example.com": ("failed", 400),
        "bola@example.com": ("rejected", 400),
        "charlie@example.com": ("failed", 400),
        "dana@example.com": ("failed", 400),
    }
    assert "Does not contain a valid address" in caught.value.recipients[1].detail


# -- the mailer -----------------------------------------------------------------------


def test_the_key_never_shows() -> None:
    """Not in the mailer's repr, the request's repr, nor a 401's text."""
    mailer = SendGridMailer(api_key="SG.very-secret")
    request = mailer.build_request(MESSAGE)

    with pytest.raises(PermanentDeliveryError) as caught:
        mailer.parse_response(
            MESSAGE, 401, {}, b'{"errors":[{"message":"authorization required"}]}'
        )

    shown = repr(mailer) + repr(request) + str(caught.value) + repr(mailer.options)
    assert "SG.very-secret" not in shown
    assert request.header("authorization") == "Bearer SG.very-secret"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"api_key": ""}, "api_key"),
        ({"api_key": None}, "api_key"),
        ({"api_key": "k", "sandbox": "yes"}, "sandbox"),
        ({"api_key": "k", "base_url": "http://api.sendgrid.com"}, "base_url"),
        ({"api_key": "k", "timeout": 0}, "timeout"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], named: str) -> None:
    """A wrong or missing option is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=named):
        SendGridMailer(**options)


def test_the_mailer_passes_its_options_on() -> None:
    """sandbox, base_url and provider_options reach the request."""
    mailer = SendGridMailer(
        api_key="k",
        sandbox=True,
        base_url=SENDGRID_EU_URL,
        provider_options={"ip_pool_name": "pool"},
    )

    request = mailer.build_request(MESSAGE)

    assert request.url.startswith(SENDGRID_EU_URL)
    assert request.json()["mail_settings"] == {"sandbox_mode": {"enable": True}}
    assert request.json()["ip_pool_name"] == "pool"
