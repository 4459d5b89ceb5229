"""send_later with Redis and real worker processes: crashes lose nothing, secrets stay out.

Each test uses a Redis key namespace of its own and removes it afterwards. Workers run
as `proper-mail worker` processes with a short heartbeat timeout and maintenance on every
command, so a killed worker's messages come back within seconds.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

import proper_mail
from proper_mail import Mail
from tests.smtp_server import Faults, SMTPServerFactory, SMTPTestServer

ROOT = Path(__file__).parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"
SMTP_PASSWORD = "smtp-Secret-4711"
API_KEY = "re_live_Secret_0815"
THREADS = 4


def redis_or_skip() -> redis.Redis:
    """The local Redis; skip (never in CI) when none is reachable."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError:
        if os.environ.get("CI"):
            raise
        pytest.skip("no Redis at 127.0.0.1:6379 (./scripts/check starts one)")
    return client


@pytest.fixture
def env(make_smtp_server: SMTPServerFactory) -> Iterator[dict[str, Any]]:
    """A namespace, an SMTP server with AUTH, and the environment the workers read."""
    client = redis_or_skip()
    namespace = f"pmtest-{uuid.uuid4().hex[:12]}"
    server = make_smtp_server(auth=("user", SMTP_PASSWORD), faults=Faults(delay=0.002))
    variables = {
        "PM_TEST_SMTP_PORT": str(server.port),
        "PM_TEST_SMTP_PASSWORD": SMTP_PASSWORD,
        "PM_TEST_API_KEY": API_KEY,
        "PM_TEST_REDIS_URL": REDIS_URL,
        "PM_TEST_NAMESPACE": namespace,
    }
    previous = proper_mail.mail._current
    old = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    from tests.integration import worker_app

    mail = Mail.from_settings(worker_app.settings())

    yield {
        "client": client,
        "namespace": namespace,
        "server": server,
        "mail": mail,
        "env": variables,
    }
    mail.close()
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    proper_mail.mail._current = previous
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def start_worker(variables: dict[str, str]) -> subprocess.Popen[bytes]:
    """`proper-mail worker` for the test app: 1 process, THREADS threads, its own session."""
    command = [
        str(Path(sys.executable).parent / "proper-mail"), "worker",
        "--module", "tests.integration.worker_app", "--path", str(ROOT),
        "--processes", "1", "--threads", str(THREADS),
    ]  # fmt: skip
    return subprocess.Popen(
        command,
        env={**os.environ, **variables},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], sig: int) -> None:
    """SIGKILL the worker's whole process group, or SIGTERM its leader; wait for it.

    SIGTERM goes to the leader (dramatiq's master) only: it forwards it to its worker
    process, and a worker that got a second SIGTERM would exit at once, mid-send.
    """
    with contextlib.suppress(ProcessLookupError):
        if sig == signal.SIGKILL:
            os.killpg(process.pid, sig)
        else:
            os.kill(process.pid, sig)
    try:
        process.wait(timeout=90)  # in-flight sends finish first; a loaded machine is slow
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def enqueue(mail: Mail, count: int) -> list[str]:
    """Queue *count* distinct messages; return their Message-IDs."""
    ids = []
    for n in range(count):
        message = mail.compose(
            to=f"user{n}@example.com", subject=f"Message {n}", body=f"Body {n}\n"
        )
        mail.send_later(message)
        ids.append(message.message_id)
    return ids


def received_ids(server: SMTPTestServer) -> collections.Counter[str]:
    """How many times each Message-ID reached the server."""
    counts: collections.Counter[str] = collections.Counter()
    for received in list(server.messages):
        counts[received.data.split(b"Message-ID: ", 1)[1].split(b"\r\n", 1)[0].decode()] += 1
    return counts


def wait_until(predicate: Any, timeout: float) -> None:
    """Poll *predicate* until it holds; fail after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(0.05)


def dump_value(client: redis.Redis, key: bytes) -> object:
    """Whatever Redis holds at *key*, whatever its type."""
    kind = client.type(key)
    if kind == b"string":
        return client.get(key)
    if kind == b"hash":
        return client.hgetall(key)
    if kind == b"list":
        return client.lrange(key, 0, -1)
    if kind == b"set":
        return client.smembers(key)
    if kind == b"zset":
        return client.zrange(key, 0, -1)
    return kind


def test_a_sigkilled_worker_loses_nothing(env: dict[str, Any]) -> None:
    """1,000 messages, 2 workers; one SIGKILLed mid-run and restarted: all arrive.

    Duplicates can only come from the documented window (sent, ledger not yet written):
    at most one per thread of the killed worker.
    """
    server: SMTPTestServer = env["server"]
    env["env"]["PM_TEST_HEARTBEAT_MS"] = "4000"  # short enough to recover, long enough under load
    ids = enqueue(env["mail"], 1000)
    first, second = start_worker(env["env"]), start_worker(env["env"])
    try:
        wait_until(lambda: len(server.messages) >= 250, 30)
        stop(first, signal.SIGKILL)
        assert len(server.messages) < 1000, "the run ended before the SIGKILL: no test"
        third = start_worker(env["env"])
        try:
            wait_until(lambda: set(received_ids(server)) >= set(ids), 40)
        finally:
            stop(third, signal.SIGTERM)
    finally:
        stop(second, signal.SIGTERM)
        stop(first, signal.SIGKILL)

    counts = received_ids(server)
    duplicates = sum(n - 1 for n in counts.values())
    assert set(counts) == set(ids)
    assert duplicates <= THREADS


def test_a_sigterm_finishes_in_flight_sends_without_duplicates(env: dict[str, Any]) -> None:
    """SIGTERM mid-run: in-flight sends finish, the rest is requeued; no duplicates at all.

    A long heartbeat timeout here: a busy machine must not make Redis think a live worker
    died (that redelivery is the SIGKILL test's business).
    """
    server: SMTPTestServer = env["server"]
    env["env"]["PM_TEST_HEARTBEAT_MS"] = "60000"
    ids = enqueue(env["mail"], 400)
    first = start_worker(env["env"])
    try:
        wait_until(lambda: len(server.messages) >= 100, 30)
        stop(first, signal.SIGTERM)
        assert len(server.messages) < 400, "the run ended before the SIGTERM: no test"
        second = start_worker(env["env"])
        try:
            wait_until(lambda: set(received_ids(server)) >= set(ids), 40)
        finally:
            stop(second, signal.SIGTERM)
    finally:
        stop(first, signal.SIGKILL)

    counts = received_ids(server)
    assert set(counts) == set(ids)
    assert max(counts.values()) == 1


def test_no_redis_key_or_value_holds_a_secret(env: dict[str, Any]) -> None:
    """After sends, a permanent failure and a transient one, Redis holds no password or key."""
    server: SMTPTestServer = env["server"]
    mail: Mail = env["mail"]
    client: redis.Redis = env["client"]
    ids = enqueue(mail, 20)
    mail.send_later(mail.compose(to="x@example.com", body="refused"), via="api")
    server.faults.rcpt_replies["deferred@example.com"] = "451 4.7.1 Greylisted"
    mail.send_later(mail.compose(to="deferred@example.com", body="greylisted"))
    worker = start_worker(env["env"])
    try:
        wait_until(lambda: set(received_ids(server)) >= set(ids), 30)
        # Both failures end in the dead-letter set: the refusal at once, the greylisted
        # message after its retries.
        dead = f"{env['namespace']}:emails.XQ"
        wait_until(lambda: client.exists(dead) and client.zcard(dead) >= 2, 60)
    finally:
        stop(worker, signal.SIGTERM)

    dump = bytearray()
    for key in client.scan_iter(match=f"{env['namespace']}*", count=1000):
        dump += key
        dump += repr(dump_value(client, key)).encode()
    assert b"Traceback" in dump or b"422" in dump  # the failure was stored ...
    assert SMTP_PASSWORD.encode() not in dump  # ... without the secrets
    assert API_KEY.encode() not in dump


def test_a_non_json_entry_does_not_strand_the_messages_fetched_with_it(
    env: dict[str, Any],
) -> None:
    """Garbage in the Redis queue (not JSON) fetched together with a valid message: the
    valid one is sent, the garbage is moved to <namespace>:emails.unreadable and logged."""
    import dramatiq

    mail: Mail = env["mail"]
    client: redis.Redis = env["client"]
    namespace: str = env["namespace"]
    server: SMTPTestServer = env["server"]
    client.hset(f"{namespace}:emails.msgs", "garbage-1", b"\x00not json at all")
    client.rpush(f"{namespace}:emails", "garbage-1")
    (message_id,) = enqueue(mail, 1)
    broker = mail.queue.broker
    assert broker is not None
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        wait_until(lambda: message_id in received_ids(server), 30)
    finally:
        worker.stop()

    assert client.hget(f"{namespace}:emails.unreadable", "garbage-1") == b"\x00not json at all"
    assert client.hexists(f"{namespace}:emails.msgs", "garbage-1") == 0
