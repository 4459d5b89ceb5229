"""RedisLedger against the local Redis: what it stores, for how long, across threads and
dropped connections. Every test has a key namespace of its own, deleted afterwards."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
import redis
from dramatiq.brokers.redis import RedisBroker

from proper_mail.tasks.ledger import _SETTLE_SHA, Claim, RedisLedger
from proper_mail.tasks.queue import build_broker
from tests.integration.test_queue_redis import REDIS_URL, redis_or_skip


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    """The local Redis (skipped, never in CI, when there is none)."""
    client = redis_or_skip()
    yield client
    client.close()


@pytest.fixture
def namespace(client: redis.Redis) -> Iterator[str]:
    """A fresh ``pmtest-<hex>`` namespace, its keys deleted at teardown."""
    namespace = f"pmtest-{uuid.uuid4().hex[:12]}"
    yield namespace
    keys = list(client.scan_iter(match=f"{namespace}:*"))
    if keys:
        client.delete(*keys)


def test_record_then_done_is_the_union_of_every_record(client: redis.Redis, namespace: str) -> None:
    """Two records for one Message-ID add up; another Message-ID is untouched."""
    ledger = RedisLedger(client, namespace=namespace, ttl_seconds=600)

    assert ledger.done("<a@example.com>") == set()
    ledger.record("<a@example.com>", ["x@example.com", "y@example.com"])
    ledger.record("<a@example.com>", ["y@example.com", "zoë@exämple.de"])

    assert ledger.done("<a@example.com>") == {"x@example.com", "y@example.com", "zoë@exämple.de"}
    assert ledger.done("<b@example.com>") == set()


def test_every_key_expires_and_lives_in_the_namespace(client: redis.Redis, namespace: str) -> None:
    """Each record (re)sets the TTL; keys are <namespace>:sent:<Message-ID>."""
    ledger = RedisLedger(client, namespace=namespace, ttl_seconds=600)

    ledger.record("<a@example.com>", ["x@example.com"])
    client.expire(f"{namespace}:sent:<a@example.com>", 5)
    ledger.record("<a@example.com>", ["y@example.com"])

    assert list(client.scan_iter(match=f"{namespace}:*")) == [
        f"{namespace}:sent:<a@example.com>".encode()
    ]
    assert 590 <= client.ttl(f"{namespace}:sent:<a@example.com>") <= 600


def test_an_empty_record_writes_nothing(client: redis.Redis, namespace: str) -> None:
    """Nothing done, nothing stored (no key without members, no TTL on nothing)."""
    ledger = RedisLedger(client, namespace=namespace)

    ledger.record("<a@example.com>", [])

    assert list(client.scan_iter(match=f"{namespace}:*")) == []


def test_threads_share_the_ledger_over_connections_of_their_own(
    client: redis.Redis, namespace: str
) -> None:
    """8 threads x 50 Message-IDs: every record is seen by every thread, and each thread
    used one connection of its own for all its commands."""
    ledger = RedisLedger(client, namespace=namespace)
    errors: list[BaseException] = []
    connections: dict[int, set[int]] = {}
    # Every thread lives until all are done: a finished thread gives its connection back
    # to the pool, and a later thread could take it.
    all_done = threading.Barrier(8)

    def work(t: int) -> None:
        try:
            for i in range(50):
                ledger.record(f"<{i}@example.com>", [f"t{t}@example.com"])
                connections.setdefault(t, set()).add(ledger._connection().call("CLIENT", "ID"))
        except BaseException as e:  # reported below
            errors.append(e)
        finally:
            all_done.wait(timeout=30)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert errors == []
    expected = {f"t{t}@example.com" for t in range(8)}
    assert all(ledger.done(f"<{i}@example.com>") == expected for i in range(50))
    assert all(len(ids) == 1 for ids in connections.values())
    assert len(set().union(*connections.values())) == 8


def test_a_dropped_connection_is_reopened(client: redis.Redis, namespace: str) -> None:
    """Redis closing the thread's connection (CLIENT KILL, a restart, an idle timeout)
    costs nothing but a reconnect: the next command works."""
    ledger = RedisLedger(client, namespace=namespace)
    ledger.record("<a@example.com>", ["x@example.com"])
    own = ledger._connection().call("CLIENT", "ID")

    client.client_kill_filter(_id=str(own))
    ledger.record("<a@example.com>", ["y@example.com"])

    assert ledger.done("<a@example.com>") == {"x@example.com", "y@example.com"}
    assert ledger._connection().call("CLIENT", "ID") != own


def test_a_flushed_script_cache_is_refilled(client: redis.Redis, namespace: str) -> None:
    """EVALSHA after SCRIPT FLUSH (or on a fresh Redis) gets NOSCRIPT; record falls back to
    EVAL, which caches the script again. (Commands counted on the ledger's own connection:
    Redis's commandstats are server-wide, and other clients may run scripts meanwhile.)"""
    ledger = RedisLedger(client, namespace=namespace)
    ledger.record("<a@example.com>", ["x@example.com"])
    sent: list[str] = []
    connection = ledger._connection()
    original = connection.pipeline

    def counting(*commands: tuple[str | int, ...]) -> list[object]:
        sent.extend(str(command[0]) for command in commands)
        return original(*commands)

    connection.pipeline = counting  # type: ignore[method-assign]

    client.script_flush()
    ledger.record("<a@example.com>", ["y@example.com"])
    after_flush = list(sent)
    ledger.record("<a@example.com>", ["z@example.com"])

    assert ledger.done("<a@example.com>") == {"x@example.com", "y@example.com", "z@example.com"}
    assert client.script_exists(_SETTLE_SHA) == [True]
    # flushed: EVALSHA refused, then EVAL; refilled: EVALSHA alone again
    assert after_flush == ["EVALSHA", "EVAL"]
    assert sent[len(after_flush) :] == ["EVALSHA", "SMEMBERS"]


def test_held_connections_never_starve_the_broker(namespace: str) -> None:
    """Each thread holds a ledger connection for good, from a pool of the ledger's own:
    120 threads (more than the broker pool's 100 slots) leave the broker's pool free. The
    ledger's connections keep the broker's settings (timeouts from build_broker)."""
    broker = build_broker(REDIS_URL, namespace=namespace)
    assert isinstance(broker, RedisBroker)
    ledger = RedisLedger(broker.client, namespace=namespace)
    errors: list[BaseException] = []
    timeouts: set[tuple[object, object]] = set()
    holding = threading.Barrier(121, timeout=30)
    release = threading.Event()

    def work() -> None:
        try:
            ledger.done("<a@example.com>")
            held = ledger._connection()._connection
            timeouts.add((held.socket_timeout, held.socket_connect_timeout))
        except BaseException as e:  # reported below
            errors.append(e)
        holding.wait()  # every thread alive, holding its connection, while the broker pings
        release.wait(30)

    threads = [threading.Thread(target=work) for _ in range(120)]
    for thread in threads:
        thread.start()
    try:
        holding.wait()
        assert broker.client.ping()
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
        broker.close()
        ledger._pool.disconnect()
    assert errors == []
    assert timeouts == {(30, 10)}
    broker_kwargs = broker.client.connection_pool.connection_kwargs
    assert (broker_kwargs["socket_timeout"], broker_kwargs["socket_connect_timeout"]) == (30, 10)


@pytest.mark.parametrize("set_get", [True, False], ids=["SET NX GET", "SET NX then GET"])
def test_one_lease_per_message_id(client: redis.Redis, namespace: str, set_get: bool) -> None:
    """A claim leases the recipients not done; another token finds them held (with the
    lease's time left); after the settle, the done ones are skipped and no lease is
    left behind. Both the Redis 7 command and the older one."""
    ledger = RedisLedger(client, namespace=namespace)
    ledger._set_get = set_get
    everyone = ("a@x.com", "b@x.com")

    first = ledger.claim("<m@x>", everyone, "one", 30)
    second = ledger.claim("<m@x>", everyone, "two", 30)
    again = ledger.claim("<m@x>", everyone, "one", 30)
    ledger.settle("<m@x>", ("a@x.com",), first.claimed, "one")
    third = ledger.claim("<m@x>", everyone, "two", 30)
    ledger.settle("<m@x>", ("b@x.com",), third.claimed, "two")
    last = ledger.claim("<m@x>", everyone, "three", 30)

    assert first == Claim(everyone, (), (), 0.0)
    assert second.claimed == ()
    assert second.held == everyone
    assert 0 < second.wait <= 30
    assert again.claimed == everyone  # the same token: its own lease
    assert third == Claim(("b@x.com",), (), ("a@x.com",), 0.0)
    assert last == Claim((), (), everyone, 0.0)
    assert not client.exists(f"{namespace}:claim:<m@x>")
