"""The idempotency ledger: which recipients of a Message-ID are done (sent or refused).

Dramatiq delivers at least once: a worker that dies after sending but before acking has
its message run again. Before sending, the actor asks the ledger which recipients are
done and sends only to the others; after the mailer answers, and before the actor
returns, it records the recipients that accepted or refused for good.

The one duplicate window left: the worker dies after the server accepted the message
(250 after DATA) and before the ledger write that follows it (one Redis command). A
redelivery then sends those recipients a second copy, with the same Message-ID, which
most mail clients show once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol

import redis

__all__ = ["Ledger", "MemoryLedger", "RedisLedger"]

#: How long a Message-ID is remembered (Dramatiq keeps dead messages for 7 days).
DEFAULT_TTL_SECONDS = 8 * 24 * 3600


class Ledger(Protocol):
    """**Protocol:** remembers, per Message-ID, the recipients that are done."""

    def done(self, message_id: str) -> set[str]:
        """The recipients of *message_id* already sent to or refused for good."""
        ...

    def record(self, message_id: str, recipients: Iterable[str]) -> None:
        """Remember *recipients* of *message_id* as done."""
        ...


class MemoryLedger:
    """A ledger in this process (immediate and stub queues)."""

    def __init__(self) -> None:
        self._done: dict[str, set[str]] = {}
        self._lock = threading.Lock()

    def done(self, message_id: str) -> set[str]:
        """The recipients of *message_id* already done."""
        with self._lock:
            return set(self._done.get(message_id, ()))

    def record(self, message_id: str, recipients: Iterable[str]) -> None:
        """Remember *recipients* as done."""
        with self._lock:
            self._done.setdefault(message_id, set()).update(recipients)


class RedisLedger:
    """A ledger in Redis, shared by every worker: one set per Message-ID, with a TTL.

    Keys are ``<namespace>:sent:<Message-ID>``; members are envelope addresses. No key
    or value ever holds a credential.
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        namespace: str = "proper_mail",
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds

    def _key(self, message_id: str) -> str:
        return f"{self.namespace}:sent:{message_id}"

    def done(self, message_id: str) -> set[str]:
        """The recipients of *message_id* already done."""
        members = self.client.smembers(self._key(message_id))
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    def record(self, message_id: str, recipients: Iterable[str]) -> None:
        """Remember *recipients* as done (one round trip: SADD + EXPIRE, no MULTI needed)."""
        members = list(recipients)
        if not members:
            return
        key = self._key(message_id)
        pipe = self.client.pipeline(transaction=False)
        pipe.sadd(key, *members)
        pipe.expire(key, self.ttl_seconds)
        pipe.execute()
