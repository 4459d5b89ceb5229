"""SESMailer end to end, configured and used the way an app does.

Two stand-ins for SES, each checking what the other cannot:

- moto in server mode (``moto.server.ThreadedMotoServer``), a real local implementation
  of the SES v2 API: it routes the request by its SigV4 credential scope, requires the
  sender identity to be verified (made with moto's own API first, as at SES), decodes
  ``Content.Raw.Data``, counts recipients (50 at most) and stores the message; we read
  what it stored and compare it with what we sent. moto does NOT verify signatures, and
  ignores EmailTags and ConfigurationSetName.
- ``tests/provider_server.py`` with a respond function that verifies the SigV4 signature
  as AWS does (``tests/sigv4.py``: botocore's primitives over the request as received,
  constant-time compare) and the request shape, and answers with SES's documented
  responses and errors. A broken signer fails here.

Docs: https://docs.aws.amazon.com/ses/latest/APIReference-V2/API_SendEmail.html (request,
response, errors), https://docs.aws.amazon.com/ses/latest/APIReference-V2/CommonErrors.html,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_sigv4-signing-elements.html,
https://docs.aws.amazon.com/ses/latest/dg/send-email-raw.html (raw message rules).
"""

from __future__ import annotations

import base64
import email.message
import email.parser
import email.policy
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import proper_mail
from proper_mail import (
    Attachment,
    EmailMessage,
    Mail,
    PermanentDeliveryError,
    RateLimited,
    SendResult,
    TransientDeliveryError,
)
from proper_mail.core.compose import inline_part
from proper_mail.core.mime import to_bytes
from proper_mail.errors import DeliveryError
from tests.provider_server import ProviderServer, Received, Reply
from tests.sigv4 import SignatureError, SigningKey, isolate_aws_env, verify_sigv4

REGION = "eu-west-1"
KEY_ID = "AKIDINTEGRATION"
SECRET = "integration/secret+KEY"
TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE"
KEYS = {KEY_ID: SigningKey(SECRET), "AKIDTEMPORARY": SigningKey("temp-secret", TOKEN)}
_TAG = re.compile(r"[A-Za-z0-9_-]{1,256}")


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No AWS credentials or config from the machine running the tests."""
    isolate_aws_env(monkeypatch, tmp_path)


@pytest.fixture
def configure_ses() -> Iterator[Callable[..., Mail]]:
    """configure() an app whose default mailer is an SESMailer with these options."""
    previous = proper_mail.mail.configured_mail()
    made: list[Mail] = []

    def make(**options: Any) -> Mail:
        credentials = {"access_key_id": KEY_ID, "secret_access_key": SECRET}
        mail = proper_mail.configure(
            {
                "MAILERS": {
                    "ses": {
                        "type": "proper_mail.SESMailer",
                        "region": REGION,
                        **credentials,
                        **options,
                    }
                },
                "MAILER": "ses",
                "QUEUE": "immediate",
                "MAILER_DEFAULT_OPTIONS": {"from": "App <app@example.com>"},
            }
        )
        made.append(mail)
        return mail

    yield make
    for mail in made:
        mail.close()
    proper_mail.mail.restore_current(previous)


# -- a stand-in that verifies SigV4 -----------------------------------------------------


class SES:
    """Answers SendEmail as SES does, after checking the request as SES would."""

    def __init__(self) -> None:
        self.answers: list[Reply] = []
        self.bodies: list[dict[str, Any]] = []
        self.gate: threading.Event | None = None

    def __call__(self, request: Received) -> Reply:
        if self.gate is not None:
            self.gate.wait(timeout=30)
        if (request.method, request.path) != ("POST", "/v2/email/outbound-emails"):
            return Reply(404, {"message": "Not Found"}, {"x-amzn-ErrorType": "NotFound"})
        url = f"http://{request.headers['host']}{request.path}"
        try:
            verify_sigv4(
                request.method, url, request.headers, request.body, keys=KEYS, region=REGION
            )
        except SignatureError as e:
            return Reply(403, {"message": e.message}, {"x-amzn-ErrorType": e.code})
        assert request.headers["content-type"] == "application/json"
        body = request.json()
        self.check_shape(body)
        self.bodies.append(body)
        if self.answers:
            return self.answers.pop(0)
        return Reply(200, {"MessageId": f"0102019a-test-{len(self.bodies):06d}"})

    @staticmethod
    def check_shape(body: dict[str, Any]) -> None:
        """SendEmail with Raw content: the fields and rules of API_SendEmail.html."""
        assert set(body) <= {
            "FromEmailAddress",
            "FromEmailAddressIdentityArn",
            "Destination",
            "ReplyToAddresses",
            "FeedbackForwardingEmailAddress",
            "FeedbackForwardingEmailAddressIdentityArn",
            "Content",
            "EmailTags",
            "ConfigurationSetName",
            "TenantName",
            "ListManagementOptions",
        }
        assert list(body["Content"]) == ["Raw"]
        raw = base64.b64decode(body["Content"]["Raw"]["Data"], validate=True)
        assert raw.isascii()
        assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
        assert b"\n" not in raw.replace(b"\r\n", b"")
        parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
        assert parsed["From"]
        assert parsed["Message-ID"]
        assert parsed["Date"]
        assert parsed["From"].addresses[0].addr_spec == body["FromEmailAddress"]
        recipients = [a for field in body["Destination"].values() for a in field]
        assert 0 < len(recipients) <= 50
        assert all(a.isascii() and "<" not in a for a in recipients)
        for tag in body.get("EmailTags", []):
            assert _TAG.fullmatch(tag["Name"])
            assert _TAG.fullmatch(tag["Value"])


@pytest.fixture
def ses() -> Iterator[tuple[SES, ProviderServer]]:
    stand_in = SES()
    with ProviderServer(stand_in) as server:
        yield stand_in, server
        if stand_in.gate is not None:
            stand_in.gate.set()


def mime_of(body: dict[str, Any]) -> email.message.EmailMessage:
    raw = base64.b64decode(body["Content"]["Raw"]["Data"])
    parsed = email.parser.BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def test_send_signs_and_sends_everything(
    ses: tuple[SES, ProviderServer], configure_ses: Callable[..., Mail]
) -> None:
    """proper_mail.send: a signed request, the whole message in Raw, the envelope in
    Destination, tags and options in their fields; the MessageId comes back."""
    stand_in, server = ses
    configure_ses(base_url=server.url, configuration_set="transactional")
    logo = inline_part("logo.png", b"\x89PNG\r\n", "image/png")
    message = proper_mail.compose(
        to=["Ann <ann@example.org>", "bob@bücher.de"],
        cc="cid@example.org",
        bcc="dee@example.org",
        reply_to="help@example.com",
        subject="Your receipt – März",
        body=f'<p>Thanks <img src="cid:{logo.content_id}"></p>',
        content_subtype="html",
        alternatives=[("Thanks", "text/plain")],
        attachments=[logo, Attachment("receipt.pdf", b"%PDF-1.7 receipt", "application/pdf")],
        headers={"X-Order": "1042"},
        tags=["receipt"],
        metadata={"order_id": 1042},
    )

    result = proper_mail.send(message)

    server.check()
    assert result.provider_id == "0102019a-test-000001"
    assert result.mailer == "ses"
    assert result.accepted == (
        "ann@example.org",
        "bob@xn--bcher-kva.de",
        "cid@example.org",
        "dee@example.org",
    )
    body = stand_in.bodies[0]
    assert base64.b64decode(body["Content"]["Raw"]["Data"]) == to_bytes(message)
    assert body["Destination"]["BccAddresses"] == ["dee@example.org"]
    assert body["ConfigurationSetName"] == "transactional"
    assert body["EmailTags"] == [
        {"Name": "order_id", "Value": "1042"},
        {"Name": "receipt", "Value": "true"},
    ]
    mime = mime_of(body)
    assert mime["X-Order"] == "1042"
    assert mime["Reply-To"] == "help@example.com"
    assert "Bcc" not in mime
    parts = {part.get_content_type(): part for part in mime.walk()}
    assert parts["image/png"]["Content-ID"] == f"<{logo.content_id}>"
    assert parts["image/png"].get_content() == b"\x89PNG\r\n"
    assert parts["application/pdf"].get_content() == b"%PDF-1.7 receipt"


class ReceiptEmail(EmailMessage):
    subject = "Your receipt"
    body = "Thanks for your order."


def test_email_class_send_with_temporary_credentials_from_the_environment(
    ses: tuple[SES, ProviderServer],
    configure_ses: Callable[..., Mail],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An EmailMessage class's send(), credentials from botocore's chain (the env), a
    session token sent and signed."""
    stand_in, server = ses
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEMPORARY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "temp-secret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    configure_ses(base_url=server.url, access_key_id=None, secret_access_key=None)

    result = ReceiptEmail(to="ann@example.org").send()

    server.check()
    assert result.sent
    assert server.received[0].headers["x-amz-security-token"] == TOKEN
    assert mime_of(stand_in.bodies[0])["Subject"] == "Your receipt"


def test_send_later_in_immediate_mode_sends_through_ses(
    ses: tuple[SES, ProviderServer], configure_ses: Callable[..., Mail]
) -> None:
    """send_later, QUEUE="immediate": the queued record is sent at once, signed."""
    stand_in, server = ses
    configure_ses(base_url=server.url)

    ReceiptEmail(to="ann@example.org", bcc="audit@example.com").send_later()

    server.check()
    assert len(server.received) == 1
    assert stand_in.bodies[0]["Destination"] == {
        "ToAddresses": ["ann@example.org"],
        "BccAddresses": ["audit@example.com"],
    }


def test_a_wrong_secret_is_refused_like_aws_does(
    ses: tuple[SES, ProviderServer], configure_ses: Callable[..., Mail]
) -> None:
    """A bad signature gets AWS's 403 SignatureDoesNotMatch: permanent, and the error
    never shows the key."""
    _, server = ses
    configure_ses(base_url=server.url, secret_access_key="not-the-secret")

    with pytest.raises(PermanentDeliveryError) as info:
        proper_mail.send(ReceiptEmail(to="ann@example.org"))

    assert info.value.code == 403
    assert "SignatureDoesNotMatch" in str(info.value)
    assert "not-the-secret" not in str(info.value)
    assert KEY_ID not in str(info.value)


ANSWERS = [
    (
        Reply(
            429, {"message": "Too many requests."}, {"x-amzn-ErrorType": "TooManyRequestsException"}
        ),
        RateLimited,
    ),
    (
        Reply(400, {"__type": "ThrottlingException", "message": "Maximum sending rate exceeded."}),
        RateLimited,
    ),
    (
        Reply(400, {"message": "Sending paused."}, {"x-amzn-ErrorType": "SendingPausedException"}),
        TransientDeliveryError,
    ),
    (
        Reply(
            400,
            {"message": "Account suspended."},
            {"x-amzn-ErrorType": "AccountSuspendedException"},
        ),
        PermanentDeliveryError,
    ),
    (
        Reply(
            400,
            {"message": "Email address is not verified."},
            {"x-amzn-ErrorType": "MessageRejected"},
        ),
        PermanentDeliveryError,
    ),
    (
        Reply(
            400,
            {"message": "Not verified."},
            {"x-amzn-ErrorType": "MailFromDomainNotVerifiedException"},
        ),
        PermanentDeliveryError,
    ),
    (Reply(500, {"__type": "InternalFailure", "message": "internal"}), TransientDeliveryError),
    (
        Reply(503, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"}),
        TransientDeliveryError,
    ),
]


@pytest.mark.parametrize(
    ("answer", "error_type"), ANSWERS, ids=[str(i) for i in range(len(ANSWERS))]
)
def test_ses_errors_from_the_wire_are_classified(
    ses: tuple[SES, ProviderServer],
    configure_ses: Callable[..., Mail],
    answer: Reply,
    error_type: type[DeliveryError],
) -> None:
    """Each documented error, as it comes over HTTP, raises its class."""
    stand_in, server = ses
    stand_in.answers.append(answer)
    configure_ses(base_url=server.url)

    with pytest.raises(DeliveryError) as info:
        proper_mail.send(ReceiptEmail(to="ann@example.org"))

    server.check()
    assert type(info.value) is error_type
    assert info.value.code == answer.status


def test_a_timeout_is_transient(
    ses: tuple[SES, ProviderServer], configure_ses: Callable[..., Mail]
) -> None:
    """SES too slow for the mailer's timeout: a transient error, retried later."""
    stand_in, server = ses
    stand_in.gate = threading.Event()
    configure_ses(base_url=server.url, timeout=0.3)

    with pytest.raises(TransientDeliveryError, match="ses: ReadTimeout"):
        proper_mail.send(ReceiptEmail(to="ann@example.org"))


# -- moto in server mode ------------------------------------------------------------------

MOTO_ACCOUNT = "123456789012"  # moto's default account for keys it does not know


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on 127.0.0.1 (a free port), shared by this module's tests."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def moto(moto_url: str) -> str:
    """moto reset, with app@example.com verified as a sender (SES requires it)."""
    httpx.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    import botocore.session

    client = botocore.session.Session().create_client(
        "sesv2",
        region_name=REGION,
        endpoint_url=moto_url,
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
    )
    client.create_email_identity(EmailIdentity="app@example.com")
    client.close()
    return moto_url


def moto_sent() -> list[Any]:
    """The messages moto's SES backend stored (its documented test hook)."""
    from moto.ses.models import ses_backends

    messages: list[Any] = ses_backends[MOTO_ACCOUNT][REGION].sent_messages
    return messages


def test_moto_accepts_and_stores_exactly_what_we_sent(
    moto: str, configure_ses: Callable[..., Mail]
) -> None:
    """moto's SendEmail takes our Raw message from a verified sender: the id it returns
    is ours, and the raw bytes and recipients it stored are the ones we sent."""
    configure_ses(base_url=moto)
    message = proper_mail.compose(
        to="Ann <ann@example.org>",
        cc="cid@example.org",
        bcc="dee@example.org",
        subject="Report",
        body="Attached.",
        attachments=[Attachment("report.csv", b"a,b\r\n1,2\r\n", "text/csv")],
    )

    result: SendResult = proper_mail.send(message)

    [stored] = moto_sent()
    assert result.provider_id == stored.id
    assert result.accepted == ("ann@example.org", "cid@example.org", "dee@example.org")
    assert stored.source == "app@example.com"
    assert stored.raw_data == to_bytes(message).decode("ascii")
    # moto appends the To/Cc header addresses to the Destination it was given
    assert stored.destinations[:3] == ["ann@example.org", "cid@example.org", "dee@example.org"]


def test_moto_refuses_an_unverified_sender_permanently(
    moto: str, configure_ses: Callable[..., Mail]
) -> None:
    """A From identity SES has not verified: MessageRejected, permanent, nothing stored."""
    configure_ses(base_url=moto)

    with pytest.raises(PermanentDeliveryError, match="MessageRejected") as info:
        proper_mail.send(ReceiptEmail(from_email="other@example.net", to="ann@example.org"))

    assert info.value.code == 400
    assert moto_sent() == []


def test_moto_send_later_in_immediate_mode(moto: str, configure_ses: Callable[..., Mail]) -> None:
    """The queue path (immediate) reaches moto with the same record."""
    configure_ses(base_url=moto)

    ReceiptEmail(to="ann@example.org").send_later()

    [stored] = moto_sent()
    assert "Subject: Your receipt\r\n" in stored.raw_data
