"""The idempotency ledger: which recipients of a Message-ID are done (sent or refused).

Dramatiq delivers at least once: a worker that dies after sending but before acking has
its message run again. Before sending, the actor asks the ledger which recipients are
done and sends only to the others; after the mailer answers, and before the actor
returns, it records the recipients that accepted or refused for good.

The one duplicate window left: the worker dies after the server accepted the message
(250 after DATA) and before the ledger write that follows it (one Redis command). A
redelivery then sends those recipients a second copy, with the same Message-ID, which
most mail clients show once. The same holds when that write fails (Redis gone): the
task logs it at ERROR and does not retry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

import redis

from ..errors import LedgerUnavailable

__all__ = ["Ledger", "MemoryLedger", "RedisLedger"]

T = TypeVar("T")

#: How long a Message-ID is remembered (Dramatiq keeps dead messages for 7 days).
DEFAULT_TTL_SECONDS = 8 * 24 * 3600


class Ledger(Protocol):
    """**Protocol:** remembers, per Message-ID, the recipients that are done."""

    def done(self, message_id: str) -> set[str]:
        """The recipients of *message_id* already sent to or refused for good.

        Raises LedgerUnavailable when the ledger cannot be read.
        """
        ...

    def record(self, message_id: str, recipients: Iterable[str]) -> None:
        """Remember *recipients* of *message_id* as done.

        Raises LedgerUnavailable when the ledger cannot be written.
        """
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

    Each thread talks to Redis over a connection of its own, taken once from *client*'s
    pool (``single_connection_client``): a worker's threads then never wait for each
    other on the pool's lock, and no command pays the pool's per-checkout health check.
    ``record`` is one command (a script doing SADD and EXPIRE).
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
        self._local = threading.local()
        self._record = client.register_script(_RECORD_SCRIPT)

    def _key(self, message_id: str) -> str:
        return f"{self.namespace}:sent:{message_id}"

    def _client(self) -> redis.Redis:
        client: redis.Redis | None = getattr(self._local, "client", None)
        if client is None:
            client = redis.Redis(
                connection_pool=self.client.connection_pool, single_connection_client=True
            )
            self._local.client = client
        return client

    def _call(self, what: str, command: Callable[[redis.Redis], T]) -> T:
        """Run *command* on this thread's client; LedgerUnavailable when Redis fails.

        Both commands are idempotent, so a connection Redis closed (a restart, an idle
        timeout, CLIENT KILL) is reopened and the command sent once more. A timeout is
        not retried (it already waited ``socket_timeout``).
        """
        for attempt in (1, 2):
            client: redis.Redis | None = None
            try:
                client = self._client()  # connects, the first time in this thread
                return command(client)
            except redis.RedisError as e:
                if client is not None and client.connection is not None:
                    client.connection.disconnect()  # type: ignore[no-untyped-call]  # next: a fresh socket
                if attempt == 1 and isinstance(e, redis.ConnectionError):
                    continue
                raise LedgerUnavailable(
                    f"the idempotency ledger could not {what}: {type(e).__name__}: {e}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def done(self, message_id: str) -> set[str]:
        """The recipients of *message_id* already done."""
        key = self._key(message_id)
        members = self._call("be read", lambda client: client.smembers(key))
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    def record(self, message_id: str, recipients: Iterable[str]) -> None:
        """Remember *recipients* as done: SADD and EXPIRE in one command."""
        members = list(recipients)
        if not members:
            return
        keys = [self._key(message_id)]
        args: list[str | int] = [self.ttl_seconds, *members]
        self._call("be written", lambda client: self._record(keys=keys, args=args, client=client))


_RECORD_SCRIPT = """
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
return redis.call('EXPIRE', KEYS[1], ARGV[1])
"""
