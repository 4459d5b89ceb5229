"""verify_and_parse and receive: the answers, the dedupe, the suppression list, on_event."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from proper_mail.errors import (
    ConfigError,
    StoreUnavailable,
    WebhookPayloadError,
    WebhookVerificationError,
)
from proper_mail.webhooks import (
    DeliveryEvent,
    MailgunConfig,
    MemoryDedupeStore,
    MemorySuppressionStore,
    PostmarkConfig,
    ResendConfig,
    SendGridConfig,
    SesConfig,
    WebhookConfig,
    receive,
    verify_and_parse,
)
from tests.unit.webhooks.test_resend import BOUNCED_BODY
from tests.unit.webhooks.test_sendgrid import BATCH_BODY
from tests.unit.webhooks.test_ses import BOUNCE
from tests.webhook_signing import (
    MAILGUN_KEY,
    NOW,
    RESEND_SECRET,
    TOPIC_ARN,
    basic_auth,
    sendgrid_headers,
    sendgrid_public_key,
    sns_body,
    sns_notification,
    sns_signer,
    svix_headers,
)


def config(**changes: Any) -> WebhookConfig:
    """Every provider configured, memory stores."""
    fields: dict[str, Any] = {
        "postmark": PostmarkConfig(username="pm", password="pw"),
        "resend": ResendConfig(secret=RESEND_SECRET),
        "sendgrid": SendGridConfig(public_key=sendgrid_public_key()),
        "mailgun": MailgunConfig(signing_key=MAILGUN_KEY),
        "ses": SesConfig(
            topic_arns=[TOPIC_ARN],
            certificate_for=lambda url: sns_signer().certificate,
            confirm=None,
        ),
        "dedupe": MemoryDedupeStore(),
        "suppressions": MemorySuppressionStore(lambda: NOW),
    }
    return WebhookConfig(**{**fields, **changes})


def test_verify_and_parse_each_provider() -> None:
    """A signed request of each provider gives its events."""
    ses_message = sns_signer().sign(sns_notification(BOUNCE))
    requests = {
        "resend": (svix_headers(BOUNCED_BODY), BOUNCED_BODY),
        "sendgrid": (sendgrid_headers(BATCH_BODY), BATCH_BODY),
        "ses": ({}, sns_body(ses_message)),
        "postmark": (
            basic_auth("pm", "pw"),
            json.dumps(
                {
                    "RecordType": "Delivery",
                    "Recipient": "a@b.co",
                    "DeliveredAt": "2026-03-02T09:00:00Z",
                }
            ).encode(),
        ),
    }
    cfg = config()

    counts = {
        p: len(verify_and_parse(p, h, b, config=cfg, now=NOW)) for p, (h, b) in requests.items()
    }

    assert counts == {"resend": 1, "sendgrid": 6, "ses": 1, "postmark": 1}


def test_resend_events_are_named_by_svix_id() -> None:
    """verify_and_parse passes the svix-id to the parser: the dedupe id is Svix's."""
    headers = svix_headers(BOUNCED_BODY, msg_id="msg_abc")

    (event,) = verify_and_parse("resend", headers, BOUNCED_BODY, config=config(), now=NOW)

    assert event.event_id == "resend:msg_abc"


def test_an_unconfigured_provider_cannot_be_verified() -> None:
    """No config for a provider: a verification error (receive answers 404)."""
    cfg = config(mailgun=None)

    with pytest.raises(WebhookVerificationError, match="not configured"):
        verify_and_parse("mailgun", {}, b"{}", config=cfg, now=NOW)
    assert receive("mailgun", {}, b"{}", config=cfg, now=NOW).status == 404
    assert receive("smtp", {}, b"{}", config=cfg, now=NOW).status == 404


def test_the_body_is_verified_before_it_is_parsed() -> None:
    """An unsigned malformed body is a verification error, not a payload error."""
    with pytest.raises(WebhookVerificationError):
        verify_and_parse("sendgrid", {}, b"not json", config=config(), now=NOW)


def test_a_signed_malformed_body_is_a_payload_error() -> None:
    """Signed but not an event batch: WebhookPayloadError."""
    body = b'{"not": "a batch"}'

    with pytest.raises(WebhookPayloadError):
        verify_and_parse("sendgrid", sendgrid_headers(body), body, config=config(), now=NOW)


@pytest.mark.parametrize(
    ("provider", "headers", "body", "status"),
    [
        ("resend", {}, BOUNCED_BODY, 403),
        ("postmark", {}, b"{}", 401),
        ("sendgrid", sendgrid_headers(b"[1]"), b"[1]", 400),
        ("ses", {}, b"{}", 403),
    ],
)
def test_refusals_are_4xx(provider: str, headers: dict[str, str], body: bytes, status: int) -> None:
    """Unverified: 403 (401 + a Basic challenge for Postmark); malformed: 400."""
    reply = receive(provider, headers, body, config=config(), now=NOW)

    assert reply.status == status
    assert "error" in json.loads(reply.body)
    if status == 401:
        assert ("WWW-Authenticate", 'Basic realm="proper_mail webhooks"') in reply.headers


def test_a_body_over_the_cap_is_413() -> None:
    """max_body is enforced by receive too."""
    cfg = config(max_body=10)

    assert receive("resend", {}, b"x" * 11, config=cfg, now=NOW).status == 413


def test_an_event_is_processed_once() -> None:
    """The second delivery of an event is a 200 duplicate; on_event saw it once."""
    seen: list[DeliveryEvent] = []
    cfg = config()
    headers = svix_headers(BOUNCED_BODY)

    first = receive("resend", headers, BOUNCED_BODY, config=cfg, on_event=seen.append, now=NOW)
    second = receive("resend", headers, BOUNCED_BODY, config=cfg, on_event=seen.append, now=NOW)

    assert (first.status, json.loads(first.body)) == (200, {"events": 1, "duplicates": 0})
    assert (second.status, json.loads(second.body)) == (200, {"events": 0, "duplicates": 1})
    assert len(seen) == 1


def test_a_bounce_suppresses_the_recipient() -> None:
    """With suppressions configured, a hard bounce lands in the store before on_event."""
    cfg = config()
    order: list[str | None] = []

    def on_event(event: DeliveryEvent) -> None:
        assert cfg.suppressions is not None
        order.append(cfg.suppressions.is_suppressed(event.recipient or ""))

    receive(
        "resend", svix_headers(BOUNCED_BODY), BOUNCED_BODY, config=cfg, on_event=on_event, now=NOW
    )

    assert order == ["hard-bounce"]


def test_a_failing_handler_is_500_and_its_events_are_retried() -> None:
    """on_event raising: 500, the event unmarked, the provider's retry processes it."""
    cfg = config()
    headers = sendgrid_headers(BATCH_BODY)
    calls: list[str] = []

    def flaky(event: DeliveryEvent) -> None:
        calls.append(event.event_id)
        if len(calls) == 3:
            raise RuntimeError("database down")

    failed = receive("sendgrid", headers, BATCH_BODY, config=cfg, on_event=flaky, now=NOW)
    retried = receive("sendgrid", headers, BATCH_BODY, config=cfg, on_event=flaky, now=NOW)

    assert failed.status == 500
    assert json.loads(failed.body) == {
        "error": "the event handler failed",
        "events": 2,
        "unprocessed": 4,
    }
    assert (retried.status, json.loads(retried.body)) == (200, {"events": 4, "duplicates": 2})
    assert calls[3] == calls[2]  # the failed event again, then the rest


class DownStore:
    """A dedupe store whose Redis is down."""

    def seen(self, event_id: str, ttl: dt.timedelta) -> bool:
        raise StoreUnavailable("the webhook dedupe store: ConnectionError")

    def forget(self, event_id: str) -> None:
        raise StoreUnavailable("the webhook dedupe store: ConnectionError")


def test_a_store_outage_is_503() -> None:
    """The dedupe store down: 503 with Retry-After, nothing processed."""
    reply = receive(
        "resend",
        svix_headers(BOUNCED_BODY),
        BOUNCED_BODY,
        config=config(dedupe=DownStore()),
        now=NOW,
    )

    assert reply.status == 503
    assert ("Retry-After", "30") in reply.headers


def test_the_dedupe_ttl_must_cover_the_windows() -> None:
    """A dedupe_ttl shorter than twice a provider's tolerance is a ConfigError."""
    with pytest.raises(ConfigError, match="dedupe_ttl"):
        config(dedupe_ttl=dt.timedelta(minutes=30))


def test_a_config_needs_a_provider() -> None:
    """WebhookConfig() with no provider is a ConfigError."""
    with pytest.raises(ConfigError):
        WebhookConfig()
