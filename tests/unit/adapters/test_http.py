"""The shared HTTP provider shape: request records, status classification, options."""

from __future__ import annotations

import datetime as dt
import pickle

import attrs
import pytest

from proper_mail import compose
from proper_mail.adapters.http import (
    HttpRequest,
    Secret,
    all_accepted,
    check_base_url,
    json_request,
    merged_options,
    retry_after_of,
    status_error,
)
from proper_mail.core.records import RecipientStatus, Stamp
from proper_mail.errors import (
    ConfigError,
    MessageError,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
    UnsupportedFeature,
)

STAMP = Stamp(date=dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC), token="t1")
MESSAGE = compose(
    stamp=STAMP,
    from_email="app@example.com",
    to=["a@example.com", "b@example.com"],
    bcc="c@example.com",
    subject="Hi",
    body="Hello",
    provider_options={"postmark": {"MessageStream": "broadcast", "TrackOpens": True}},
)
NOW = dt.datetime(2026, 12, 2, 9, 0, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (429, RateLimited),
        (500, TransientDeliveryError),
        (502, TransientDeliveryError),
        (503, TransientDeliveryError),
        (408, TransientDeliveryError),
        (413, MessageTooLarge),
        (400, PermanentDeliveryError),
        (401, PermanentDeliveryError),
        (403, PermanentDeliveryError),
        (422, PermanentDeliveryError),
    ],
)
def test_status_error_classifies_by_status(status: int, error_type: type[Exception]) -> None:
    """429, 5xx and 408 are transient, 413 too large, other 4xx permanent."""
    error = status_error("postmark", status, {}, "nope")

    assert type(error) is error_type
    assert error.code == status
    assert "postmark: HTTP" in str(error)


def test_status_error_keeps_retry_after() -> None:
    """A 429's Retry-After becomes the error's retry_after."""
    error = status_error("resend", 429, {"Retry-After": "7"}, "slow down")

    assert error.retry_after == 7.0
    assert isinstance(pickle.loads(pickle.dumps(error)), RateLimited)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", 5.0),
        ("0.5", 0.5),
        ("-3", 0.0),
        ("Wed, 02 Dec 2026 09:00:30 GMT", 30.0),
        ("Wed, 02 Dec 2026 08:59:00 GMT", 0.0),
        ("soon", None),
        ("nan", None),
    ],
)
def test_retry_after_reads_seconds_and_dates(value: str, expected: float | None) -> None:
    """Retry-After is delta-seconds or an HTTP date; garbage is ignored."""
    assert retry_after_of({"retry-after": value}, NOW) == expected


def test_retry_after_absent_is_none() -> None:
    """No header, no wait."""
    assert retry_after_of({}, NOW) is None


@pytest.mark.parametrize(
    "url",
    ["https://api.postmarkapp.com", "http://127.0.0.1:8080", "http://[::1]:1", "http://localhost"],
)
def test_base_url_accepts_https_and_loopback_http(url: str) -> None:
    """https anywhere, plain http only to a loopback test server."""
    assert check_base_url("base_url", url + "/") == url


@pytest.mark.parametrize(
    "url", ["http://api.postmarkapp.com", "ftp://x", "api.postmarkapp.com", "https://x/?a=1", 3]
)
def test_base_url_refuses_the_rest(url: object) -> None:
    """Plain http to the network would send keys in clear: ConfigError."""
    with pytest.raises(ConfigError, match="base_url"):
        check_base_url("base_url", url)


def test_secret_never_shows_its_value() -> None:
    """repr and str of a Secret are masked; reveal() gives the key."""
    secret = Secret.of("server_token", "pm-123")

    assert "pm-123" not in repr(secret) + str(secret) + repr([secret])
    assert secret.reveal() == "pm-123"


@pytest.mark.parametrize("value", ["", "  ", None, 12, "a\r\nb"])
def test_secret_of_refuses_bad_values_without_showing_them(value: object) -> None:
    """A missing or malformed key is a ConfigError naming the option."""
    with pytest.raises(ConfigError, match="server_token") as info:
        Secret.of("server_token", value)

    assert "a\r\nb" not in str(info.value)


def test_request_repr_hides_credential_headers() -> None:
    """Authorization and token headers are masked in the request's repr."""
    request = json_request(
        "POST",
        "https://api.example.com/send",
        {"a": 1},
        (("Authorization", "Bearer re_secret"), ("X-Postmark-Server-Token", "pm-secret")),
    )

    assert "re_secret" not in repr(request)
    assert "pm-secret" not in repr(request)
    assert request.header("authorization") == "Bearer re_secret"
    assert request.json() == {"a": 1}
    assert request.header("content-type") == "application/json"


def test_json_request_is_utf8_not_escaped() -> None:
    """Non-ASCII text is sent as UTF-8, not as \\u escapes (smaller, and byte-exact)."""
    request = json_request("POST", "https://x.test/", {"s": "Grüße"})

    assert request.body == '{"s":"Grüße"}'.encode()


def test_merged_options_message_wins() -> None:
    """The message's provider options override the mailer's, key by key."""
    merged = merged_options(MESSAGE, "postmark", {"MessageStream": "outbound", "X": 1})

    assert merged == {"MessageStream": "broadcast", "X": 1, "TrackOpens": True}
    assert merged_options(MESSAGE, "resend", {"a": 1}) == {"a": 1}


def test_all_accepted_covers_every_envelope_recipient() -> None:
    """Bcc included, rejected ones kept as given."""
    result = all_accepted(
        MESSAGE,
        "pm-1",
        rejected={"b@example.com": RecipientStatus("b@example.com", "rejected", 406, "inactive")},
    )

    assert result.accepted == ("a@example.com", "c@example.com")
    assert result.rejected == ("b@example.com",)
    assert result.provider_id == "pm-1"


def test_provider_options_are_validated_json() -> None:
    """Options must be JSON data under a provider name, or compose() refuses them."""
    with pytest.raises(MessageError, match=r"provider_options\['postmark'\]"):
        compose(
            stamp=STAMP,
            from_email="a@example.com",
            to="b@example.com",
            provider_options={"postmark": {"x": object()}},
        )
    with pytest.raises(MessageError, match="provider name"):
        compose(
            stamp=STAMP,
            from_email="a@example.com",
            to="b@example.com",
            provider_options={"A B": {}},
        )


def test_http_request_is_frozen() -> None:
    """A request record cannot be changed after it is built."""
    request = HttpRequest("GET", "https://x.test/", (), b"")

    with pytest.raises(AttributeError):
        request.url = "https://evil.test/"  # type: ignore[misc]


PROVIDER_MAILERS = [
    ("postmark", "PostmarkMailer", {"server_token": "t"}, "To"),
    ("resend", "ResendMailer", {"api_key": "re_x"}, "to"),
    ("sendgrid", "SendGridMailer", {"api_key": "SG.x"}, "personalizations"),
    ("mailgun", "MailgunMailer", {"api_key": "k", "domain": "mg.example.com"}, "bcc"),
    (
        "ses",
        "SESMailer",
        {"region": "us-east-1", "access_key_id": "AK", "secret_access_key": "s"},
        "Destination",
    ),
]


@pytest.mark.parametrize(("provider", "cls", "options", "field"), PROVIDER_MAILERS)
@pytest.mark.parametrize("where", ["message", "mailer"])
def test_provider_options_cannot_replace_the_recipients(
    provider: str, cls: str, options: dict[str, str], field: str, where: str
) -> None:
    """A provider option naming a field built from the message (here the recipients,
    in any case) is refused: it would send to people the SendResult, the interceptor and
    the suppression list never saw."""
    import proper_mail

    extra = {field.upper(): ["evil@example.net"]}
    mailer = getattr(proper_mail, cls)(
        base_url="http://127.0.0.1:9",
        provider_options=extra if where == "mailer" else None,
        **options,
    )
    message = attrs.evolve(MESSAGE, provider_options=())
    if where == "message":
        message = compose(
            stamp=STAMP,
            from_email="app@example.com",
            to="a@example.com",
            subject="Hi",
            body="Hello",
            provider_options={provider: extra},
        )

    with pytest.raises(UnsupportedFeature, match="provider_options"):
        mailer.build_request(message)


def test_mailer_provider_options_keyed_by_provider_are_refused() -> None:
    """On a mailer, provider_options are the request fields themselves; the message's
    keyed shape there is a ConfigError, not fields sent as {"postmark": {...}}."""
    import proper_mail

    with pytest.raises(ConfigError, match="not keyed by 'postmark'"):
        proper_mail.PostmarkMailer(
            server_token="t", provider_options={"postmark": {"MessageStream": "broadcast"}}
        )
