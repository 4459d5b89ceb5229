"""Amazon SES v2: build_request, parse_response, SigV4 signing and the mailer's options.

Documented shapes and answers these tests follow:

- SendEmail request, response and errors:
  https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html
  (and botocore's service model, botocore/data/sesv2/2019-09-27/service-2.json: the
  error shapes and their HTTP statuses: TooManyRequestsException 429, NotFoundException
  404, the others 400)
- Common errors (ThrottlingException, InternalFailure 500, ServiceUnavailable 503,
  signature errors): https://docs.aws.amazon.com/ses/latest/APIReference-V2/CommonErrors.html
- Throttling texts: https://docs.aws.amazon.com/ses/latest/dg/manage-sending-quotas-errors.html
- MessageTag charset: https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_MessageTag.html
- 40 MB and 50 recipients: https://docs.aws.amazon.com/ses/latest/dg/quotas.html
- Refused attachment types: https://docs.aws.amazon.com/ses/latest/dg/mime-types.html
- Headers allowed once: https://docs.aws.amazon.com/ses/latest/dg/header-fields.html
- The rest-json error code rule (x-amzn-ErrorType, then code, then __type): botocore's
  RestJSONParser.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import sys
import urllib.parse
from pathlib import Path
from typing import Any

import attrs
import pytest

from proper_mail import (
    Attachment,
    ConfigError,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    SESMailer,
    TransientDeliveryError,
    UnsupportedFeature,
    compose,
)
from proper_mail.adapters.ses import (
    MAX_RAW_BYTES,
    SESOptions,
    build_request,
    endpoint_of,
    error_code_of,
    parse_response,
    sign_request,
)
from proper_mail.core.compose import inline_part
from proper_mail.core.mime import to_bytes
from proper_mail.core.records import Stamp
from proper_mail.errors import DeliveryError
from tests.sigv4 import SignatureError, SigningKey, isolate_aws_env, verify_sigv4

STAMP = Stamp(date=dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), token="ses1")
MESSAGE = compose(
    stamp=STAMP,
    from_email="App <app@example.com>",
    to=["Ann <ann@example.org>", "bob@münchen.de"],
    cc="cid@example.org",
    bcc="dee@example.org",
    reply_to="help@example.com",
    subject="Grüße",
    body="Hello",
)
OPTIONS = SESOptions(region="eu-west-1", base_url="https://email.eu-west-1.amazonaws.com")
KEY_ID = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "FQoGZXIvYXdzEXAMPLETOKEN"
KEYS = {KEY_ID: SigningKey(SECRET)}
NOW = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)


def body_of(message: Any = MESSAGE, options: SESOptions = OPTIONS) -> dict[str, Any]:
    payload: dict[str, Any] = build_request(message, options).json()
    return payload


def sent_headers(request: Any) -> dict[str, str]:
    """The headers as httpx sends them: the request's, plus Host from the URL."""
    return {**dict(request.headers), "Host": urllib.parse.urlsplit(request.url).netloc}


def raw_of(payload: dict[str, Any]) -> bytes:
    return base64.b64decode(payload["Content"]["Raw"]["Data"], validate=True)


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """botocore's credential chain sees nothing but what the test puts there."""
    isolate_aws_env(monkeypatch, tmp_path)
    return tmp_path


# -- build_request ----------------------------------------------------------------------


def test_request_is_a_json_post_to_outbound_emails() -> None:
    """POST /v2/email/outbound-emails with a JSON body (API_SendEmail.html)."""
    request = build_request(MESSAGE, OPTIONS)

    assert request.method == "POST"
    assert request.url == "https://email.eu-west-1.amazonaws.com/v2/email/outbound-emails"
    assert request.header("content-type") == "application/json"
    assert request.header("authorization") is None  # signed later, by the mailer


def test_raw_data_is_exactly_our_mime() -> None:
    """Content.Raw.Data is base64 of to_bytes(message): the SMTP mailer's bytes."""
    payload = body_of()

    assert raw_of(payload) == to_bytes(MESSAGE)
    assert set(payload["Content"]) == {"Raw"}


def test_raw_mime_keeps_headers_reply_to_and_hides_bcc() -> None:
    """Reply-To, Cc and custom headers travel in the MIME; Bcc never does."""
    message = attrs.evolve(MESSAGE, headers=(("X-Campaign", "winter"),))

    raw = raw_of(body_of(message))

    assert b"Reply-To: help@example.com\r\n" in raw
    assert b"Cc: cid@example.org\r\n" in raw
    assert b"X-Campaign: winter\r\n" in raw
    assert b"Message-ID: <ses1@example.com>\r\n" in raw
    assert b"dee@example.org" not in raw


def test_raw_mime_carries_inline_images_and_files() -> None:
    """An inline cid image goes in multipart/related with its Content-ID; files as base64."""
    logo = inline_part("logo.png", b"\x89PNG-bytes", "image/png")
    message = attrs.evolve(
        MESSAGE,
        body='<p>Hi <img src="cid:' + str(logo.content_id) + '"></p>',
        content_subtype="html",
        attachments=(logo, Attachment("report.pdf", b"%PDF-1.7", "application/pdf")),
    )

    raw = raw_of(body_of(message))

    assert b"multipart/related" in raw
    assert f"Content-ID: <{logo.content_id}>".encode() in raw
    assert base64.b64encode(b"%PDF-1.7") in raw
    assert raw.isascii()


def test_from_email_address_is_the_bare_ascii_addr_spec() -> None:
    """FromEmailAddress is the identity SES checks: no display name, IDN as A-label."""
    message = attrs.evolve(
        MESSAGE,
        from_email=compose(stamp=STAMP, from_email="Ü <app@bücher.de>", to="a@b.co").from_email,
    )

    assert body_of(message)["FromEmailAddress"] == "app@xn--bcher-kva.de"


def test_destination_lists_every_envelope_recipient_by_field() -> None:
    """To, Cc and Bcc recipients, IDN domains as A-labels (the Destination shape's note)."""
    assert body_of()["Destination"] == {
        "ToAddresses": ["ann@example.org", "bob@xn--mnchen-3ya.de"],
        "CcAddresses": ["cid@example.org"],
        "BccAddresses": ["dee@example.org"],
    }


def test_a_recipient_in_two_fields_is_sent_once() -> None:
    """The envelope is deduplicated: an address in to and cc is one To recipient."""
    message = attrs.evolve(MESSAGE, cc=MESSAGE.to[:1], bcc=())

    assert body_of(message)["Destination"] == {
        "ToAddresses": ["ann@example.org", "bob@xn--mnchen-3ya.de"]
    }


def test_envelope_to_narrows_destination_but_not_the_headers() -> None:
    """A retry to a subset: Destination has only those, the MIME still shows everyone."""
    message = attrs.evolve(MESSAGE, envelope_to=("cid@example.org",))

    payload = body_of(message)

    assert payload["Destination"] == {"CcAddresses": ["cid@example.org"]}
    assert b"To: Ann <ann@example.org>, bob@xn--mnchen-3ya.de\r\n" in raw_of(payload)


@pytest.mark.parametrize(
    ("tags", "metadata", "expected"),
    [
        ((), (), None),
        (("welcome",), (), [{"Name": "welcome", "Value": "true"}]),
        (
            ("welcome", "onboarding-2"),
            (("user_id", "42"), ("plan", "pro_plus")),
            [
                {"Name": "user_id", "Value": "42"},
                {"Name": "plan", "Value": "pro_plus"},
                {"Name": "welcome", "Value": "true"},
                {"Name": "onboarding-2", "Value": "true"},
            ],
        ),
        ((), (("k", "v" * 256),), [{"Name": "k", "Value": "v" * 256}]),
    ],
)
def test_tags_and_metadata_become_email_tags(
    tags: tuple[str, ...], metadata: tuple[tuple[str, str], ...], expected: object
) -> None:
    """Metadata key -> tag name and value; a tag -> a tag named after it, valued "true"."""
    message = attrs.evolve(MESSAGE, tags=tags, metadata=metadata)

    assert body_of(message).get("EmailTags") == expected


def test_mailer_options_map_to_their_fields() -> None:
    """configuration_set, from_arn and the feedback forwarding options."""
    options = attrs.evolve(
        OPTIONS,
        configuration_set="transactional",
        from_arn="arn:aws:ses:eu-west-1:123456789012:identity/example.com",
        feedback_forwarding_address="bounces@example.com",
        feedback_forwarding_arn="arn:aws:ses:eu-west-1:123456789012:identity/example.com",
    )

    payload = body_of(options=options)

    assert payload["ConfigurationSetName"] == "transactional"
    assert payload["FromEmailAddressIdentityArn"].endswith(":identity/example.com")
    assert payload["FeedbackForwardingEmailAddress"] == "bounces@example.com"
    assert payload["FeedbackForwardingEmailAddressIdentityArn"].startswith("arn:aws:ses:")


def test_optional_fields_are_absent_by_default() -> None:
    """Nothing is sent that was not asked for."""
    assert set(body_of()) == {"FromEmailAddress", "Destination", "Content"}


def test_envelope_from_is_the_feedback_forwarding_address() -> None:
    """The bounce address (envelope_from) wins over the mailer's default."""
    bounce = compose(stamp=STAMP, from_email="b@bounce.example.com", to="x@y.co").from_email
    message = attrs.evolve(MESSAGE, envelope_from=bounce)
    options = attrs.evolve(OPTIONS, feedback_forwarding_address="other@example.com")

    assert body_of(message, options)["FeedbackForwardingEmailAddress"] == "b@bounce.example.com"


def test_provider_options_merge_at_the_top_level_message_winning() -> None:
    """provider_options: the mailer's, then the message's, over our own fields."""
    message = compose(
        stamp=STAMP,
        from_email="app@example.com",
        to="a@example.org",
        provider_options={"ses": {"TenantName": "t-2", "ConfigurationSetName": "bulk"}},
    )
    options = attrs.evolve(
        OPTIONS,
        configuration_set="transactional",
        provider_options={"TenantName": "t-1", "ListManagementOptions": {"ContactListName": "n"}},
    )

    payload = body_of(message, options)

    assert payload["TenantName"] == "t-2"
    assert payload["ConfigurationSetName"] == "bulk"
    assert payload["ListManagementOptions"] == {"ContactListName": "n"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"to": ("jörg@example.org",)}, "to"),
        ({"cc": ("jörg@example.org",)}, "cc"),
        ({"bcc": ("jörg@example.org",)}, "bcc"),
        ({"reply_to": ("jörg@example.org",)}, "reply_to"),
        ({"from_email": "jörg@example.org"}, "from_email"),
        ({"envelope_from": "jörg@example.org"}, "envelope_from"),
        ({"tags": ("two words",)}, "tags"),
        ({"tags": ("x" * 257,)}, "tags"),
        ({"tags": ("user_id",), "metadata": (("user_id", "1"),)}, "tags"),
        ({"metadata": (("user.id", "1"),)}, "metadata"),
        ({"metadata": (("email", "a@b.co"),)}, "metadata['email']"),
        ({"attachments": (Attachment("setup.exe", b"MZ"),)}, "attachments"),
        ({"attachments": (Attachment("run.JS", b"x"),)}, "attachments"),
        ({"headers": (("Keywords", "a"), ("keywords", "b"))}, "headers"),
    ],
)
def test_what_ses_cannot_express_is_refused(change: dict[str, Any], field: str) -> None:
    """Each is an UnsupportedFeature naming the field: nothing is dropped or rewritten."""
    for name in ("to", "cc", "bcc", "reply_to"):
        if name in change:
            change[name] = tuple(
                compose(stamp=STAMP, from_email="a@b.co", to=a).to[0] for a in change[name]
            )
    for name in ("from_email", "envelope_from"):
        if name in change:
            change[name] = compose(stamp=STAMP, from_email=change[name], to="a@b.co").from_email
    message = attrs.evolve(MESSAGE, **change)

    with pytest.raises(UnsupportedFeature) as info:
        build_request(message, OPTIONS)

    assert info.value.field == field
    assert info.value.provider == "ses"


def test_an_attachment_ses_accepts_is_sent() -> None:
    """Only the listed extensions are refused: .zip, .pdf, no extension go through."""
    files = (Attachment("a.zip", b"PK"), Attachment("b.pdf", b"%"), Attachment("README", b"x"))

    raw = raw_of(body_of(attrs.evolve(MESSAGE, attachments=files)))

    assert raw.count(b"Content-Disposition: attachment") == 3


def test_more_than_50_recipients_are_refused() -> None:
    """SES takes 50 recipients per message at most (quotas.html)."""
    recipients = tuple(f"r{i}@example.org" for i in range(51))
    message = compose(stamp=STAMP, from_email="a@example.com", bcc=recipients)

    with pytest.raises(UnsupportedFeature, match="at most 50"):
        build_request(message, OPTIONS)
    assert (
        len(body_of(attrs.evolve(message, bcc=message.bcc[:50]))["Destination"]["BccAddresses"])
        == 50
    )


def test_a_message_over_40_mb_is_too_large_before_sending() -> None:
    """40 MB after MIME encoding (quotas.html): MessageTooLarge with size and limit."""
    big = Attachment("big.bin", bytes(31 * 1024 * 1024))
    message = attrs.evolve(MESSAGE, attachments=(big,))

    with pytest.raises(MessageTooLarge) as info:
        build_request(message, OPTIONS)

    assert info.value.limit == MAX_RAW_BYTES
    assert info.value.size is not None
    assert info.value.size > MAX_RAW_BYTES


def test_endpoint_follows_the_region() -> None:
    """email.<region>.amazonaws.com; the China regions end in .com.cn."""
    assert endpoint_of("us-east-1") == "https://email.us-east-1.amazonaws.com"
    assert endpoint_of("cn-north-1") == "https://email.cn-north-1.amazonaws.com.cn"


# -- parse_response -----------------------------------------------------------------------


def test_success_gives_the_message_id_and_every_recipient_sent() -> None:
    """200 {"MessageId": ...} (API_SendEmail.html, Response Syntax)."""
    body = json.dumps({"MessageId": "0102018c-EXAMPLE-000000"}).encode()

    result = parse_response(MESSAGE, 200, {"content-type": "application/json"}, body)

    assert result.provider_id == "0102018c-EXAMPLE-000000"
    assert result.accepted == (
        "ann@example.org",
        "bob@xn--mnchen-3ya.de",
        "cid@example.org",
        "dee@example.org",
    )
    assert result.message_id == MESSAGE.message_id


def test_success_without_an_id_is_still_accepted() -> None:
    """SES accepted it: reporting a failure would make the caller send it twice."""
    result = parse_response(MESSAGE, 200, {}, b"<html>ok</html>")

    assert result.sent
    assert result.provider_id is None


ERRORS = [
    # (status, headers, body, error class, words in the error)
    (
        429,
        {"x-amzn-ErrorType": "TooManyRequestsException"},
        {"message": "Too many requests"},
        RateLimited,
        "TooManyRequests",
    ),
    (
        400,
        {},
        {"__type": "LimitExceededException", "message": "Daily message quota exceeded"},
        RateLimited,
        "quota",
    ),
    (
        400,
        {},
        {"__type": "ThrottlingException", "message": "Maximum sending rate exceeded."},
        RateLimited,
        "sending rate",
    ),
    (
        400,
        {},
        {"code": "SendingPausedException", "message": "Sending is paused for this account."},
        TransientDeliveryError,
        "paused",
    ),
    (
        400,
        {},
        {"Code": "AccountSuspendedException", "message": "Sending is suspended."},
        PermanentDeliveryError,
        "AccountSuspended",
    ),
    (
        400,
        {
            "x-amzn-ErrorType": "MessageRejected:http://internal.amazon.com/coral/com.amazonaws.sesv2/"
        },
        {"message": "Illegal address"},
        PermanentDeliveryError,
        "MessageRejected: Illegal address",
    ),
    (
        400,
        {},
        {
            "__type": "com.amazonaws.sesv2#MailFromDomainNotVerifiedException",
            "message": "not verified",
        },
        PermanentDeliveryError,
        "MailFromDomainNotVerified",
    ),
    (
        400,
        {},
        {"__type": "BadRequestException", "message": "Missing final '@domain'"},
        PermanentDeliveryError,
        "BadRequest",
    ),
    (
        404,
        {},
        {"__type": "NotFoundException", "message": "Configuration set <x> does not exist."},
        PermanentDeliveryError,
        "does not exist",
    ),
    (
        403,
        {"x-amzn-ErrorType": "AccessDeniedException"},
        {"Message": "User is not authorized to perform ses:SendEmail"},
        PermanentDeliveryError,
        "not authorized",
    ),
    (
        403,
        {},
        {
            "__type": "UnrecognizedClientException",
            "message": "The security token included in the request is invalid.",
        },
        PermanentDeliveryError,
        "security token",
    ),
    (
        400,
        {},
        {"__type": "RequestExpired", "message": "Signature expired"},
        PermanentDeliveryError,
        "expired",
    ),
    (
        500,
        {},
        {"__type": "InternalFailure", "message": "oops"},
        TransientDeliveryError,
        "InternalFailure",
    ),
    (
        503,
        {},
        {"__type": "ServiceUnavailable", "message": "try later"},
        TransientDeliveryError,
        "ServiceUnavailable",
    ),
    (502, {}, b"<html>Bad Gateway</html>", TransientDeliveryError, "Bad Gateway"),
    (413, {}, b"Request Entity Too Large", MessageTooLarge, "Too Large"),
    (
        400,
        {},
        {"__type": "SomethingNewException", "message": "new"},
        PermanentDeliveryError,
        "SomethingNew",
    ),
    (429, {}, {"message": "slow down"}, RateLimited, "slow down"),
]


@pytest.mark.parametrize(
    ("status", "headers", "body", "error_type", "words"),
    ERRORS,
    ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)],
)
def test_each_documented_error_is_classified(
    status: int, headers: dict[str, str], body: object, error_type: type[DeliveryError], words: str
) -> None:
    """By error type first (throttling and paused transient, the rest permanent), then by
    status: 5xx transient, 413 too large, other 4xx permanent."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()

    with pytest.raises(DeliveryError) as info:
        parse_response(MESSAGE, status, headers, raw)

    assert type(info.value) is error_type
    assert info.value.code == status
    assert words in str(info.value)
    assert str(info.value).startswith(f"ses: HTTP {status}: ")


@pytest.mark.parametrize(
    ("headers", "data", "code"),
    [
        (
            {"X-Amzn-ErrorType": "MessageRejected:http://internal.amazon.com/"},
            {},
            "MessageRejected",
        ),
        ({}, {"__type": "com.amazonaws.sesv2#NotFoundException"}, "NotFoundException"),
        ({}, {"code": "BadRequestException", "__type": "Other"}, "BadRequestException"),
        ({"x-amzn-errortype": "A"}, {"code": "B"}, "A"),
        ({}, {"message": "no code"}, ""),
        ({}, None, ""),
    ],
)
def test_error_code_is_read_like_botocore(headers: dict[str, str], data: object, code: str) -> None:
    """The header, then code/Code, then __type; namespace and suffix removed."""
    assert error_code_of(headers, data) == code


def test_retry_after_is_honoured_when_sent() -> None:
    """SES sends none, but a proxy's Retry-After on a throttle is kept."""
    body = json.dumps({"message": "Too many requests"}).encode()
    headers = {"x-amzn-ErrorType": "TooManyRequestsException", "Retry-After": "12"}

    with pytest.raises(RateLimited) as info:
        parse_response(MESSAGE, 429, headers, body)

    assert info.value.retry_after == 12.0


def test_a_permanent_error_has_no_retry_after() -> None:
    """Retry-After on a permanent error means nothing: it is not kept."""
    body = json.dumps({"__type": "MessageRejected", "message": "no"}).encode()

    with pytest.raises(PermanentDeliveryError) as info:
        parse_response(MESSAGE, 400, {"Retry-After": "5"}, body)

    assert info.value.retry_after is None


def test_sandbox_rejection_names_the_unverified_recipients() -> None:
    """The sandbox's MessageRejected lists the identities that failed: those are
    rejected, the others failed (never sent)."""
    text = (
        "Email address is not verified. The following identities failed the check in "
        "region EU-WEST-1: ann@example.org, dee@example.org"
    )
    body = json.dumps({"__type": "MessageRejected", "message": text}).encode()

    with pytest.raises(PermanentDeliveryError) as info:
        parse_response(MESSAGE, 400, {}, body)

    statuses = {r.address: r.status for r in info.value.recipients}
    assert statuses == {
        "ann@example.org": "rejected",
        "bob@xn--mnchen-3ya.de": "failed",
        "cid@example.org": "failed",
        "dee@example.org": "rejected",
    }


def test_a_rejected_sender_identity_names_no_recipient() -> None:
    """When only the From identity failed the check, no recipient is blamed."""
    text = (
        "Email address is not verified. The following identities failed the check in "
        "region EU-WEST-1: app@example.com"
    )
    body = json.dumps({"__type": "MessageRejected", "message": text}).encode()

    with pytest.raises(PermanentDeliveryError) as info:
        parse_response(MESSAGE, 400, {}, body)

    assert info.value.recipients == ()


def test_signature_errors_never_echo_the_canonical_request() -> None:
    """AWS appends the canonical request (with the key id and session token) to a
    signature error; only the first sentence is kept."""
    text = (
        "The request signature we calculated does not match the signature you provided. "
        "Check your AWS Secret Access Key and signing method.\n\nThe Canonical String for "
        "this request should have been\n'POST\n/v2/email/outbound-emails\n\n"
        f"x-amz-security-token:{TOKEN}'"
        f"\n\nThe String-to-Sign should have been\n'AWS4-HMAC-SHA256\n{KEY_ID}'"
    )
    body = json.dumps({"message": text}).encode()

    with pytest.raises(PermanentDeliveryError) as info:
        parse_response(MESSAGE, 403, {"x-amzn-ErrorType": "SignatureDoesNotMatch"}, body)

    assert "does not match" in str(info.value)
    assert TOKEN not in str(info.value)
    assert "Canonical" not in str(info.value)


# -- signing ------------------------------------------------------------------------------


def signed(credentials: Any, region: str = "eu-west-1") -> Any:
    from botocore.credentials import ReadOnlyCredentials

    return sign_request(build_request(MESSAGE, OPTIONS), ReadOnlyCredentials(*credentials), region)


def test_signing_adds_date_and_authorization() -> None:
    """SigV4 by botocore: X-Amz-Date now, Authorization scoped to the region and "ses"."""
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)

    request = signed((KEY_ID, SECRET, None))

    stamp = dt.datetime.strptime(str(request.header("x-amz-date")), "%Y%m%dT%H%M%SZ")
    assert abs(stamp.replace(tzinfo=dt.UTC) - before) < dt.timedelta(minutes=1)
    authorization = str(request.header("authorization"))
    assert authorization.startswith(
        f"AWS4-HMAC-SHA256 Credential={KEY_ID}/{stamp:%Y%m%d}/eu-west-1/ses/aws4_request, "
        "SignedHeaders=accept;content-type;host;x-amz-date, Signature="
    )
    assert request.header("x-amz-security-token") is None


def test_the_signature_verifies_over_the_request_as_sent() -> None:
    """An independent check (tests/sigv4.py) recomputes the same signature."""
    request = signed((KEY_ID, SECRET, None))

    key = verify_sigv4(
        request.method,
        request.url,
        sent_headers(request),
        request.body,
        keys=KEYS,
        region="eu-west-1",
    )

    assert key == KEY_ID


@pytest.mark.parametrize(
    ("tamper", "code"),
    [
        ({"body": b'{"FromEmailAddress":"evil@example.com"}'}, "SignatureDoesNotMatch"),
        (
            {"url": "https://email.eu-west-1.amazonaws.com/v2/email/contact-lists"},
            "SignatureDoesNotMatch",
        ),
        ({"region": "us-east-1"}, "InvalidSignatureException"),
        ({"keys": {KEY_ID: SigningKey("another-secret")}}, "SignatureDoesNotMatch"),
    ],
)
def test_the_verifier_refuses_a_changed_request(tamper: dict[str, Any], code: str) -> None:
    """The check the test servers use is not a rubber stamp."""
    request = signed((KEY_ID, SECRET, None))
    arguments: dict[str, Any] = {
        "method": request.method,
        "url": request.url,
        "headers": sent_headers(request),
        "body": request.body,
        "keys": KEYS,
        "region": "eu-west-1",
        **tamper,
    }

    with pytest.raises(SignatureError) as info:
        verify_sigv4(**arguments)

    assert info.value.code == code


def test_temporary_credentials_send_and_sign_the_session_token() -> None:
    """A session token goes in X-Amz-Security-Token, among the signed headers."""
    request = signed((KEY_ID, SECRET, TOKEN))

    assert request.header("x-amz-security-token") == TOKEN
    assert "x-amz-security-token" in str(request.header("authorization"))
    verify_sigv4(
        request.method,
        request.url,
        sent_headers(request),
        request.body,
        keys={KEY_ID: SigningKey(SECRET, TOKEN)},
        region="eu-west-1",
    )


def test_signed_request_repr_hides_the_signature_and_token() -> None:
    """repr(request) masks Authorization and X-Amz-Security-Token."""
    request = signed((KEY_ID, SECRET, TOKEN))

    assert TOKEN not in repr(request)
    assert "Signature=" not in repr(request)


# -- the mailer's options -----------------------------------------------------------------


def test_mailer_builds_with_explicit_keys_and_signs(aws_env: Path) -> None:
    """access_key_id / secret_access_key / session_token are used as given."""
    mailer = SESMailer(
        region="eu-west-1", access_key_id=KEY_ID, secret_access_key=SECRET, session_token=TOKEN
    )

    request = mailer.prepare(mailer.build_request(MESSAGE))

    assert mailer.base_url == "https://email.eu-west-1.amazonaws.com"
    verify_sigv4(
        request.method,
        request.url,
        sent_headers(request),
        request.body,
        keys={KEY_ID: SigningKey(SECRET, TOKEN)},
        region="eu-west-1",
    )


def test_mailer_takes_credentials_from_the_environment(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without keys, botocore's chain finds AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")

    mailer = SESMailer(region="eu-west-1")
    request = mailer.prepare(mailer.build_request(MESSAGE))

    assert "Credential=AKIDFROMENV/" in str(request.header("authorization"))
    verify_sigv4(
        request.method,
        request.url,
        sent_headers(request),
        request.body,
        keys={"AKIDFROMENV": SigningKey("env-secret")},
        region="eu-west-1",
    )


def test_mailer_takes_credentials_from_a_profile(aws_env: Path) -> None:
    """profile= reads that profile of the shared credentials file."""
    (aws_env / "aws-credentials").write_text(
        "[mail]\naws_access_key_id = AKIDPROFILE\naws_secret_access_key = profile-secret\n"
    )

    mailer = SESMailer(region="eu-west-1", profile="mail")
    request = mailer.prepare(mailer.build_request(MESSAGE))

    assert "Credential=AKIDPROFILE/" in str(request.header("authorization"))


def test_no_credentials_anywhere_is_a_config_error(aws_env: Path) -> None:
    """The error says where credentials can come from."""
    with pytest.raises(ConfigError, match="no AWS credentials") as info:
        SESMailer(region="eu-west-1")

    assert "access_key_id" in str(info.value)
    assert "AWS_ACCESS_KEY_ID" in str(info.value)


def test_an_unknown_profile_is_a_config_error(aws_env: Path) -> None:
    """profile= naming no profile is refused at construction."""
    with pytest.raises(ConfigError, match="'nope'"):
        SESMailer(region="eu-west-1", profile="nope")


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"region": "Europe"}, "region"),
        ({"region": ""}, "region"),
        ({"region": None}, "region"),
        ({"access_key_id": KEY_ID}, "secret_access_key is missing"),
        ({"secret_access_key": SECRET}, "access_key_id is missing"),
        ({"session_token": TOKEN}, "session_token needs"),
        ({"access_key_id": KEY_ID, "secret_access_key": " "}, "secret_access_key"),
        ({"access_key_id": KEY_ID, "secret_access_key": SECRET, "profile": "p"}, "not both"),
        ({"configuration_set": "has space"}, "configuration_set"),
        ({"from_arn": "example.com"}, "from_arn"),
        ({"feedback_forwarding_arn": 7}, "feedback_forwarding_arn"),
        ({"feedback_forwarding_address": "not an address"}, "feedback_forwarding_address"),
        ({"base_url": "http://email.eu-west-1.amazonaws.com"}, "base_url"),
        ({"timeout": 0}, "timeout"),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch, options: dict[str, Any], words: str
) -> None:
    """Each wrong option is a ConfigError naming it, never showing a secret."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDFROMENV")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "env-secret")
    arguments: dict[str, Any] = {"region": "eu-west-1", **options}

    with pytest.raises(ConfigError) as info:
        SESMailer(**arguments)

    assert words in str(info.value)
    assert SECRET not in str(info.value)
    assert "env-secret" not in str(info.value)


def test_loopback_base_url_is_allowed(aws_env: Path) -> None:
    """A local test server over http (moto, the provider test server)."""
    mailer = SESMailer(
        region="eu-west-1",
        access_key_id=KEY_ID,
        secret_access_key=SECRET,
        base_url="http://127.0.0.1:5000/",
    )

    assert mailer.build_request(MESSAGE).url == "http://127.0.0.1:5000/v2/email/outbound-emails"


def test_mailer_repr_never_shows_credentials(aws_env: Path) -> None:
    """repr(mailer) names the endpoint, never a key."""
    mailer = SESMailer(
        region="eu-west-1", access_key_id=KEY_ID, secret_access_key=SECRET, session_token=TOKEN
    )

    text = repr(mailer)

    assert "email.eu-west-1.amazonaws.com" in text
    assert all(secret not in text for secret in (KEY_ID, SECRET, TOKEN))


def test_missing_botocore_says_which_extra_to_install(
    aws_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without botocore, a ConfigError naming proper-mail[ses]."""
    for name in [m for m in sys.modules if m == "botocore" or m.startswith("botocore.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "botocore", None)  # import botocore -> ImportError

    with pytest.raises(ConfigError, match=r"pip install 'proper-mail\[ses\]'"):
        SESMailer(region="eu-west-1", access_key_id=KEY_ID, secret_access_key=SECRET)


def test_importing_proper_mail_does_not_import_botocore() -> None:
    """The extra is loaded only when an SESMailer is built (proper_mail stays light)."""
    code = "import sys, proper_mail; print('botocore' in sys.modules)"

    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )

    assert found.stdout.strip() == "False"


def test_prepared_request_keeps_the_body_byte_for_byte(aws_env: Path) -> None:
    """Signing adds headers only: the body signed is the body built."""
    mailer = SESMailer(region="eu-west-1", access_key_id=KEY_ID, secret_access_key=SECRET)
    request = mailer.build_request(MESSAGE)

    prepared = mailer.prepare(request)

    assert prepared.body == request.body
    assert prepared.url == request.url
    assert prepared.headers[: len(request.headers)] == request.headers
