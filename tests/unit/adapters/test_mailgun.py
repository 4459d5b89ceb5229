"""Mailgun: build_request and parse_response against Mailgun's documented examples.

Sources (read 2026-12):
- Messages API (form and MIME endpoints, fields, 200/400/401/429/500 examples):
  https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages
  (the same OpenAPI file: github.com/mailgun/mailgun-mcp-server src/openapi.yaml)
- Attachments and inline images (``inline=@email.jpg`` referenced as ``cid:email.jpg``):
  https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/send-attachments
- Attaching metadata (X-Mailgun-Variables; echoed as ``user-variables`` in webhook
  payloads and events): the same send-attachments page
- Tags (at most 3 per message, ASCII, 128 characters):
  https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/track-tagging
- Response codes (400, 401, 402, 403, 404, 413, 429, 5xx):
  https://documentation.mailgun.com/docs/mailgun/quickstart-guide/responses
  https://documentation.mailgun.com/docs/mailgun/api-reference/api-overview
"""

from __future__ import annotations

import base64
import datetime as dt
import email.parser
import email.policy
from typing import Any

import attrs
import pytest

from proper_mail import (
    Address,
    Alternative,
    Attachment,
    ConfigError,
    MailgunMailer,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
    UnsupportedFeature,
    to_bytes,
)
from proper_mail.adapters.http import Secret
from proper_mail.adapters.mailgun import (
    MAILGUN_EU_URL,
    FormPart,
    MailgunOptions,
    build_request,
    encode_form,
    form_problem,
    parse_response,
)
from proper_mail.core.compose import compose
from proper_mail.core.records import Stamp
from tests.multipart_form import Field, parse_form, values

STAMP = Stamp(dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), "mg1")
OPTIONS = MailgunOptions(
    api_key=Secret("key-3ax6xnjp29jd6fds4gc373sgvjxteol0"), domain="mg.example.com"
)
BOUNDARY = "pm-test-boundary"
JPEG = b"\xff\xd8\xff\xe0fake jpeg\r\n--not-the-boundary\xff\xd9"
# The documented examples, as one Message: a text and html message with two files, an
# inline image referenced as cid:email.jpg, and two tags.
MESSAGE = compose(
    stamp=STAMP,
    from_email="Excited User <mailgun@mg.example.com>",
    to=["baz@example.com", "Bar <bar@example.com>"],
    cc="cc@example.com",
    bcc="bcc@example.com",
    subject="Hello",
    body="Testing some Mailgun awesomeness!",
    alternatives=[("<html>HTML version of the body <img src='cid:email.jpg'></html>", "text/html")],
    attachments=[
        Attachment("tps-report.txt", b"TPS report\n", "text/plain"),
        Attachment("cover-letter.txt", b"Cover letter\n", "text/plain"),
        Attachment("email.jpg", JPEG, "image/jpeg", "inline", "email.jpg"),
    ],
    tags=["September newsletter", "newsletters"],
)
RESPONSE = (
    b'{"id": "<20111114174239.25659.5817@samples.mailgun.org>", "message": "Queued. Thank you."}'
)


def form_of(message: Any, options: MailgunOptions = OPTIONS) -> tuple[str, list[Field]]:
    request = build_request(message, options, boundary=BOUNDARY)
    content_type = request.header("Content-Type")
    assert content_type == f"multipart/form-data; boundary={BOUNDARY}"
    return request.url, parse_form(request.body, content_type)


def test_the_documented_message_goes_to_the_form_api() -> None:
    """Fields as in the documented curl examples: repeated to, attachment and o:tag."""
    request = build_request(MESSAGE, OPTIONS, boundary=BOUNDARY)
    fields = parse_form(request.body, request.header("Content-Type") or "")

    assert request.method == "POST"
    assert request.url == "https://api.mailgun.net/v3/mg.example.com/messages"
    credentials = base64.b64encode(b"api:key-3ax6xnjp29jd6fds4gc373sgvjxteol0").decode()
    assert request.header("Authorization") == f"Basic {credentials}"
    assert [(f.name, f.filename, f.content_type) for f in fields] == [
        ("from", None, None),
        ("to", None, None),
        ("to", None, None),
        ("cc", None, None),
        ("bcc", None, None),
        ("subject", None, None),
        ("text", None, None),
        ("html", None, None),
        ("h:Message-Id", None, None),
        ("attachment", "tps-report.txt", "text/plain"),
        ("attachment", "cover-letter.txt", "text/plain"),
        ("inline", "email.jpg", "image/jpeg"),
        ("o:tag", None, None),
        ("o:tag", None, None),
        ("h:X-Mailgun-Variables", None, None),
    ]
    assert values(fields, "from") == ["Excited User <mailgun@mg.example.com>"]
    assert values(fields, "to") == ["baz@example.com", "Bar <bar@example.com>"]
    assert values(fields, "text") == ["Testing some Mailgun awesomeness!"]
    assert values(fields, "o:tag") == ["September newsletter", "newsletters"]
    assert values(fields, "h:Message-Id") == ["<mg1@mg.example.com>"]
    assert values(fields, "h:X-Mailgun-Variables") == ['{"proper_mail_id": "mg1@mg.example.com"}']
    assert fields[11].data == JPEG


def test_the_eu_region_is_a_base_url() -> None:
    """EU domains post to api.eu.mailgun.net."""
    url, _ = form_of(MESSAGE, attrs.evolve(OPTIONS, base_url=MAILGUN_EU_URL))

    assert url == "https://api.eu.mailgun.net/v3/mg.example.com/messages"


@pytest.mark.parametrize(
    ("change", "name", "expected"),
    [
        pytest.param(
            {"from_email": Address.parse('"Doe, Zoë" <zoe@münchen.de>')},
            "from",
            ['"Doe, Zoë" <zoe@xn--mnchen-3ya.de>'],
            id="quoted-name-idna-domain",
        ),
        pytest.param(
            {"reply_to": (Address.parse("a@example.com"), Address.parse("B <b@example.com>"))},
            "h:Reply-To",
            ["a@example.com, B <b@example.com>"],
            id="reply-to-header",
        ),
        pytest.param(
            {"headers": (("X-Campaign", "spring"), ("X-Greeting", "Grüße"))},
            "h:X-Greeting",
            ["=?utf-8?b?R3LDvMOfZQ==?="],
            id="custom-headers-encoded",
        ),
        pytest.param(
            {"metadata": (("order", "123"), ("user", "zoë"))},
            "h:X-Mailgun-Variables",
            ['{"order": "123", "user": "zoë", "proper_mail_id": "mg1@mg.example.com"}'],
            id="metadata-then-our-message-id-as-variables",
        ),
        pytest.param(
            {"tags": ("a", "A", "b")},
            "o:tag",
            ["a", "A", "b"],
            id="tags-as-given",
        ),
        pytest.param(
            {"body": "", "content_subtype": "plain"},
            "text",
            [],
            id="empty-text-left-out",
        ),
        pytest.param(
            {"attachments": (Attachment("logo.png", b"png", "image/png", "inline"),)},
            "inline",
            ["png"],
            id="inline-without-cid",
        ),
    ],
)
def test_field_mapping(change: dict[str, Any], name: str, expected: list[str]) -> None:
    """Each Message field lands in its documented Mailgun field."""
    _, fields = form_of(attrs.evolve(MESSAGE, **change))

    assert values(fields, name) == expected


def test_our_message_id_is_left_out_rather_than_passing_16kb() -> None:
    """o:, h:, v: and t: fields hold 16 KB: metadata that fits alone is sent without our
    Message-ID variable (the h:Message-Id header still goes) rather than refused."""
    metadata = (("k", "v" * (16 * 1024 - 120)),)  # 16 bytes under with the other fields

    _, fields = form_of(attrs.evolve(MESSAGE, metadata=metadata))

    assert values(fields, "h:X-Mailgun-Variables") == [f'{{"k": "{metadata[0][1]}"}}']
    assert values(fields, "h:Message-Id") == ["<mg1@mg.example.com>"]


def test_test_mode_is_o_testmode() -> None:
    """test_mode=True adds o:testmode=yes."""
    _, fields = form_of(MESSAGE, attrs.evolve(OPTIONS, test_mode=True))

    assert values(fields, "o:testmode") == ["yes"]


def test_provider_options_replace_and_add_fields() -> None:
    """Options become fields (lists repeat, booleans yes/no, objects JSON, None removes);
    a message's options win over the mailer's, and replace our fields of that name."""
    options = attrs.evolve(
        OPTIONS, provider_options={"o:tracking": False, "o:tag": ["mailer"], "o:dkim": "yes"}
    )
    message = attrs.evolve(
        MESSAGE,
        provider_options=(
            ("mailgun", '{"o:tag": ["x", "y"], "t:variables": {"a": 1}, "o:dkim": null}'),
        ),
    )

    _, fields = form_of(message, options)

    assert values(fields, "o:tracking") == ["no"]
    assert values(fields, "o:tag") == ["x", "y"]
    assert values(fields, "t:variables") == ['{"a": 1}']
    assert values(fields, "o:dkim") == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param(
            {"envelope_to": ("bar@example.com",)}, "envelope_to", id="subset-of-recipients"
        ),
        pytest.param({"to": ()}, "to", id="bcc-without-to"),
        pytest.param(
            {"alternatives": (Alternative("BEGIN:VCALENDAR", "text/calendar"),)},
            "alternatives",
            id="calendar-part",
        ),
        pytest.param(
            {"alternatives": (Alternative("a", "text/html"), Alternative("b", "text/html"))},
            "alternatives",
            id="two-html-parts",
        ),
        pytest.param({"body": "", "alternatives": ()}, "body", id="no-text"),
        pytest.param(
            {"attachments": (Attachment("", b"x", "text/plain"),)},
            "attachments[0].filename",
            id="file-without-name",
        ),
        pytest.param(
            {"attachments": (Attachment("logo.png", b"x", "image/png", "inline", "logo@x"),)},
            "attachments[0].content_id",
            id="cid-not-the-filename",
        ),
    ],
)
def test_form_problem_names_what_needs_mime(change: dict[str, Any], field: str) -> None:
    """What the form API cannot send faithfully, by field."""
    problem = form_problem(attrs.evolve(MESSAGE, **change))

    assert problem is not None
    assert problem[0] == field


def test_the_documented_message_has_no_form_problem() -> None:
    """Text, html, files, an inline image named by its cid: the form API suffices."""
    assert form_problem(MESSAGE) is None


def test_a_message_the_form_cannot_express_goes_as_mime() -> None:
    """mime=None: our MIME to messages.mime, the envelope (bcc included) as to."""
    message = attrs.evolve(
        MESSAGE, attachments=(Attachment("logo.png", JPEG, "image/jpeg", "inline", "logo@x"),)
    )

    url, fields = form_of(message)

    assert url == "https://api.mailgun.net/v3/mg.example.com/messages.mime"
    assert [f.name for f in fields] == ["to"] * 4 + [
        "message",
        "o:tag",
        "o:tag",
        "h:X-Mailgun-Variables",
    ]
    assert values(fields, "h:X-Mailgun-Variables") == ['{"proper_mail_id": "mg1@mg.example.com"}']
    assert values(fields, "to") == [
        "baz@example.com",
        "bar@example.com",
        "cc@example.com",
        "bcc@example.com",
    ]
    (mime,) = [f for f in fields if f.name == "message"]
    assert (mime.filename, mime.content_type) == ("message.mime", "message/rfc822")
    assert mime.data == to_bytes(message)
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(mime.data)
    assert "Bcc" not in parsed
    assert parsed["Message-ID"] == "<mg1@mg.example.com>"


def test_a_subset_retry_goes_to_that_subset_only() -> None:
    """envelope_to: messages.mime, whose to is the envelope; the MIME still shows all."""
    message = attrs.evolve(MESSAGE, envelope_to=("bar@example.com", "bcc@example.com"))

    url, fields = form_of(message)

    assert url.endswith("/messages.mime")
    assert values(fields, "to") == ["bar@example.com", "bcc@example.com"]
    mime = next(f for f in fields if f.name == "message").data
    assert b"To: baz@example.com, Bar <bar@example.com>" in mime


def test_mime_true_always_sends_mime() -> None:
    """mime=True: even a message the form API could send."""
    url, fields = form_of(MESSAGE, attrs.evolve(OPTIONS, mime=True, test_mode=True))

    assert url.endswith("/messages.mime")
    assert values(fields, "o:testmode") == ["yes"]


def test_mime_false_renames_an_inline_part_to_its_content_id() -> None:
    """mime=False: Mailgun's Content-ID is the filename, so the part is named logo@x."""
    message = attrs.evolve(
        MESSAGE, attachments=(Attachment("logo.png", JPEG, "image/jpeg", "inline", "logo@x"),)
    )

    url, fields = form_of(message, attrs.evolve(OPTIONS, mime=False))

    assert url.endswith("/messages")
    assert [(f.name, f.filename, f.data) for f in fields if f.filename] == [
        ("inline", "logo@x", JPEG)
    ]


def test_mime_false_refuses_what_the_form_cannot_express() -> None:
    """mime=False: a subset retry is an UnsupportedFeature naming envelope_to."""
    message = attrs.evolve(MESSAGE, envelope_to=("bar@example.com",))

    with pytest.raises(UnsupportedFeature) as caught:
        build_request(message, attrs.evolve(OPTIONS, mime=False), boundary=BOUNDARY)

    assert caught.value.field == "envelope_to"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        pytest.param({"tags": ("a", "b", "c", "d")}, "tags", id="4-tags"),
        pytest.param({"tags": ("x" * 129,)}, "tags", id="tag-over-128"),
        pytest.param({"tags": ("café",)}, "tags", id="non-ascii-tag"),
        pytest.param(
            {"to": (Address("", "jörg", "example.com"),)}, "to", id="non-ascii-local-part"
        ),
        pytest.param(
            {"envelope_from": Address.parse("bounces@example.com")},
            "envelope_from",
            id="envelope_from",
        ),
        pytest.param({"metadata": (("k", "v" * 17_000),)}, "headers", id="options-over-16kb"),
        pytest.param({"metadata": (("Proper_Mail_ID", "x"),)}, "metadata", id="reserved-key"),
        pytest.param(
            {"bcc": tuple(Address("", f"u{i}", "example.com") for i in range(1000))},
            "to",
            id="over-1000-recipients",
        ),
    ],
)
@pytest.mark.parametrize("mime", [None, True, False])
def test_what_mailgun_cannot_express_is_refused(
    change: dict[str, Any], field: str, mime: bool | None
) -> None:
    """UnsupportedFeature names the field, whichever endpoint."""
    with pytest.raises(UnsupportedFeature) as caught:
        build_request(
            attrs.evolve(MESSAGE, **change), attrs.evolve(OPTIONS, mime=mime), boundary=BOUNDARY
        )

    assert caught.value.field == field
    assert caught.value.provider == "mailgun"


# -- multipart/form-data --------------------------------------------------------------


def test_encode_form_is_read_back_by_the_stdlib_parser() -> None:
    """An independent reader (the stdlib email parser) gets the same names, files, bytes."""
    parts = [
        FormPart("to", "a@example.com"),
        FormPart("to", "b@example.com"),
        FormPart("attachment", b"\x00\x01binary\r\n", 'say "hi" \\ x.bin', "application/pdf"),
    ]

    body = encode_form(parts, "b0undary")

    head = b"Content-Type: multipart/form-data; boundary=b0undary\r\n\r\n"
    parsed = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    read = [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_payload(decode=True),
        )
        for part in parsed.iter_parts()
    ]
    assert read == [
        ("to", None, b"a@example.com"),
        ("to", None, b"b@example.com"),
        ("attachment", 'say "hi" \\ x.bin', b"\x00\x01binary\r\n"),
    ]


def test_encode_form_keeps_utf8_filenames() -> None:
    """A non-ASCII filename goes as UTF-8 in the quoted string (RFC 7578, 4.2)."""
    body = encode_form([FormPart("attachment", b"x", "Grüße.txt", "text/plain")], "b")

    assert 'filename="Grüße.txt"'.encode() in body
    assert parse_form(body, "multipart/form-data; boundary=b")[0].filename == "Grüße.txt"


@pytest.mark.parametrize("boundary", ["", "has space", "x" * 71, "semi;colon"])
def test_encode_form_refuses_a_bad_boundary(boundary: str) -> None:
    """RFC 2046 boundaries only."""
    with pytest.raises(ValueError, match="boundary"):
        encode_form([FormPart("a", "b")], boundary)


def test_encode_form_refuses_a_boundary_found_in_a_part() -> None:
    """A boundary that occurs in the data would cut the part: draw another."""
    with pytest.raises(ValueError, match="draw another"):
        encode_form([FormPart("a", b"x\r\n--abc\r\n")], "abc")


def test_each_request_has_its_own_boundary() -> None:
    """The mailer draws a fresh boundary per request (randomness at the shell)."""
    mailer = MailgunMailer(api_key="k", domain="mg.example.com")

    first, second = mailer.build_request(MESSAGE), mailer.build_request(MESSAGE)

    assert first.header("Content-Type") != second.header("Content-Type")


# -- responses ------------------------------------------------------------------------


def test_200_queues_every_envelope_recipient() -> None:
    """200 "Queued. Thank you.": every recipient queued, provider_id the id."""
    result = parse_response(MESSAGE, 200, {"Content-Type": "application/json"}, RESPONSE)

    assert result.provider_id == "<20111114174239.25659.5817@samples.mailgun.org>"
    assert [(r.address, r.status, r.code) for r in result.recipients] == [
        ("baz@example.com", "queued", 200),
        ("bar@example.com", "queued", 200),
        ("cc@example.com", "queued", 200),
        ("bcc@example.com", "queued", 200),
    ]


@pytest.mark.parametrize(
    ("status", "body", "error_type", "text"),
    [
        (
            400,
            b'{"message": "to parameter is not a valid address. please check documentation"}',
            PermanentDeliveryError,
            "to parameter is not a valid address",
        ),
        (
            400,
            b"{\"message\": \"Need at least one of 'text', 'html', 'amp-html' or 'template' "
            b'parameters specified"}',
            PermanentDeliveryError,
            "Need at least one of",
        ),
        (401, b"Forbidden", PermanentDeliveryError, "HTTP 401: Forbidden"),
        (401, b'"Forbidden"', PermanentDeliveryError, "HTTP 401: Forbidden"),
        (402, b'{"message": "Request failed"}', PermanentDeliveryError, "Request failed"),
        (
            403,
            b'{"message": "Domain mg.example.com is not allowed"}',
            PermanentDeliveryError,
            "not allowed",
        ),
        (
            404,
            b'{"message": "Domain not found: mg.example.com"}',
            PermanentDeliveryError,
            "Domain not found",
        ),
        (413, b'{"message": "Request Entity Too Large"}', MessageTooLarge, "Too Large"),
        (
            429,
            b'{"message": "Domain example.com is not allowed to send: account-requests-per-sec '
            b'limit exceeded, try again after 120 seconds"}',
            RateLimited,
            "limit exceeded",
        ),
        (500, b'{"message": "Internal Server Error"}', TransientDeliveryError, "Internal"),
        (502, b"<html>Bad Gateway</html>", TransientDeliveryError, "Bad Gateway"),
        (503, b"", TransientDeliveryError, "no detail"),
        (504, b"", TransientDeliveryError, "HTTP 504"),
    ],
)
def test_documented_errors_are_classified(
    status: int, body: bytes, error_type: type[Exception], text: str
) -> None:
    """4xx permanent (413 too large), 429 rate limited, 5xx transient; Mailgun's words kept."""
    with pytest.raises(error_type) as caught:
        parse_response(MESSAGE, status, {}, body)

    assert type(caught.value) is error_type
    assert text in str(caught.value)
    assert str(caught.value).startswith(f"mailgun: HTTP {status}")


def test_a_429_waits_as_its_message_says() -> None:
    """ "try again after 120 seconds" is the retry_after when there is no Retry-After."""
    body = b'{"message": "limit exceeded, try again after 120 seconds"}'

    with pytest.raises(RateLimited) as caught:
        parse_response(MESSAGE, 429, {}, body)

    assert caught.value.retry_after == 120.0


def test_retry_after_wins_over_the_message() -> None:
    """A Retry-After header is honoured as is."""
    body = b'{"message": "try again after 120 seconds"}'

    with pytest.raises(RateLimited) as caught:
        parse_response(MESSAGE, 429, {"retry-after": "3"}, body)

    assert caught.value.retry_after == 3.0


# -- the mailer -----------------------------------------------------------------------


def test_the_key_never_shows() -> None:
    """Not in the mailer's repr, the request's repr, nor a 401's text."""
    mailer = MailgunMailer(api_key="key-very-secret", domain="mg.example.com")
    request = mailer.build_request(MESSAGE)

    with pytest.raises(PermanentDeliveryError) as caught:
        mailer.parse_response(MESSAGE, 401, {}, b"Forbidden")

    encoded = base64.b64encode(b"api:key-very-secret").decode()
    shown = repr(mailer) + repr(request) + str(caught.value) + repr(mailer.options)
    assert "key-very-secret" not in shown
    assert encoded not in shown


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"domain": "mg.example.com"}, "api_key"),
        ({"api_key": "", "domain": "mg.example.com"}, "api_key"),
        ({"api_key": "k"}, "domain"),
        ({"api_key": "k", "domain": ""}, "domain"),
        ({"api_key": "k", "domain": "mg.example.com/../x"}, "domain"),
        ({"api_key": "k", "domain": "mg.example.com", "test_mode": "yes"}, "test_mode"),
        ({"api_key": "k", "domain": "mg.example.com", "mime": "auto"}, "mime"),
        ({"api_key": "k", "domain": "mg.example.com", "base_url": "http://x.test"}, "base_url"),
    ],
)
def test_bad_options_are_config_errors(options: dict[str, Any], named: str) -> None:
    """A wrong or missing option is a ConfigError naming it (never showing the key)."""
    with pytest.raises((ConfigError, TypeError), match=named):
        MailgunMailer(**options)


def test_the_domain_is_normalised() -> None:
    """An IDN sending domain goes in the URL as A-labels."""
    mailer = MailgunMailer(api_key="k", domain="Mail.München.de")

    assert mailer.build_request(MESSAGE).url == (
        "https://api.mailgun.net/v3/mail.xn--mnchen-3ya.de/messages"
    )
