"""send_later through Dramatiq's StubBroker and a Worker: retries by class, the ledger."""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import attrs
import dramatiq
import pytest
import redis
from dramatiq.brokers.stub import StubBroker
from hypothesis import given, settings
from hypothesis import strategies as st

import proper_mail
from proper_mail import (
    BaseMailer,
    ConfigError,
    EmailMessage,
    EmailMessageDict,
    LedgerUnavailable,
    Mail,
    Message,
    PayloadTooLarge,
    PermanentDeliveryError,
    QueueUnavailable,
    RecipientStatus,
    SendResult,
    SerializationError,
    ToMemoryMailer,
    TransientDeliveryError,
)
from proper_mail.core.compose import compose
from proper_mail.core.mime import envelope_of
from proper_mail.core.records import Stamp
from proper_mail.tasks import GiveUp
from proper_mail.tasks.ledger import Claim, MemoryLedger, RedisLedger
from proper_mail.tasks.serialization import dump_message, load_message
from proper_mail.testing import outbox
from tests.strategies import compose_fields

STAMP = Stamp(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC), "t")


class ScriptedMailer(BaseMailer):
    """A mailer that plays a script of outcomes, then accepts; it records each attempt."""

    script: ClassVar[list[str]] = []
    attempts: ClassVar[list[tuple[str, ...]]] = []

    def deliver(self, message: Message) -> SendResult:
        envelope = envelope_of(message, self.policy)
        type(self).attempts.append(envelope.recipients)
        step = type(self).script.pop(0) if type(self).script else "ok"
        if step == "transient":
            raise TransientDeliveryError("451 4.3.0 try later", code=451)
        if step == "retry-after":
            raise TransientDeliveryError("421 slow down", code=421, retry_after=120)
        if step == "permanent":
            raise PermanentDeliveryError("554 5.7.1 rejected", code=554)
        if step == "defer-second":
            first, *rest = envelope.recipients
            statuses = (
                RecipientStatus(first, "sent", 250),
                *tuple(RecipientStatus(r, "deferred", 450) for r in rest),
            )
            return SendResult(message.message_id, self.alias, statuses)
        return SendResult(
            message.message_id,
            self.alias,
            tuple(RecipientStatus(r, "sent", 250) for r in envelope.recipients),
        )


given_up: list[GiveUp] = []


def record_give_up(event: GiveUp) -> None:
    """The QUEUE_ON_GIVE_UP hook of these tests."""
    given_up.append(event)


def settings_for(queue: str, **extra: Any) -> dict[str, Any]:
    """A Mail config with a memory and a scripted mailer and fast retries."""
    return {
        "MAILERS": {
            "memory": {"type": ToMemoryMailer},
            "scripted": {"type": ScriptedMailer},
            "smtp": {
                "type": "proper_mail.SMTPMailer",
                "host": "127.0.0.1",
                "port": 1,
                "username": "u",
                "password": "hunter2-smtp",
                "use_tls": True,
            },
        },
        "MAILER": "memory",
        "MAILER_DEFAULT_OPTIONS": {"from": "no-reply@example.com"},
        "QUEUE": queue,
        "QUEUE_MIN_BACKOFF": 0.01,
        "QUEUE_MAX_BACKOFF": 0.05,
        "QUEUE_MAX_RETRIES": 3,
        "QUEUE_ON_GIVE_UP": "tests.integration.test_queue_stub.record_give_up",
        **extra,
    }


@pytest.fixture
def stub() -> Iterator[tuple[Mail, dramatiq.Worker]]:
    """A current Mail on a StubBroker, with a running Worker."""
    previous = proper_mail.mail._current
    mail = proper_mail.configure(settings_for("stub"))
    ScriptedMailer.script, ScriptedMailer.attempts = [], []
    given_up.clear()
    broker = mail.queue.broker
    assert broker is not None

    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    yield mail, worker
    worker.stop()
    broker.close()
    proper_mail.mail._current = previous


def drain(mail: Mail) -> None:
    """Wait until the emails queue is empty and no message is in flight."""
    broker = mail.queue.broker
    assert isinstance(broker, StubBroker)
    broker.join("emails", fail_fast=False, timeout=10_000)


def test_send_later_goes_through_the_worker(stub: tuple[Mail, dramatiq.Worker]) -> None:
    """send_later -> StubBroker -> Worker -> the memory outbox."""
    mail, _ = stub

    EmailMessage(to="a@example.com", subject="Later", body="x").send_later()
    drain(mail)

    assert outbox(mail)[-1]["Subject"] == "Later"


def test_transient_failures_are_retried_then_delivered(stub: tuple[Mail, dramatiq.Worker]) -> None:
    """Two 451s, then success: three attempts, one delivery, nothing given up."""
    mail, _ = stub
    ScriptedMailer.script = ["transient", "transient"]

    EmailMessage(to="a@example.com", body="x").send_later(via="scripted")
    drain(mail)

    assert len(ScriptedMailer.attempts) == 3
    assert given_up == []


def test_permanent_failures_are_attempted_once(stub: tuple[Mail, dramatiq.Worker]) -> None:
    """A 554 is not retried; the give-up hook hears about it."""
    mail, _ = stub
    ScriptedMailer.script = ["permanent"]

    EmailMessage(to="a@example.com", body="x").send_later(via="scripted")
    drain(mail)

    assert len(ScriptedMailer.attempts) == 1
    assert [g.reason for g in given_up] == ["permanent"]
    assert given_up[0].recipients == ("a@example.com",)


def test_retries_run_out_and_are_reported(stub: tuple[Mail, dramatiq.Worker]) -> None:
    """Always 451: 1 + QUEUE_MAX_RETRIES attempts, then the hook and an ERROR log."""
    mail, _ = stub
    ScriptedMailer.script = ["transient"] * 10

    EmailMessage(to="a@example.com", body="x").send_later(via="scripted")
    drain(mail)

    assert len(ScriptedMailer.attempts) == 4
    assert [g.reason for g in given_up] == ["retries exhausted"]


def test_only_deferred_recipients_are_retried(stub: tuple[Mail, dramatiq.Worker]) -> None:
    """a@ accepts, b@ and c@ are deferred: the retry goes to b@ and c@ only."""
    mail, _ = stub
    ScriptedMailer.script = ["defer-second"]

    EmailMessage(to=["a@example.com", "b@example.com"], cc="c@example.com", body="x").send_later(
        via="scripted"
    )
    drain(mail)

    assert ScriptedMailer.attempts == [
        ("a@example.com", "b@example.com", "c@example.com"),
        ("b@example.com", "c@example.com"),
    ]


def test_an_unreadable_payload_is_not_retried(stub: tuple[Mail, dramatiq.Worker]) -> None:
    """A payload that cannot be loaded: SerializationError, one attempt, reported."""
    mail, _ = stub
    actor = mail.queue.send_task.actor
    assert actor is not None

    actor.send_with_options(kwargs={"message": {"to": "nobody"}, "via": None})
    drain(mail)

    assert [g.reason for g in given_up] == ["unreadable"]


def test_unknown_via_fails_at_the_call_site(stub: tuple[Mail, dramatiq.Worker]) -> None:
    """send_later(via="nope") raises ConfigError now, not later in a worker."""
    with pytest.raises(ConfigError, match="Unknown mailer 'nope'"):
        EmailMessage(to="a@example.com", body="x").send_later(via="nope")


def test_the_payload_size_is_capped(stub: tuple[Mail, dramatiq.Worker]) -> None:
    """A payload over QUEUE_MAX_PAYLOAD raises PayloadTooLarge (a MessageError) at enqueue,
    before any JSON is built."""
    mail = Mail.from_settings(settings_for("immediate", QUEUE_MAX_PAYLOAD=10_000))

    with pytest.raises(PayloadTooLarge, match=r"over QUEUE_MAX_PAYLOAD \(10000 bytes\)"):
        mail.send_later(mail.compose(to="a@example.com", body="x" * 20_000))


def test_the_payload_holds_no_credentials(stub: tuple[Mail, dramatiq.Worker]) -> None:
    """Queued via the SMTP mailer: the payload names the alias, never host or password."""
    mail = Mail.from_settings(settings_for("stub"))  # no worker: the message stays queued
    broker = mail.queue.broker
    assert isinstance(broker, StubBroker)

    EmailMessage(to="a@example.com", body="x").send_later(via="smtp", mail=mail)

    sent = broker.queues["emails"].get_nowait().decode()
    assert '"via":"smtp"' in sent
    assert "hunter2-smtp" not in sent
    assert "127.0.0.1" not in sent
    mail.close()


def test_immediate_mode_round_trips_through_json() -> None:
    """QUEUE=immediate runs the task at once, on arguments that went through JSON."""
    mail = Mail.from_settings(settings_for("immediate"))
    seen: list[Any] = []

    @mail.queue.task()
    def task(message: dict[str, Any], via: str | None = None) -> None:
        seen.append(message)

    record = mail.compose(to="a@example.com", body="x", headers={"X-Id": 7})
    task(message=dump_message(record), via=None)

    assert seen == [json.loads(json.dumps(dump_message(record)))]
    assert load_message(seen[0]) == record


def test_immediate_send_later_delivers_at_once() -> None:
    """In dev and test send_later behaves like send (the guide, 6.3)."""
    mail = Mail.from_settings(settings_for("immediate"))

    mail.send_later(mail.compose(to="a@example.com", subject="Now", body="x"))

    assert outbox(mail)[-1]["Subject"] == "Now"


def test_a_redelivered_message_is_skipped() -> None:
    """The ledger: delivering the same payload twice sends it once."""
    mail = Mail.from_settings(settings_for("immediate"))
    payload = dump_message(mail.compose(to="a@example.com", body="x"))

    first = mail.queue.deliver(payload)
    second = mail.queue.deliver(payload)

    assert first is not None
    assert second is None
    assert len(outbox(mail)) == 1


def closed_port() -> int:
    """A loopback TCP port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class CountingLedger(RedisLedger):
    """A RedisLedger that counts its claims (each attempt claims once)."""

    reads = 0

    def claim(
        self, message_id: str, recipients: Sequence[str], token: str, lease_seconds: float
    ) -> Claim:
        self.reads += 1
        return super().claim(message_id, recipients, token, lease_seconds)


def test_an_unreachable_ledger_sends_nothing_and_is_retried(
    stub: tuple[Mail, dramatiq.Worker],
) -> None:
    """Redis refusing connections before the send: LedgerUnavailable (transient), so
    Dramatiq retries; nothing is sent meanwhile; after the last retry the hook hears."""
    mail, _ = stub
    # from_url, as Dramatiq's RedisBroker builds its client: no retries inside redis-py
    unreachable = redis.Redis.from_url(
        f"redis://127.0.0.1:{closed_port()}/0", socket_connect_timeout=1
    )
    ledger = CountingLedger(unreachable, namespace="pmtest-unreachable")
    mail.queue.ledger = ledger

    EmailMessage(to="a@example.com", body="x").send_later(via="scripted")
    drain(mail)

    assert ledger.reads == 4  # the first attempt and QUEUE_MAX_RETRIES (3) retries
    assert ScriptedMailer.attempts == []
    assert [g.reason for g in given_up] == ["ledger unavailable"]
    assert "the idempotency ledger could not be read" in given_up[0].error
    assert given_up[0].recipients == ("a@example.com",)


class WriteFailingLedger(MemoryLedger):
    """Claims work, settling fails (Redis went away between the claim and the settle)."""

    def settle(
        self, message_id: str, done: Iterable[str], claimed: Iterable[str], token: str
    ) -> None:
        raise LedgerUnavailable("the idempotency ledger could not be written: ConnectionError")


def test_a_failed_ledger_write_after_sending_never_resends(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The mailer took the message, the record failed: deliver returns (no retry, which
    would send a second copy) and logs an ERROR naming the message."""
    mail = Mail.from_settings(settings_for("immediate"))
    mail.queue.ledger = WriteFailingLedger()
    record = mail.compose(to="a@example.com", body="x")

    with caplog.at_level(logging.ERROR, logger="proper_mail.tasks"):
        result = mail.queue.deliver(dump_message(record))

    assert result is not None
    assert result.accepted == ("a@example.com",)
    assert len(outbox(mail)) == 1
    assert [r.levelname for r in caplog.records] == ["ERROR"]
    assert record.message_id in caplog.records[0].getMessage()


def test_deferred_recipients_are_reported_not_retried_without_a_ledger_write() -> None:
    """a@ accepted, b@ deferred, and the ledger write failed: a retry could not know a@
    has the message, so b@ goes to the give-up hook instead of a second copy for a@."""
    given_up.clear()
    ScriptedMailer.script, ScriptedMailer.attempts = ["defer-second"], []
    mail = Mail.from_settings(settings_for("immediate"))
    mail.queue.ledger = WriteFailingLedger()

    result = mail.queue.deliver(
        dump_message(mail.compose(to=["a@example.com", "b@example.com"], body="x")),
        via="scripted",
    )

    assert result is not None
    assert result.deferred == ("b@example.com",)
    assert ScriptedMailer.attempts == [("a@example.com", "b@example.com")]
    assert [(g.reason, g.recipients) for g in given_up] == [
        ("ledger unavailable", ("b@example.com",))
    ]


def test_logs_name_the_message_not_the_people(caplog: pytest.LogCaptureFixture) -> None:
    """INFO: Message-ID, mailer alias, recipient count; addresses only at DEBUG; the body
    and the subject never."""
    mail = Mail.from_settings(settings_for("immediate"))
    record = mail.compose(
        to=["alice@example.com", "bob@example.com"], subject="Secret plans", body="top secret"
    )

    with caplog.at_level(logging.INFO, logger="proper_mail"):
        mail.queue.deliver(dump_message(record))
    info = [r.getMessage() for r in caplog.records]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="proper_mail"):
        mail.queue.deliver(dump_message(attrs.evolve(record, message_id="<other@example.com>")))
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]

    assert info == [f"sent {record.message_id} via memory to 2 recipient(s)"]
    assert debug == ["sent <other@example.com> to alice@example.com, bob@example.com"]
    assert not any("secret" in line.lower() for line in info + debug)


def test_immediate_mode_raises_a_transient_failure_to_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """QUEUE=immediate retries nothing: a 421 is raised to the caller, and the log line
    says so (it does not claim a retry)."""
    given_up.clear()
    mail = Mail.from_settings(settings_for("immediate"))
    ScriptedMailer.script = ["retry-after"]

    with (
        caplog.at_level(logging.WARNING, logger="proper_mail.tasks"),
        pytest.raises(TransientDeliveryError, match="421"),
    ):
        mail.send_later(mail.compose(to="a@example.com", body="x"), via="scripted")

    assert "retrying" not in caplog.text
    assert "immediate mode: raised to the caller, not retried" in caplog.text
    assert "via scripted" in caplog.text
    assert given_up == []


def test_an_expired_message_is_dropped_and_reported() -> None:
    """max_age: a password reset older than that is never sent late."""
    given_up.clear()
    mail = Mail.from_settings(settings_for("immediate"))

    class ResetEmail(EmailMessage):
        max_age = 3600
        body = "x"

    record = ResetEmail(to="a@example.com").to_message(mail)
    late = attrs.evolve(record, expires=record.date - dt.timedelta(seconds=1))

    assert mail.queue.deliver(dump_message(late)) is None
    assert outbox(mail) == []
    assert [g.reason for g in given_up] == ["expired"]
    assert record.expires == record.date + dt.timedelta(hours=1)


@settings(max_examples=80, deadline=None)
@given(
    fields=compose_fields(),
    tags=st.lists(st.text(min_size=1, max_size=10).filter(lambda t: t.isprintable()), max_size=3),
    expires=st.booleans(),
    options=st.dictionaries(
        st.sampled_from(["postmark", "ses", "resend"]),
        st.dictionaries(
            st.text(min_size=1, max_size=8),
            st.recursive(
                st.none() | st.booleans() | st.integers() | st.text(max_size=8),
                lambda inner: (
                    st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3)
                ),
                max_leaves=6,
            ),
            max_size=3,
        ),
        max_size=2,
    ),
)
def test_every_record_round_trips_through_the_payload(
    fields: dict[str, Any], tags: list[str], expires: bool, options: dict[str, Any]
) -> None:
    """Hypothesis: any composed record -> payload -> JSON -> load is the same record."""
    record = compose(
        stamp=STAMP,
        tags=tags,
        metadata={"k": "v"},
        provider_options=options,
        expires=STAMP.date + dt.timedelta(hours=1) if expires else None,
        **fields,
    )
    if record.to:
        record = attrs.evolve(record, envelope_to=(record.to[0].addr_spec,))

    assert load_message(json.loads(json.dumps(dump_message(record)))) == record


def test_a_payload_of_another_version_is_refused() -> None:
    """The schema version is checked: a future payload is a SerializationError."""
    payload = dump_message(compose(stamp=STAMP, from_email="a@example.com", to="b@example.com"))

    with pytest.raises(SerializationError, match="version 2"):
        load_message({**payload, "v": 2})


class ForeignErrorMailer(BaseMailer):
    """The guide's 7.5 shape, failing the way an HTTP client does: not our error."""

    def send_now(self, *messages: Any) -> int:
        raise RuntimeError("HTTPStatusError: 500 Internal Server Error")


def stub_mail(**extra: Any) -> tuple[Mail, dramatiq.Worker]:
    """A Mail on a StubBroker (not made current) with a running Worker."""
    settings = settings_for("stub", **extra)
    settings["MAILERS"] = {**settings["MAILERS"], "foreign": {"type": ForeignErrorMailer}}
    mail = Mail.from_settings(settings)
    broker = mail.queue.broker
    assert broker is not None
    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    return mail, worker


def run_and_report(
    mail: Mail, worker: dramatiq.Worker, caplog: pytest.LogCaptureFixture, send: Any
) -> list[str]:
    """Run *send*, drain the queue, stop; return the ERROR lines of proper_mail."""
    given_up.clear()
    ScriptedMailer.script, ScriptedMailer.attempts = [], []
    try:
        with caplog.at_level(logging.ERROR, logger="proper_mail"):
            send()
            drain(mail)
    finally:
        worker.stop()
        mail.close()
    return [r.getMessage() for r in caplog.records if r.name.startswith("proper_mail")]


def test_a_foreign_error_from_a_custom_mailer_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The guide's recipe raising an HTTP client's error in a worker: one give-up
    (permanent), one ERROR naming the Message-ID and the alias; never a silent dead letter."""
    mail, worker = stub_mail()
    record = mail.compose(to="a@example.com", body="x")

    errors = run_and_report(mail, worker, caplog, lambda: mail.send_later(record, via="foreign"))

    assert [(g.reason, g.message_id, g.via) for g in given_up] == [
        ("permanent", record.message_id, "foreign")
    ]
    assert "HTTPStatusError" in given_up[0].error
    assert [e for e in errors if e.startswith("gave up")] == [
        f"gave up on {record.message_id} via foreign (permanent): {given_up[0].error}; "
        "1 recipient(s) not sent"
    ]


def test_a_mailer_removed_by_a_deploy_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """A queued message whose via no longer exists: the hook hears 'unknown mailer'."""
    mail, worker = stub_mail()
    record = mail.compose(to="a@example.com", body="x")
    actor: Any = mail.queue.send_task.actor

    run_and_report(
        mail,
        worker,
        caplog,
        lambda: actor.send_with_options(kwargs={"message": dump_message(record), "via": "gone"}),
    )

    assert [(g.reason, g.message_id) for g in given_up] == [("unknown mailer", record.message_id)]
    assert "Unknown mailer 'gone'" in given_up[0].error


def test_a_payload_without_its_message_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """A payload missing its message argument: 'bad arguments', once."""
    mail, worker = stub_mail()
    actor: Any = mail.queue.send_task.actor

    run_and_report(mail, worker, caplog, lambda: actor.send_with_options(kwargs={"via": None}))

    assert [g.reason for g in given_up] == ["bad arguments"]
    assert "missing a required argument: 'message'" in given_up[0].error


def test_the_guides_task_failing_for_good_is_reported_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The guide's send_email_task (mailer.send_now in the task body): a 554 is reported
    once by the task wrapper, with the Message-ID from the payload."""
    mail, worker = stub_mail()

    @mail.queue.task()
    def send_email_task(message: EmailMessageDict, via: str | None = None) -> None:
        mailer = mail.mailers[via] if via else mail.mailer
        mailer.send_now(message)

    record = mail.compose(to="a@example.com", body="x")

    def send() -> None:
        ScriptedMailer.script = ["permanent"]
        send_email_task(message=dump_message(record), via="scripted")

    run_and_report(mail, worker, caplog, send)

    assert [(g.reason, g.message_id, g.via) for g in given_up] == [
        ("permanent", record.message_id, "scripted")
    ]


def test_the_guides_task_retries_a_transient_failure_then_reports_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A 451 every time from the guide's task: 1 + QUEUE_MAX_RETRIES attempts, one report."""
    mail, worker = stub_mail()

    @mail.queue.task()
    def send_email_task(message: EmailMessageDict, via: str | None = None) -> None:
        (mail.mailers[via] if via else mail.mailer).send_now(message)

    record = mail.compose(to="a@example.com", body="x")

    def send() -> None:
        ScriptedMailer.script = ["transient"] * 10
        send_email_task(message=dump_message(record), via="scripted")

    run_and_report(mail, worker, caplog, send)

    assert len(ScriptedMailer.attempts) == 4
    assert [g.reason for g in given_up] == ["retries exhausted"]


def test_a_bug_in_a_task_is_reported_once(caplog: pytest.LogCaptureFixture) -> None:
    """Any exception of a task's own code: reason 'error', once, not retried."""
    mail, worker = stub_mail()
    calls: list[int] = []

    @mail.queue.task()
    def buggy(message: EmailMessageDict, via: str | None = None) -> None:
        calls.append(1)
        raise KeyError("tenant")

    record = mail.compose(to="a@example.com", body="x")

    run_and_report(mail, worker, caplog, lambda: buggy(message=dump_message(record)))

    assert calls == [1]
    assert [(g.reason, g.message_id) for g in given_up] == [("error", record.message_id)]
    assert given_up[0].error == "KeyError: 'tenant'"


def test_an_unsendable_message_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    """A Unicode local part for a mailer without SMTPUTF8: 'unsendable', once."""
    mail, worker = stub_mail()
    record = mail.compose(to="zoë@example.com", body="x")

    run_and_report(mail, worker, caplog, lambda: mail.send_later(record))

    assert [g.reason for g in given_up] == ["unsendable"]


def test_redis_down_at_enqueue_is_a_typed_transient_error() -> None:
    """send_later with Redis unreachable: QueueUnavailable naming the URL, no password."""
    mail = Mail.from_settings(settings_for(f"redis://:hunter2-redis@127.0.0.1:{closed_port()}/0"))
    record = mail.compose(to="a@example.com", body="x")

    with pytest.raises(QueueUnavailable, match=r"redis://:\*\*\*@127\.0\.0\.1:\d+/0") as caught:
        mail.send_later(record)

    assert "hunter2-redis" not in str(caught.value)
    assert isinstance(caught.value, TransientDeliveryError)
    mail.close()


def test_dramatiqs_own_log_lines_hold_no_mail(caplog: pytest.LogCaptureFixture) -> None:
    """A failing message's Dramatiq ERROR line names the payload, never its body or
    recipients."""
    mail, worker = stub_mail()
    record = mail.compose(to="secret-person@example.com", subject="s3cret", body="reset-link-42")

    with caplog.at_level(logging.INFO, logger="dramatiq"):
        run_and_report(mail, worker, caplog, lambda: mail.send_later(record, via="foreign"))

    dramatiq_lines = [r.getMessage() for r in caplog.records if r.name.startswith("dramatiq")]
    assert any(record.message_id in line for line in dramatiq_lines)
    assert not any(
        word in line
        for line in dramatiq_lines
        for word in ("secret-person", "s3cret", "reset-link-42")
    )
