"""In-flight claims: the same payload processed at the same moment goes out once.

A StubBroker Worker with 8 threads, the ledger and its claims in the local Redis (a key
namespace of the test's own), a real SMTP server that is slow enough for copies to
overlap: every copy of a message after the first finds its recipients done or held,
and sends nothing.
"""

from __future__ import annotations

import collections
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import dramatiq
import pytest
import redis
from dramatiq.brokers.stub import StubBroker

import proper_mail
from proper_mail import Mail
from proper_mail.tasks.serialization import dump_message
from tests.integration.test_queue_redis import REDIS_URL, redis_or_skip
from tests.smtp_server import Faults, SMTPServerFactory, SMTPTestServer

ROUNDS = 100


@pytest.fixture
def claims_env(make_smtp_server: SMTPServerFactory) -> Iterator[tuple[Mail, SMTPTestServer]]:
    """A Mail on a StubBroker with the ledger in Redis, and a slowish SMTP server."""
    client: redis.Redis = redis_or_skip()
    namespace = f"pmtest-{uuid.uuid4().hex[:12]}"
    server = make_smtp_server(faults=Faults(delay=0.001))
    mail = Mail.from_settings(
        {
            "MAILERS": {
                "smtp": {
                    "type": "proper_mail.SMTPMailer",
                    "host": server.host,
                    "port": server.port,
                    "timeout": 10,
                    "max_connections": 8,
                }
            },
            "MAILER_DEFAULT_OPTIONS": {"from": "no-reply@example.com"},
            "QUEUE": "stub",
            "QUEUE_LEDGER": REDIS_URL,
            "QUEUE_NAMESPACE": namespace,
            "QUEUE_MIN_BACKOFF": 0.05,
            "QUEUE_MAX_BACKOFF": 0.2,
        }
    )
    yield mail, server
    mail.close()
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def run_copies(mail: Mail, copies: int) -> list[str]:
    """Enqueue ROUNDS messages *copies* times each, all before the Worker starts (so its 8
    threads take copies of one message at once); drain; return the Message-IDs."""
    broker = mail.queue.broker
    assert isinstance(broker, StubBroker)
    actor = mail.queue.send_task.actor
    assert actor is not None
    ids = []
    for n in range(ROUNDS):
        record = mail.compose(
            to=[f"to{n}@example.com", f"other{n}@example.com"],
            cc=f"cc{n}@example.com",
            subject=f"Round {n}",
            body="x",
        )
        payload = {"message": dump_message(record), "via": None}
        for _ in range(copies):
            actor.send_with_options(kwargs=payload)
        ids.append(record.message_id)
    worker = dramatiq.Worker(broker, worker_threads=8, worker_timeout=50)
    worker.start()
    try:
        broker.join("emails", fail_fast=True, timeout=120_000)
    finally:
        worker.stop()
    return ids


def deliveries(server: SMTPTestServer) -> collections.Counter[tuple[str, str]]:
    """How many times each (Message-ID, recipient) reached the server."""
    counts: collections.Counter[tuple[str, str]] = collections.Counter()
    for received in server.messages:
        message_id = received.data.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()
        counts.update((message_id, rcpt) for rcpt in received.rcpt_tos)
    return counts


@pytest.mark.parametrize("copies", [2, 8])
def test_copies_processed_at_once_send_once(
    claims_env: tuple[Mail, SMTPTestServer], copies: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The same payload enqueued 2 and 8 times, 8 worker threads, 100 rounds: exactly one
    copy per recipient; the copies that overlapped waited for the holder instead."""
    mail, server = claims_env

    with caplog.at_level(logging.INFO, logger="proper_mail.tasks"):
        ids = run_copies(mail, copies)

    counts = deliveries(server)
    assert {message_id for message_id, _ in counts} == set(ids)
    assert len(counts) == 3 * ROUNDS
    assert set(counts.values()) == {1}
    overlapped = [r for r in caplog.records if "another worker is sending it" in r.getMessage()]
    skipped = [r for r in caplog.records if "already sent" in r.getMessage()]
    assert len(skipped) >= len(overlapped)  # every wait ended in a skip, never a send
    assert overlapped, "no copies overlapped: the test proved nothing"


def test_a_claim_held_by_a_dead_worker_is_taken_after_its_lease(
    claims_env: tuple[Mail, SMTPTestServer],
) -> None:
    """A worker claimed the recipients and died before sending: once the lease is over,
    the redelivered copy claims and sends (nothing is lost)."""
    mail, server = claims_env
    record = mail.compose(to="late@example.com", body="x")
    mail.queue.ledger.claim(record.message_id, ("late@example.com",), "dead-worker", 1.0)
    broker = mail.queue.broker
    assert isinstance(broker, StubBroker)
    actor: Any = mail.queue.send_task.actor

    actor.send_with_options(kwargs={"message": dump_message(record), "via": None})
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=50)
    worker.start()
    try:
        broker.join("emails", fail_fast=True, timeout=60_000)
    finally:
        worker.stop()

    assert deliveries(server) == {(record.message_id, "late@example.com"): 1}


def test_the_current_mail_is_untouched(claims_env: tuple[Mail, SMTPTestServer]) -> None:
    """These tests build their Mail without configure(): no global state leaks."""
    mail, _ = claims_env

    assert proper_mail.mail.configured_mail() is not mail
