"""The rate limit in one process (immediate mode, threads), through a StubBroker queue
(a RateLimited retry is a wait, not a counted retry), and the Redis bucket itself: its
Lua script against take()'s table, sharing, expiry, NOSCRIPT and an unreachable Redis."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import dramatiq
import pytest
import redis
from dramatiq.brokers.stub import StubBroker

import proper_mail
from proper_mail import BaseMailer, Mail, Message, RateLimited, SendResult
from proper_mail.adapters.base import all_sent
from proper_mail.tasks import GiveUp
from proper_mail.tasks.ratelimit import (
    TAKE_SCRIPT,
    Bucket,
    LocalRateLimiter,
    Rate,
    RedisRateLimiter,
)
from tests.integration.test_queue_redis import REDIS_URL, redis_or_skip
from tests.integration.test_ratelimit_workers import most_in_one_second
from tests.unit.tasks.test_ratelimit import TAKE_TABLE


class Stamped(BaseMailer):
    """Notes the monotonic time of each send (right after the rate limiter let it go)."""

    def __init__(self, *, script: Sequence[str] = (), fail_silently: bool = False) -> None:
        super().__init__(fail_silently=fail_silently)
        self.times: list[tuple[str, float]] = []
        self.script = list(script)
        self._lock = threading.Lock()

    def deliver(self, message: Message) -> SendResult:
        with self._lock:
            self.times.append((message.message_id, time.monotonic()))
            step = self.script.pop(0) if self.script else "ok"
        if step == "limited":
            raise RateLimited(f"{self.alias}: 429 slow down", code=429, retry_after=0.01)
        return all_sent(message.message_id, self.alias, self.envelope(message))


@pytest.fixture(autouse=True)
def _restore_current() -> Iterator[None]:
    previous = proper_mail.mail._current
    yield
    proper_mail.mail._current = previous


def test_immediate_mode_threads_share_one_in_process_limit() -> None:
    """8 threads send 60 messages under "50/s" with a burst of 5: each sent once, over at
    least (60 - 5) / 50 s, never more than 55 in a second."""
    mail = proper_mail.configure(
        MAILERS={"api": {"type": Stamped, "rate_limit": "50/s", "rate_burst": 5}},
        MAILER_DEFAULT_OPTIONS={"from": "app@example.com"},
    )
    start = threading.Barrier(8)
    errors: list[BaseException] = []

    def send(first: int) -> None:
        start.wait()
        try:
            for n in range(first, 60, 8):
                message = mail.compose(to=f"user{n}@example.com", body="x")
                if n % 2:
                    proper_mail.send(message, mail=mail)
                else:
                    proper_mail.send_later(message, mail=mail)
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    api = mail.mailers["api"]
    assert isinstance(api, Stamped)
    times = [at for _, at in api.times]
    assert len({m for m, _ in api.times}) == len(times) == 60
    assert max(times) - min(times) >= (60 - 5) / 50 - 0.01
    assert most_in_one_second(times) <= 50 + 5


given_up: list[GiveUp] = []


def test_a_rate_limited_retry_does_not_use_up_the_retries() -> None:
    """QUEUE_MAX_RETRIES=0, and the mailer answers 429 twice: the message still goes out
    on the third attempt (rate-limit waits do not count), nothing given up."""
    given_up.clear()
    mail = Mail.from_settings(
        {
            "MAILERS": {"api": {"type": Stamped, "script": ["limited", "limited"]}},
            "MAILER_DEFAULT_OPTIONS": {"from": "app@example.com"},
            "QUEUE": "stub",
            "QUEUE_MAX_RETRIES": 0,
            "QUEUE_MIN_BACKOFF": 0.01,
            "QUEUE_MAX_BACKOFF": 0.05,
            "QUEUE_ON_GIVE_UP": given_up.append,
        }
    )
    broker = mail.queue.broker
    assert isinstance(broker, StubBroker)
    worker = dramatiq.Worker(broker, worker_timeout=50)
    worker.start()
    try:
        mail.send_later(mail.compose(to="a@example.com", body="x"))
        broker.join("emails", fail_fast=False, timeout=20_000)
    finally:
        worker.stop()
        mail.close()

    api = mail.mailers["api"]
    assert isinstance(api, Stamped)
    assert len(api.times) == 3
    assert given_up == []


# -- the Redis bucket ---------------------------------------------------------------------


class Store(NamedTuple):
    """The local Redis and a key namespace of the test's own."""

    client: redis.Redis
    namespace: str


@pytest.fixture
def store() -> Iterator[Store]:
    """The local Redis (skip without one); the test's keys removed after it."""
    client = redis_or_skip()
    namespace = f"pmtest-bucket-{uuid.uuid4().hex[:12]}"
    yield Store(client, namespace)
    keys = list(client.scan_iter(match=f"{namespace}*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.mark.parametrize(
    ("bucket", "now", "rate", "burst", "after", "wait"),
    [row[1:] for row in TAKE_TABLE],
    ids=[row[0] for row in TAKE_TABLE],
)
def test_the_lua_script_is_take(
    store: Store,
    bucket: Bucket | None,
    now: float,
    rate: float,
    burst: int,
    after: Bucket,
    wait: float,
) -> None:
    """take()'s table, run by Redis (the time passed in): the same bucket, the wait in
    whole milliseconds rounded up."""
    key = f"{store.namespace}:rate:p"
    if bucket is not None:
        store.client.hset(key, mapping={"tokens": repr(bucket.tokens), "stamp": repr(bucket.stamp)})
    script = store.client.register_script(TAKE_SCRIPT)

    waited = script(keys=[key], args=[repr(rate), burst, repr(now)])
    stored = store.client.hgetall(key)

    assert waited == math.ceil(wait * 1000)
    assert float(stored[b"tokens"]) == pytest.approx(after.tokens, abs=1e-9)
    assert float(stored[b"stamp"]) == after.stamp


def test_an_idle_bucket_expires_once_it_would_be_full(store: Store) -> None:
    """After one take at 10/s, burst 3, the key lives ~1.1 s (0.1 s to refill + 1 s)."""
    limiter = RedisRateLimiter(store.client, f"{store.namespace}:rate:p", "p", Rate(10, 1.0, 3))

    limiter.acquire()

    assert 1000 < store.client.pttl(limiter.key) <= 1100


def test_the_bucket_is_shared_by_every_client(store: Store) -> None:
    """Two limiters on separate connections (two processes): burst 3 at 1/h, three sends
    between them, then both are RateLimited with about an hour to wait."""
    rate = Rate(1, 3600.0, burst=3)
    key = f"{store.namespace}:rate:p"
    other = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    first = RedisRateLimiter(store.client, key, "p", rate)
    second = RedisRateLimiter(other, key, "p", rate)

    first.acquire()
    second.acquire()
    first.acquire()
    with pytest.raises(RateLimited) as one:
        first.acquire()
    with pytest.raises(RateLimited) as two:
        second.acquire()
    other.close()

    assert one.value.retry_after == pytest.approx(3600, abs=2)
    assert two.value.retry_after == pytest.approx(3600, abs=2)


def test_a_script_redis_does_not_know_is_loaded_again(store: Store) -> None:
    """NOSCRIPT (a restarted or flushed Redis): the script is loaded and the take done."""
    client = store.client
    limiter = RedisRateLimiter(client, f"{store.namespace}:rate:p", "p", Rate(10, 1.0))
    unknown = f"{TAKE_SCRIPT}-- {uuid.uuid4().hex}\n"  # a script no Redis has seen yet
    limiter._script = client.register_script(unknown)
    assert client.script_exists(limiter._script.sha) == [False]

    limiter.acquire()

    assert client.script_exists(limiter._script.sha) == [True]
    assert client.exists(limiter.key)


def test_an_unreachable_redis_fails_closed() -> None:
    """No Redis: RateLimited (transient, nothing sent), the Redis error as its cause."""
    nowhere = redis.Redis(host="127.0.0.1", port=1, socket_timeout=1, socket_connect_timeout=1)
    limiter = RedisRateLimiter(nowhere, "x:rate:p", "p", Rate(10, 1.0))

    with pytest.raises(RateLimited, match="p: its rate limiter's Redis did not answer") as raised:
        limiter.acquire()

    assert isinstance(raised.value.__cause__, redis.ConnectionError)
    assert raised.value.retry_after is None


def test_a_redis_queue_gives_each_limited_mailer_a_shared_bucket(store: Store) -> None:
    """QUEUE is Redis: the limiter is the Redis one, keyed <namespace>:rate:<alias>; a
    mailer without rate_limit has none."""
    mail = Mail.from_settings(
        {
            "MAILERS": {
                "api": {"type": Stamped, "rate_limit": "14/s"},
                "free": {"type": Stamped},
            },
            "MAILER": "api",
            "QUEUE": REDIS_URL,
            "QUEUE_NAMESPACE": store.namespace,
        }
    )
    try:
        limiter = mail.mailers["api"]._limiter
        free = mail.mailers["free"]._limiter
    finally:
        mail.close()

    assert isinstance(limiter, RedisRateLimiter)
    assert limiter.key == f"{store.namespace}:rate:api"
    assert free is None


def test_without_a_redis_ledger_the_limit_is_per_process() -> None:
    """Immediate mode (a memory ledger): each limited mailer has an in-process limiter."""
    mail = Mail(mailers={"api": {"type": Stamped, "rate_limit": "14/s"}})

    assert isinstance(mail.mailers["api"]._limiter, LocalRateLimiter)
