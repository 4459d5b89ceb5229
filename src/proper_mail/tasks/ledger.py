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

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterable
from typing import Any, Protocol

import redis

from ..errors import LedgerUnavailable

__all__ = ["Ledger", "MemoryLedger", "RedisLedger"]

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

    This is on the path of every queued message, twice, so it talks to Redis with
    redis-py's connection layer directly: each thread takes one connection for good (its
    threads never wait on a pool's lock, no command pays the pool's checkout health
    check or the client layer's wrappers), sends the command and reads the reply.
    ``record`` is one command, a script doing SADD and EXPIRE. The connections come from
    a pool of the ledger's own, with *client*'s settings (server, credentials, TLS,
    timeouts) and no size limit: held connections never take a slot of the broker's
    pool, whose limit (100 by default) would otherwise starve Dramatiq at 100 threads.
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
        self._pool = _own_pool(client.connection_pool)
        # SHA-1 is what Redis names scripts by (EVALSHA), not a security measure here.
        self._script_sha = hashlib.sha1(_RECORD_SCRIPT.encode(), usedforsecurity=False).hexdigest()

    def _key(self, message_id: str) -> str:
        return f"{self.namespace}:sent:{message_id}"

    def _connection(self) -> _ThreadConnection:
        held: _ThreadConnection | None = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid():  # none yet, or inherited by a fork
            held = _ThreadConnection(self._pool)
            self._local.held = held  # given back to the pool when the thread ends
        return held

    def _call(self, what: str, *command: str | int) -> Any:
        """Send *command* on this thread's connection and return the reply.

        Both commands are idempotent, so a connection Redis closed (a restart, an idle
        timeout, CLIENT KILL) is reopened and the command sent once more. A timeout is
        not retried (it already waited ``socket_timeout``). LedgerUnavailable when Redis
        fails.
        """
        for attempt in (1, 2):
            try:
                return self._connection().call(*command)
            except redis.exceptions.NoScriptError:
                # EVALSHA on a Redis that has not seen the script (restarted, SCRIPT
                # FLUSH): EVAL runs it and caches it again.
                return self._call(what, "EVAL", _RECORD_SCRIPT, *command[2:])
            except redis.RedisError as e:
                if attempt == 1 and isinstance(e, redis.ConnectionError):
                    continue
                raise LedgerUnavailable(
                    f"the idempotency ledger could not {what}: {type(e).__name__}: {e}"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def done(self, message_id: str) -> set[str]:
        """The recipients of *message_id* already done."""
        members = self._call("be read", "SMEMBERS", self._key(message_id))
        return {m.decode() if isinstance(m, bytes) else str(m) for m in members}

    def record(self, message_id: str, recipients: Iterable[str]) -> None:
        """Remember *recipients* as done: SADD and EXPIRE in one command."""
        members = list(recipients)
        if not members:
            return
        args: tuple[str | int, ...] = (1, self._key(message_id), self.ttl_seconds, *members)
        self._call("be written", "EVALSHA", self._script_sha, *args)


def _own_pool(source: redis.ConnectionPool) -> redis.ConnectionPool:
    """A pool with *source*'s connection settings, no size limit, and none of the state
    redis-py keeps per pool (its maintenance-notification handler is bound to *source*)."""
    kwargs = {
        key: value
        for key, value in source.connection_kwargs.items()
        if not key.startswith(("maint_notifications", "orig_")) and key != "himport_registry"
    }
    # One connection per thread that used the ledger; redis-py would cap a pool at 100.
    return redis.ConnectionPool(
        connection_class=source.connection_class, max_connections=2**31 - 1, **kwargs
    )


class _ThreadConnection:
    """One pooled connection, held by one thread; given back to the pool when dropped."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pid = os.getpid()
        self._pool = pool
        self._connection = pool.get_connection()

    def call(self, *command: str | int) -> Any:
        """Send *command*, read its reply; on any error the socket is closed, so the next
        call connects afresh."""
        connection = self._connection
        try:
            connection.send_command(*command)  # type: ignore[no-untyped-call]
            return connection.read_response()
        except BaseException:
            connection.disconnect()  # type: ignore[no-untyped-call]
            raise

    def __del__(self) -> None:
        if self.pid == os.getpid():  # a forked child leaves the parent's socket alone
            with contextlib.suppress(Exception):
                self._pool.release(self._connection)


_RECORD_SCRIPT = """
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
return redis.call('EXPIRE', KEYS[1], ARGV[1])
"""
