"""RedisSuppressionStore and RedisDedupeStore against the local Redis: keys, TTLs,
atomicity, one round trip for a whole envelope. Each test has its own namespace."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import attrs
import pytest
import redis
import redis.backoff
import redis.retry

from proper_mail.errors import StoreUnavailable
from proper_mail.webhooks import RedisDedupeStore, RedisSuppressionStore, record_event
from proper_mail.webhooks.suppression import Suppression
from tests.integration.test_queue_redis import redis_or_skip
from tests.unit.webhooks.test_suppression import HARD, SOFT


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    """The local Redis (skipped, never in CI, when there is none)."""
    client = redis_or_skip()
    yield client
    client.close()


@pytest.fixture
def namespace(client: redis.Redis) -> Iterator[str]:
    """A fresh namespace, its keys deleted at teardown."""
    namespace = f"pmtest-{uuid.uuid4().hex[:12]}"
    yield namespace
    keys = list(client.scan_iter(match=f"{namespace}:*"))
    if keys:
        client.delete(*keys)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_a_hard_bounce_is_stored_under_the_namespace(client: redis.Redis, namespace: str) -> None:
    """record_event writes <namespace>:address:<normalized> with the reason, no TTL."""
    store = RedisSuppressionStore(client, namespace=namespace)

    record_event(store, HARD, now())

    assert client.get(f"{namespace}:address:bob@example.com") == b"hard-bounce"
    assert client.ttl(f"{namespace}:address:bob@example.com") == -1
    assert store.is_suppressed("BOB@example.com") == "hard-bounce"


def test_an_envelope_is_checked_in_one_round_trip(client: redis.Redis, namespace: str) -> None:
    """suppressed() answers for every recipient with one MGET."""
    store = RedisSuppressionStore(client, namespace=namespace)
    store.add("a@example.com", "complaint")
    store.add("c@bücher.de", "manual")
    before = client.info("commandstats").get("cmdstat_mget", {}).get("calls", 0)

    found = store.suppressed(
        ["A@example.com", "b@example.com", "Cé <c@BÜCHER.de>", "not an address"]
    )

    after = client.info("commandstats")["cmdstat_mget"]["calls"]
    assert found == {"A@example.com": "complaint", "Cé <c@BÜCHER.de>": "manual"}
    assert after - before == 1


def test_soft_bounces_suppress_with_a_ttl(client: redis.Redis, namespace: str) -> None:
    """Three soft bounces: an entry expiring in 7 days; the history key expires too."""
    store = RedisSuppressionStore(client, namespace=namespace)
    t = now()

    for n in range(3):
        decision = record_event(store, attrs.evolve(SOFT, event_id=f"soft-{n}", timestamp=t), t)

    assert decision.action == "suppress"
    ttl = client.pttl(f"{namespace}:address:bob@example.com")
    assert dt.timedelta(days=6, hours=23) < dt.timedelta(milliseconds=ttl) <= dt.timedelta(days=7)
    assert 0 < client.pttl(f"{namespace}:soft:bob@example.com") <= 7 * 86_400_000
    (entry,) = store.list()
    assert entry.reason == "soft-bounces"
    assert entry.expires is not None


def test_old_soft_bounces_fall_out_of_the_window(client: redis.Redis, namespace: str) -> None:
    """Bounces older than the window are dropped from the history."""
    store = RedisSuppressionStore(client, namespace=namespace)
    t = now()
    for n, age in enumerate([10, 9, 0]):
        at = t - dt.timedelta(days=age)
        history = store.note_soft_bounce(
            "bob@example.com", f"s{n}", at, window=dt.timedelta(days=7), now=t
        )

    (kept,) = history
    assert abs(kept - t) < dt.timedelta(milliseconds=1)
    assert store.is_suppressed("bob@example.com") is None


def test_an_expiring_add_never_replaces_an_entry(client: redis.Redis, namespace: str) -> None:
    """A permanent entry stays permanent; a permanent add replaces an expiring one."""
    store = RedisSuppressionStore(client, namespace=namespace)
    store.add("a@example.com", "hard-bounce")
    store.add("a@example.com", "soft-bounces", now() + dt.timedelta(days=1))
    store.add("b@example.com", "soft-bounces", now() + dt.timedelta(days=1))
    store.add("b@example.com", "complaint")

    assert [(e.address, e.reason, e.expires) for e in store.list()] == [
        ("a@example.com", "hard-bounce", None),
        ("b@example.com", "complaint", None),
    ]


def test_remove(client: redis.Redis, namespace: str) -> None:
    """remove lifts the entry and the soft-bounce history; True only when there was one."""
    store = RedisSuppressionStore(client, namespace=namespace)
    store.add("a@example.com", "manual")
    store.note_soft_bounce("a@example.com", "s1", now(), window=dt.timedelta(days=7), now=now())

    assert (store.remove("A@example.com"), store.remove("a@example.com")) == (True, False)
    assert list(client.scan_iter(match=f"{namespace}:*")) == []


def test_list_is_sorted(client: redis.Redis, namespace: str) -> None:
    """list() returns every entry by address."""
    store = RedisSuppressionStore(client, namespace=namespace)
    for address in ["c@example.com", "a@example.com", "b@example.com"]:
        store.add(address, "manual")

    assert store.list() == tuple(
        Suppression(a, "manual") for a in ["a@example.com", "b@example.com", "c@example.com"]
    )


def test_dedupe_marks_once_across_threads(client: redis.Redis, namespace: str) -> None:
    """Eight threads race on one id: exactly one sees it as new; forget unmarks it."""
    store = RedisDedupeStore(client, namespace=namespace)
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def race() -> None:
        barrier.wait()
        results.append(store.seen("resend:msg_1", dt.timedelta(minutes=10)))

    threads = [threading.Thread(target=race) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] + [True] * 7
    assert 0 < client.pttl(f"{namespace}:resend:msg_1") <= 600_000
    store.forget("resend:msg_1")
    assert store.seen("resend:msg_1", dt.timedelta(minutes=10)) is False


def test_a_redis_outage_is_store_unavailable() -> None:
    """No Redis: StoreUnavailable (transient), for both stores."""
    no_retry = redis.retry.Retry(redis.backoff.NoBackoff(), 0)
    down = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, retry=no_retry)

    with pytest.raises(StoreUnavailable):
        RedisSuppressionStore(down).suppressed(["a@example.com"])
    with pytest.raises(StoreUnavailable):
        RedisDedupeStore(down).seen("x", dt.timedelta(seconds=1))
    down.close()
