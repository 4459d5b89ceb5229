"""Event-id dedupe: each event is processed once, however often it is delivered.

Providers deliver at least once (a retry after our slow answer, a replay by an
attacker inside the timestamp window): the receiver asks ``seen(event_id, ttl)``,
which marks the id and says whether it was already marked, in one atomic step. When
processing fails, ``forget`` unmarks it so the provider's retry is processed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from typing import Protocol

import redis

from ..errors import StoreUnavailable

__all__ = ["DedupeStore", "MemoryDedupeStore", "RedisDedupeStore"]


class DedupeStore(Protocol):
    """Where seen event ids are kept.

    **Protocol:** ``seen`` marks *event_id* for *ttl* and returns whether it was
    already marked, atomically (two receivers racing on one id: exactly one gets
    False); ``forget`` removes the mark.
    """

    def seen(self, event_id: str, ttl: dt.timedelta) -> bool:
        """Mark *event_id* for *ttl*; True if it was already marked."""
        ...

    def forget(self, event_id: str) -> None:
        """Remove the mark of *event_id* (its processing failed)."""
        ...


class MemoryDedupeStore:
    """Seen ids in this process's memory (one process, tests): lost on restart."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def __repr__(self) -> str:
        return f"<MemoryDedupeStore {len(self._expiry)} ids>"

    def seen(self, event_id: str, ttl: dt.timedelta) -> bool:
        """Mark *event_id* for *ttl*; True if it was already marked."""
        now = self._clock()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
                self._next_sweep = now + 60.0
            expires = self._expiry.get(event_id)
            if expires is not None and expires > now:
                return True
            self._expiry[event_id] = now + ttl.total_seconds()
            return False

    def forget(self, event_id: str) -> None:
        """Remove the mark of *event_id*."""
        with self._lock:
            self._expiry.pop(event_id, None)

    def _sweep(self, now: float) -> None:
        for key in [k for k, expires in self._expiry.items() if expires <= now]:
            del self._expiry[key]


@contextlib.contextmanager
def map_redis_errors(what: str) -> Iterator[None]:
    """Re-raise redis-py's errors as StoreUnavailable (transient), keeping the cause."""
    try:
        yield
    except redis.RedisError as e:
        raise StoreUnavailable(f"{what}: {type(e).__name__}: {e}") from e


class RedisDedupeStore:
    """Seen ids in Redis: ``SET <namespace>:<event_id> 1 NX PX <ttl>``, one round trip,
    shared by every receiver process.

    Arguments:
        client: a ``redis.Redis``.
        namespace: the key prefix.
    """

    def __init__(self, client: redis.Redis, namespace: str = "proper_mail:webhooks:seen") -> None:
        self.client = client
        self.namespace = namespace

    def __repr__(self) -> str:
        return f"<RedisDedupeStore {self.namespace!r}>"

    def seen(self, event_id: str, ttl: dt.timedelta) -> bool:
        """Mark *event_id* for *ttl*; True if it was already marked."""
        with map_redis_errors("the webhook dedupe store"):
            marked = self.client.set(
                f"{self.namespace}:{event_id}",
                b"1",
                nx=True,
                px=max(int(ttl.total_seconds() * 1000), 1),
            )
        return not marked

    def forget(self, event_id: str) -> None:
        """Remove the mark of *event_id*."""
        with map_redis_errors("the webhook dedupe store"):
            self.client.delete(f"{self.namespace}:{event_id}")
