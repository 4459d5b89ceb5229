"""Send hooks, MAILER_INTERCEPT_TO and the suppression list, the way an app uses them:
through configure() settings, in send() and in a Dramatiq worker (StubBroker + Worker),
and a bounce received by the webhook app suppressing the next send to that address."""

from __future__ import annotations

import base64
import json
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import attrs
import dramatiq
import httpx
import pytest

import proper_mail
from proper_mail import (
    ConfigError,
    EmailMessage,
    HookError,
    Mail,
    Message,
    PermanentDeliveryError,
    SendResult,
    Skip,
    ToMemoryMailer,
)
from proper_mail.testing import outbox
from proper_mail.webhooks import PostmarkConfig, WebhookConfig, webhook_app
from tests.integration.test_queue_redis import redis_or_skip
from tests.integration.test_queue_stub import drain
from tests.unit.webhooks.test_postmark import BOUNCE as POSTMARK_BOUNCE

calls: list[tuple[str, Any]] = []


def mark_subject(message: Message) -> Message:
    """A before_send hook from settings (a dotted path): tags every subject."""
    calls.append(("before", message.subject))
    return attrs.evolve(message, subject=f"[app] {message.subject}")


def cancel_newsletters(message: Message) -> Skip | None:
    """Cancels anything tagged newsletter."""
    return Skip("newsletters are paused") if "newsletter" in message.tags else None


def record_result(message: Message, result: SendResult) -> None:
    """An after_send hook: sees every result."""
    calls.append(("after", result))


def record_failure(message: Message, error: Exception) -> None:
    """An on_failure hook: sees every failure."""
    calls.append(("failure", type(error).__name__))


def broken_after(message: Message, result: SendResult) -> None:
    """An after_send hook with a bug."""
    raise RuntimeError("metrics backend down")


def broken_before(message: Message) -> None:
    """A before_send hook with a bug."""
    raise KeyError("user_id")


class RefusingMailer(ToMemoryMailer):
    """Refuses every message for good (a 5xx)."""

    def deliver(self, message: Message) -> SendResult:
        raise PermanentDeliveryError("554 no", code=554)


HOOKS = {
    "MAILER_BEFORE_SEND": [f"{__name__}.mark_subject", cancel_newsletters],
    "MAILER_AFTER_SEND": [record_result],
    "MAILER_ON_FAILURE": f"{__name__}.record_failure",
}


def settings(**extra: Any) -> dict[str, Any]:
    return {
        "MAILERS": {"memory": {"type": ToMemoryMailer}, "refusing": {"type": RefusingMailer}},
        "MAILER": "memory",
        "MAILER_DEFAULT_OPTIONS": {"from": "app@example.com"},
        **extra,
    }


@pytest.fixture(autouse=True)
def _clear() -> Iterator[None]:
    calls.clear()
    yield
    calls.clear()


@pytest.fixture
def mail() -> Iterator[Mail]:
    configured = proper_mail.configure(settings(**HOOKS))
    yield configured
    configured.close()


def test_hooks_from_settings_run_around_send(mail: Mail) -> None:
    """The before hook's change is what is sent; the after hook sees the result."""
    result = EmailMessage(to="a@example.com", subject="Hi", body="x").send()

    assert outbox(mail)[-1]["Subject"] == "[app] Hi"
    assert calls == [("before", "Hi"), ("after", result)]


def test_a_cancelled_message_is_reported_not_sent(mail: Mail) -> None:
    """A Skip: nothing sent, every recipient cancelled with the reason, no error."""
    result = EmailMessage(to="a@example.com", body="x", tags=["newsletter"]).send()

    assert outbox(mail) == []
    assert result.cancelled == ("a@example.com",)
    assert result.recipients[0].detail == "newsletters are paused"
    assert not result.sent


def test_a_failure_reaches_on_failure(mail: Mail) -> None:
    """A permanent refusal is raised to the caller and reported to on_failure."""
    with pytest.raises(PermanentDeliveryError):
        proper_mail.send(EmailMessage(to="a@example.com", body="x"), via="refusing")

    assert ("failure", "PermanentDeliveryError") in calls


def test_a_before_send_bug_is_raised_and_nothing_sent() -> None:
    """A before hook's exception is a HookError (cause kept), reported, never swallowed."""
    mail = proper_mail.configure(
        settings(MAILER_BEFORE_SEND=[broken_before], MAILER_ON_FAILURE=[record_failure])
    )

    with pytest.raises(HookError) as info:
        EmailMessage(to="a@example.com", body="x").send()

    assert isinstance(info.value.__cause__, KeyError)
    assert info.value.hook == "broken_before"
    assert "KeyError: 'user_id'" in str(info.value)
    assert outbox(mail) == []
    assert calls == [("failure", "KeyError")]
    mail.close()


def test_an_after_send_bug_says_the_message_was_sent(caplog: pytest.LogCaptureFixture) -> None:
    """An after hook's error is raised with the SendResult: the caller must not resend."""
    mail = proper_mail.configure(settings(MAILER_AFTER_SEND=[broken_after]))

    with caplog.at_level(logging.ERROR, "proper_mail"), pytest.raises(HookError) as info:
        EmailMessage(to="a@example.com", body="x").send()

    assert len(outbox(mail)) == 1
    assert isinstance(info.value.results[0], SendResult)
    assert info.value.hook == "broken_after"
    assert "metrics backend down" in str(info.value)
    assert "the message was sent" in caplog.text
    mail.close()


def test_decorated_hooks_register_on_the_mail(mail: Mail) -> None:
    """@mail.before_send adds a hook after the ones from settings."""

    @mail.before_send
    def shout(message: Message) -> Message:
        return attrs.evolve(message, subject=message.subject.upper())

    EmailMessage(to="a@example.com", subject="Hi", body="x").send()

    assert outbox(mail)[-1]["Subject"] == "[APP] HI"


@pytest.fixture
def worker_mail() -> Iterator[Mail]:
    mail = Mail.from_settings(settings(QUEUE="stub", **HOOKS))
    assert mail.queue.broker is not None
    worker = dramatiq.Worker(mail.queue.broker, worker_timeout=50)
    worker.start()
    with proper_mail.using(mail):
        yield mail
    worker.stop()
    mail.close()


def test_hooks_run_in_the_worker(worker_mail: Mail) -> None:
    """send_later -> a Dramatiq worker: the same hooks run there, once."""
    EmailMessage(to="a@example.com", subject="Later", body="x").send_later()
    EmailMessage(to="b@example.com", body="x", tags=["newsletter"]).send_later()
    drain(worker_mail)

    assert [m["Subject"] for m in outbox(worker_mail)] == ["[app] Later"]
    results = [value for kind, value in calls if kind == "after"]
    assert sorted(r.accepted + r.cancelled for r in results) == [
        ("a@example.com",),
        ("b@example.com",),
    ]


def test_an_after_send_bug_in_the_worker_does_not_resend(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The worker logs the hook's error and does not retry: the message was sent once."""
    mail = Mail.from_settings(settings(QUEUE="stub", MAILER_AFTER_SEND=[broken_after]))
    assert mail.queue.broker is not None
    worker = dramatiq.Worker(mail.queue.broker, worker_timeout=50)
    worker.start()
    try:
        with proper_mail.using(mail), caplog.at_level(logging.ERROR, "proper_mail"):
            EmailMessage(to="a@example.com", body="x").send_later()
            drain(mail)
    finally:
        worker.stop()
        mail.close()

    assert len(outbox(mail)) == 1
    assert "not retried" in caplog.text


def test_intercept_to_rewrites_recipients_outside_production() -> None:
    """MAILER_INTERCEPT_TO: to/cc/bcc go to staging, allow-listed ones still get it,
    and the original recipients are in the headers."""
    mail = proper_mail.configure(
        settings(
            APP_ENV="staging",
            MAILER_INTERCEPT_TO="staging@example.com",
            MAILER_INTERCEPT_ALLOW=["*@mycompany.com"],
        )
    )

    result = EmailMessage(
        to="customer@example.org", cc="boss@mycompany.com", bcc="audit@example.org", body="x"
    ).send()

    sent = outbox(mail)[-1]
    assert sent["To"] == "staging@example.com"
    assert sent["Cc"] == "boss@mycompany.com"
    assert sent["X-Original-To"] == "customer@example.org"
    assert sent["X-Original-Bcc"] is None  # boss gets this copy: Bcc stays hidden
    assert result.accepted == ("staging@example.com", "boss@mycompany.com")
    mail.close()


def test_a_suppressed_allowed_recipient_stays_suppressed_when_intercepting() -> None:
    """The suppression check runs before the interceptor, and the interceptor keeps
    what it removed out: an allow-listed but suppressed address is not sent to."""
    mail = proper_mail.configure(
        settings(
            APP_ENV="staging",
            MAILER_INTERCEPT_TO="staging@example.com",
            MAILER_INTERCEPT_ALLOW=["*@mycompany.com"],
            MAILER_SUPPRESSIONS="memory",
        )
    )
    assert mail.suppressions is not None
    mail.suppressions.add("boss@mycompany.com", "hard-bounce")

    result = EmailMessage(to="customer@example.org", cc="boss@mycompany.com", body="x").send()

    assert result.accepted == ("staging@example.com",)
    assert result.suppressed == ("boss@mycompany.com",)
    assert mail.mailer.envelopes[-1].recipients == ("staging@example.com",)  # type: ignore[attr-defined]
    mail.close()


def test_intercept_to_is_refused_in_production_unless_forced() -> None:
    """APP_ENV=prod with MAILER_INTERCEPT_TO is a ConfigError; MAILER_INTERCEPT_FORCE
    lets it be."""
    with pytest.raises(ConfigError, match="APP_ENV is 'prod'"):
        Mail.from_settings(settings(APP_ENV="prod", MAILER_INTERCEPT_TO="qa@example.com"))

    forced = Mail.from_settings(
        settings(APP_ENV="prod", MAILER_INTERCEPT_TO="qa@example.com", MAILER_INTERCEPT_FORCE=True)
    )
    assert forced.interceptor is not None


def test_suppressed_recipients_are_reported_and_not_sent() -> None:
    """MAILER_SUPPRESSIONS: a suppressed address is skipped and reported `suppressed`."""
    mail = proper_mail.configure(settings(MAILER_SUPPRESSIONS="memory"))
    assert mail.suppressions is not None
    mail.suppressions.add("Gone@Example.com", "hard-bounce")

    result = EmailMessage(to=["gone@example.com", "ok@example.com"], body="x").send()

    assert result.accepted == ("ok@example.com",)
    assert result.suppressed == ("gone@example.com",)
    assert mail.mailer.envelopes[-1].recipients == ("ok@example.com",)  # type: ignore[attr-defined]
    assert outbox(mail)[-1]["To"] == "gone@example.com, ok@example.com"
    mail.close()


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_a_bounce_webhook_suppresses_the_next_send(store: str) -> None:
    """End to end: Postmark posts a hard bounce to the WSGI webhook app (a real server
    and HTTP client); the next send to that address is suppressed, and says so."""
    extra: dict[str, Any] = {"MAILER_SUPPRESSIONS": "memory"}
    namespace = f"test-hooks-{uuid.uuid4().hex[:8]}"
    if store == "redis":
        redis_or_skip()
        extra = {
            "MAILER_SUPPRESSIONS": "redis://127.0.0.1:6379/0",
            "QUEUE_NAMESPACE": namespace,
        }
    mail = proper_mail.configure(settings(**extra))
    assert mail.suppressions is not None
    config = WebhookConfig(
        postmark=PostmarkConfig(username="hooks", password="s3cret-hook"),
        suppressions=mail.suppressions,
    )
    server = make_server("127.0.0.1", 0, webhook_app(config), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    bounce = {**POSTMARK_BOUNCE, "Email": "bounced@example.com"}
    auth = base64.b64encode(b"hooks:s3cret-hook").decode()
    try:
        response = httpx.post(
            f"http://127.0.0.1:{server.server_port}/postmark",
            content=json.dumps(bounce),
            headers={"Authorization": f"Basic {auth}", "Content-Type": "application/json"},
            timeout=10,
        )

        result = EmailMessage(to=["bounced@example.com", "fine@example.com"], body="x").send()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
        if store == "redis":
            client = mail.suppressions.client  # type: ignore[attr-defined]
            for key in client.scan_iter(f"{namespace}:*"):
                client.delete(key)
        mail.close()

    assert response.status_code == 200
    assert result.suppressed == ("bounced@example.com",)
    assert "hard" in result.recipients[-1].detail
    assert result.accepted == ("fine@example.com",)


def test_calling_the_mailer_directly_cannot_bypass_the_interceptor() -> None:
    """app.mailer.send_now() (the guide's direct call) is intercepted too, and a message
    that passes both the Mail and the mailer is rewritten once, not twice."""
    mail = proper_mail.configure(
        settings(APP_ENV="staging", MAILER_INTERCEPT_TO="staging@example.com")
    )

    mail.mailer.send_now(EmailMessage(to="customer@example.org", body="x"))
    proper_mail.send(EmailMessage(to="other@example.org", body="x"))

    first, second = outbox(mail)
    assert first["To"] == "staging@example.com"
    assert first["X-Original-To"] == "customer@example.org"
    assert second["X-Original-To"] == "other@example.org"
    assert mail.mailer.envelopes[-1].recipients == ("staging@example.com",)  # type: ignore[attr-defined]
    mail.close()


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("MAILER_INTERCEPT", "MAILER_INTERCEPT_TO"),
        ("MAILER_SUPRESSIONS", "MAILER_SUPPRESSIONS"),
        ("MAILER_BEFOR_SEND", "MAILER_BEFORE_SEND"),
        ("MAILER_DEFAULT_OPTION", "MAILER_DEFAULT_OPTIONS"),
    ],
)
def test_a_misspelt_mailer_setting_is_a_config_error(key: str, suggestion: str) -> None:
    """A typo in a MAILER_* name is refused with the likely name, not silently ignored
    (a misspelt MAILER_INTERCEPT_TO would mail customers from staging)."""
    with pytest.raises(ConfigError, match=f"unknown setting {key}; did you mean {suggestion}"):
        Mail.from_settings(settings(**{key: "x"}))


@pytest.mark.parametrize("env", ["prod", "production", "PROD", " Production "])
def test_every_spelling_of_production_refuses_the_interceptor(env: str) -> None:
    """APP_ENV production, in any case, counts as production."""
    with pytest.raises(ConfigError, match="MAILER_INTERCEPT_TO is set while APP_ENV"):
        Mail.from_settings(settings(APP_ENV=env, MAILER_INTERCEPT_TO="qa@example.com"))
