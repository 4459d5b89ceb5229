"""The WSGI webhook app served by a real server (wsgiref, threaded, on 127.0.0.1), driven
by a real HTTP client (httpx): signed events of every provider accepted and parsed, a
duplicate not processed twice, a bounce suppressing its address, refusals as 4xx; the SNS
signing certificate and the subscription confirmation fetched over loopback HTTP from
tests/provider_server.py (the host pin injected for the test, as SesConfig documents).

Docs: see the provider modules (src/proper_mail/webhooks/*.py) and the unit tests.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import socket
import socketserver
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import attrs
import httpx
import pytest

from proper_mail.webhooks import (
    DeliveryEvent,
    MailgunConfig,
    MemoryDedupeStore,
    MemorySuppressionStore,
    PostmarkConfig,
    RedisDedupeStore,
    RedisSuppressionStore,
    ResendConfig,
    SendGridConfig,
    SesConfig,
    SnsCertificates,
    WebhookConfig,
    webhook_app,
)
from proper_mail.webhooks.sns_http import confirm_subscription_url
from tests.integration.test_queue_redis import redis_or_skip
from tests.provider_server import ProviderServer, Received, Reply
from tests.unit.webhooks.test_mailgun import FAILED
from tests.unit.webhooks.test_postmark import BOUNCE as POSTMARK_BOUNCE
from tests.unit.webhooks.test_resend import BOUNCED
from tests.unit.webhooks.test_sendgrid import BATCH
from tests.unit.webhooks.test_ses import BOUNCE as SES_BOUNCE
from tests.unit.webhooks.test_ses import CONFIRMATION
from tests.webhook_signing import (
    MAILGUN_KEY,
    RESEND_SECRET,
    TOPIC_ARN,
    basic_auth,
    mailgun_body,
    sendgrid_headers,
    sendgrid_public_key,
    sns_body,
    sns_headers,
    sns_notification,
    sns_signer,
    svix_headers,
)

LOOPBACK = re.compile(r"http://127\.0\.0\.1:\d+")


class _ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


class Receiver:
    """The app on a wsgiref server in a thread, with what its on_event saw."""

    def __init__(self, config: WebhookConfig) -> None:
        self.config = config
        self.events: list[DeliveryEvent] = []
        self.server = make_server(
            "127.0.0.1",
            0,
            webhook_app(config, on_event=self.events.append),
            server_class=_ThreadingWSGIServer,
            handler_class=_QuietHandler,
        )
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def now_ts() -> int:
    return int(time.time())


def sns_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def cert_server() -> Iterator[ProviderServer]:
    """Serves the SNS signing certificate (and the CA) at /cert.pem, and answers the
    SubscribeURL at /confirm."""

    def respond(request: Received) -> Reply:
        if request.path == "/cert.pem":
            return Reply(200, sns_signer().pem(), {"Content-Type": "application/x-pem-file"})
        if request.path.startswith("/confirm?"):
            return Reply(200, b"<ConfirmSubscriptionResponse/>", {"Content-Type": "text/xml"})
        return Reply(404, {"error": "no such object"})

    with ProviderServer(respond) as server:
        yield server


@pytest.fixture
def certificates() -> Iterator[SnsCertificates]:
    """The certificate fetcher (its client closed at teardown)."""
    fetcher = SnsCertificates(timeout=2.0)
    yield fetcher
    fetcher.close()


@pytest.fixture
def config(certificates: SnsCertificates) -> WebhookConfig:
    """Every provider; SNS certificates fetched from the loopback server."""
    return WebhookConfig(
        postmark=PostmarkConfig(username="pm", password="pw"),
        resend=ResendConfig(secret=RESEND_SECRET),
        sendgrid=SendGridConfig(public_key=sendgrid_public_key()),
        mailgun=MailgunConfig(signing_key=MAILGUN_KEY),
        ses=SesConfig(
            topic_arns=[TOPIC_ARN],
            certificate_for=certificates,
            confirm=confirm_subscription_url,
            origin_pattern=LOOPBACK,
        ),
        dedupe=MemoryDedupeStore(),
        suppressions=MemorySuppressionStore(),
    )


@pytest.fixture
def receiver(config: WebhookConfig) -> Iterator[Receiver]:
    """The app served on loopback."""
    running = Receiver(config)
    yield running
    running.close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    """A keep-alive HTTP client with a timeout."""
    with httpx.Client(timeout=10) as client:
        yield client


def ses_message(
    cert_server: ProviderServer, event: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    """An SES event in an SNS Notification signed now, its certificate on the loopback server."""
    return sns_signer().sign(
        sns_notification(event or SES_BOUNCE, timestamp=sns_now(), **kw),
        cert_url=f"{cert_server.url}/cert.pem",
    )


def test_signed_events_of_every_provider_are_accepted_and_parsed(
    receiver: Receiver, client: httpx.Client, cert_server: ProviderServer
) -> None:
    """One signed request per provider: 200, and on_event saw each parsed event."""
    resend_body = json.dumps(BOUNCED).encode()
    sendgrid_body = json.dumps(BATCH).encode()
    mailgun = mailgun_body(FAILED, "tok-e2e-1", timestamp=now_ts())
    ses = ses_message(cert_server)
    requests = [
        ("/resend", svix_headers(resend_body, timestamp=now_ts()), resend_body),
        ("/sendgrid", sendgrid_headers(sendgrid_body, timestamp=now_ts()), sendgrid_body),
        ("/mailgun", {"Content-Type": "application/json"}, mailgun),
        ("/postmark", basic_auth("pm", "pw"), json.dumps(POSTMARK_BOUNCE).encode()),
        ("/ses", sns_headers(ses), sns_body(ses)),
    ]

    statuses = [
        client.post(receiver.url + path, headers=h, content=b).status_code
        for path, h, b in requests
    ]

    assert statuses == [200] * 5
    assert [e.provider for e in receiver.events] == ["resend"] + ["sendgrid"] * 6 + [
        "mailgun",
        "postmark",
        "ses",
    ]
    assert {e.recipient for e in receiver.events if e.kind == "bounced" and e.bounce == "hard"} == {
        "delivered@resend.dev",
        "example@test.com",
        "alice@example.com",
        "john@example.com",
        "recipient@example.com",
    }


def test_a_duplicate_is_not_processed_twice(receiver: Receiver, client: httpx.Client) -> None:
    """The same signed request twice: both 200, the second counted as a duplicate."""
    body = json.dumps(BOUNCED).encode()
    headers = svix_headers(body, timestamp=now_ts())

    first = client.post(receiver.url + "/resend", headers=headers, content=body)
    second = client.post(receiver.url + "/resend/", headers=headers, content=body)

    assert first.json() == {"events": 1, "duplicates": 0}
    assert (second.status_code, second.json()) == (200, {"events": 0, "duplicates": 1})
    assert len(receiver.events) == 1


def test_a_bounce_makes_the_store_suppress_the_address(
    receiver: Receiver, client: httpx.Client, cert_server: ProviderServer
) -> None:
    """An SES hard bounce through HTTP: the suppression list now names the recipient."""
    store = receiver.config.suppressions
    assert store is not None
    assert store.is_suppressed("recipient@example.com") is None
    message = ses_message(cert_server)

    response = client.post(
        receiver.url + "/ses", headers=sns_headers(message), content=sns_body(message)
    )

    assert response.status_code == 200
    assert store.suppressed(["Recipient@Example.com", "other@example.com"]) == {
        "Recipient@Example.com": "hard-bounce"
    }


def test_the_signing_certificate_is_fetched_once(
    receiver: Receiver, client: httpx.Client, cert_server: ProviderServer
) -> None:
    """Two SNS messages signed by one certificate: one GET of SigningCertURL."""
    for n in range(2):
        message = ses_message(cert_server, message_id=f"sns-{n}")
        assert client.post(receiver.url + "/ses", content=sns_body(message)).status_code == 200

    assert [r.path for r in cert_server.received] == ["/cert.pem"]


def test_a_subscription_confirmation_is_confirmed(
    receiver: Receiver, client: httpx.Client, cert_server: ProviderServer
) -> None:
    """A signed SubscriptionConfirmation: its SubscribeURL is fetched; 200, no event."""
    subscribe_url = f"{cert_server.url}/confirm?Action=ConfirmSubscription&Token=abc"
    message = sns_signer().sign(
        {**CONFIRMATION, "SubscribeURL": subscribe_url, "Timestamp": sns_now().isoformat()},
        cert_url=f"{cert_server.url}/cert.pem",
    )

    response = client.post(
        receiver.url + "/ses", headers=sns_headers(message), content=sns_body(message)
    )

    assert (response.status_code, response.json()) == (200, {"events": 0, "duplicates": 0})
    assert [r.path for r in cert_server.received] == [
        "/cert.pem",
        "/confirm?Action=ConfirmSubscription&Token=abc",
    ]
    assert receiver.events == []


def test_a_missing_certificate_is_refused(
    receiver: Receiver, client: httpx.Client, cert_server: ProviderServer
) -> None:
    """A pinned URL answering 404: 403 (no such certificate), not retried."""
    message = sns_signer().sign(
        sns_notification(SES_BOUNCE, timestamp=sns_now()), cert_url=f"{cert_server.url}/gone.pem"
    )

    response = client.post(receiver.url + "/ses", content=sns_body(message))

    assert response.status_code == 403


def test_an_unreachable_certificate_host_is_503(
    config: WebhookConfig, client: httpx.Client, cert_server: ProviderServer
) -> None:
    """The certificate cannot be fetched (refused connection): 503 so SNS retries."""
    with socket.socket() as unused:  # a port nothing listens on
        unused.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{unused.getsockname()[1]}"
    receiver = Receiver(config)
    try:
        message = sns_signer().sign(
            sns_notification(SES_BOUNCE, timestamp=sns_now()), cert_url=f"{url}/cert.pem"
        )

        response = client.post(receiver.url + "/ses", content=sns_body(message))
    finally:
        receiver.close()

    assert (response.status_code, response.headers["retry-after"]) == (503, "60")


def test_a_slow_certificate_host_times_out_as_503(
    config: WebhookConfig, client: httpx.Client
) -> None:
    """A certificate host slower than the fetch timeout: 503, in about the timeout."""
    release = threading.Event()

    def slow(request: Received) -> Reply:
        release.wait(10)
        return Reply(200, sns_signer().pem())

    fetcher = SnsCertificates(timeout=0.3)
    fast = SesConfig(
        topic_arns=[TOPIC_ARN],
        certificate_for=fetcher,
        origin_pattern=LOOPBACK,
        confirm=None,
    )
    with ProviderServer(slow) as slow_server:
        receiver = Receiver(WebhookConfig(ses=fast))
        try:
            message = sns_signer().sign(
                sns_notification(SES_BOUNCE, timestamp=sns_now()),
                cert_url=f"{slow_server.url}/cert.pem",
            )
            started = time.monotonic()
            response = client.post(receiver.url + "/ses", content=sns_body(message))
            elapsed = time.monotonic() - started
        finally:
            release.set()
            receiver.close()
            fetcher.close()

    assert response.status_code == 503
    assert elapsed < 5


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("POST", "/resend", {}, b"{}", 403),
        ("POST", "/postmark", {}, b"{}", 401),
        ("POST", "/postmark", basic_auth("pm", "pw"), b"not json", 400),
        ("GET", "/resend", {}, b"", 405),
        ("POST", "/smtp", {}, b"{}", 404),
        ("POST", "/resend", {}, b"x" * (1024 * 1024 + 1), 413),
    ],
    ids=["unsigned", "no-auth", "malformed", "get", "unknown", "too-large"],
)
def test_refusals_over_http(
    receiver: Receiver,
    client: httpx.Client,
    method: str,
    path: str,
    headers: dict[str, str],
    body: bytes,
    status: int,
) -> None:
    """Unverified, malformed, wrong method or path, too large: the 4xx for each."""
    response = client.request(method, receiver.url + path, headers=headers, content=body)

    assert response.status_code == status
    assert "error" in response.json()
    if status == 405:
        assert response.headers["allow"] == "POST"
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Basic")


def test_a_failing_handler_answers_500_and_the_retry_is_processed(
    config: WebhookConfig, client: httpx.Client
) -> None:
    """on_event raising once: 500; the provider's retry of the same request: 200, processed."""
    seen: list[str] = []

    def handler(event: DeliveryEvent) -> None:
        seen.append(event.event_id)
        if len(seen) == 1:
            raise RuntimeError("the database is down")

    server = make_server(
        "127.0.0.1",
        0,
        webhook_app(config, on_event=handler),
        server_class=_ThreadingWSGIServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    body = json.dumps(BOUNCED).encode()
    headers = svix_headers(body, timestamp=now_ts())
    try:
        url = f"http://127.0.0.1:{server.server_port}/resend"
        statuses = [client.post(url, headers=headers, content=body).status_code for _ in range(3)]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

    assert statuses == [500, 200, 200]
    assert len(seen) == 2


def test_a_bounce_through_the_redis_stores(
    config: WebhookConfig, client: httpx.Client, cert_server: ProviderServer
) -> None:
    """With the Redis dedupe store and suppression list: suppressed, and a duplicate skipped."""
    redis_client = redis_or_skip()
    namespace = f"pmtest-{uuid.uuid4().hex[:12]}"
    store = RedisSuppressionStore(redis_client, namespace=f"{namespace}:suppressions")
    redis_config = attrs.evolve(
        config,
        suppressions=store,
        dedupe=RedisDedupeStore(redis_client, namespace=f"{namespace}:seen"),
    )
    receiver = Receiver(redis_config)
    message = ses_message(cert_server)
    try:
        replies = [
            client.post(
                receiver.url + "/ses", headers=sns_headers(message), content=sns_body(message)
            ).json()
            for _ in range(2)
        ]
    finally:
        receiver.close()
        keys = list(redis_client.scan_iter(match=f"{namespace}:*"))
        suppressed = store.suppressed(["recipient@example.com"])
        if keys:
            redis_client.delete(*keys)
        redis_client.close()

    assert replies == [{"events": 1, "duplicates": 0}, {"events": 0, "duplicates": 1}]
    assert suppressed == {"recipient@example.com": "hard-bounce"}
