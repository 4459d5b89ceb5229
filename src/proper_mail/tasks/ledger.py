"""The idempotency ledger: which recipients of a Message-ID are done, and who is sending.

Dramatiq delivers at least once: a worker that dies after sending but before acking has
its message run again, and the same payload may be enqueued twice and run by two
workers at the same moment. So, before sending, a task **claims** its Message-ID: a
lease (``SET NX PX``) under a token of its own, covering the recipients that are not
done yet; nobody else sends to them while it is held. It sends to those, then
**settles**: the recipients that accepted or were refused for good become done (a set per
Message-ID, with a TTL), and the lease is released. A second copy that finds the lease
held sends nothing: it waits for the outcome (it looks again soon, and never later than
the lease's end), then finds its recipients done, or the lease free.

The windows that remain (README, *Delivery guarantees*):

- the worker dies after the server accepted the message (250 after DATA) and before the
  settle that follows it: once the lease expires, a redelivery sends those recipients a
  second copy, with the same Message-ID;
- a send that outlives its lease (longer than ``QUEUE_CLAIM_TTL`` and the mailer's own
  deadline together): another copy may claim and send meanwhile;
- the settle fails (Redis gone after the send): the task logs it at ERROR and does not
  retry; the claims expire with their lease.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol

import attrs
import redis

from ..errors import LedgerUnavailable

__all__ = ["Claim", "Ledger", "MemoryLedger", "RedisLedger"]

#: How long a Message-ID is remembered (Dramatiq keeps dead messages for 7 days).
DEFAULT_TTL_SECONDS = 8 * 24 * 3600
#: Recipients per settle script call (Lua's unpack() has a stack limit).
_BATCH = 500


@attrs.frozen
class Claim:
    """What a claim found, per recipient.

    Attributes:
        claimed: the recipients this task now holds and may send to.
        held: the recipients another task holds right now (it is sending to them).
        done: the recipients already sent to, or refused for good.
        wait: seconds until the other task's lease expires (0 when none is held).
    """

    claimed: tuple[str, ...] = ()
    held: tuple[str, ...] = ()
    done: tuple[str, ...] = ()
    wait: float = 0.0


class Ledger(Protocol):
    """**Protocol:** remembers, per Message-ID, the recipients that are done, and leases
    the others to one sender at a time. Every method raises LedgerUnavailable when the
    ledger cannot be reached."""

    def claim(
        self, message_id: str, recipients: Sequence[str], token: str, lease_seconds: float
    ) -> Claim:
        """Lease *message_id*'s recipients that are not done (unless another task holds
        the lease); a claim that finds nothing to send leaves no lease behind."""
        ...

    def settle(
        self, message_id: str, done: Iterable[str], claimed: Iterable[str], token: str
    ) -> None:
        """Remember *done* as done, and release this *token*'s lease (when it *claimed*
        anything)."""
        ...

    def done(self, message_id: str) -> set[str]:
        """The recipients of *message_id* already sent to or refused for good."""
        ...


class MemoryLedger:
    """A ledger in this process (immediate and stub queues); *clock* is monotonic seconds."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._done: dict[str, set[str]] = {}
        self._leases: dict[str, tuple[str, float]] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def claim(
        self, message_id: str, recipients: Sequence[str], token: str, lease_seconds: float
    ) -> Claim:
        """Lease *message_id*'s recipients that are not done, unless another task holds it."""
        now = self._clock()
        with self._lock:
            finished = self._done.get(message_id, set())
            done = tuple(r for r in recipients if r in finished)
            left = tuple(r for r in recipients if r not in finished)
            lease = self._leases.get(message_id)
            if lease is not None and lease[1] > now and lease[0] != token:
                return Claim((), left, done, lease[1] - now) if left else Claim((), (), done)
            if left:
                self._leases[message_id] = (token, now + lease_seconds)
            return Claim(left, (), done)

    def settle(
        self, message_id: str, done: Iterable[str], claimed: Iterable[str], token: str
    ) -> None:
        """Remember *done*; release this token's lease."""
        with self._lock:
            self._done.setdefault(message_id, set()).update(done)
            lease = self._leases.get(message_id)
            if lease is not None and lease[0] == token:
                del self._leases[message_id]

    def done(self, message_id: str) -> set[str]:
        """The recipients of *message_id* already done."""
        with self._lock:
            return set(self._done.get(message_id, ()))

    def record(self, message_id: str, recipients: Iterable[str]) -> None:
        """Remember *recipients* as done (a settle without a lease)."""
        self.settle(message_id, recipients, (), "")


class RedisLedger:
    """A ledger in Redis, shared by every worker.

    Keys: ``<namespace>:sent:<Message-ID>``, a set of the done envelope addresses with a
    TTL; ``<namespace>:claim:<Message-ID>``, the lease, holding the claiming task's
    token. No key or value ever holds a credential.

    This is on the path of every queued message, twice (claim, settle: one script each),
    so it talks to Redis with redis-py's connection layer directly: each thread takes one
    connection for good (its threads never wait on a pool's lock, no command pays the
    pool's checkout health check or the client layer's wrappers), sends the command and
    reads the reply. The connections come from a pool of the ledger's own, with
    *client*'s settings (server, credentials, TLS, timeouts) and no size limit: held
    connections never take a slot of the broker's pool, whose limit (100 by default)
    would otherwise starve Dramatiq at 100 threads.
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
        self._set_get = True  # SET NX ... GET (Redis >= 7), until Redis says otherwise

    def _key(self, message_id: str) -> str:
        return f"{self.namespace}:sent:{message_id}"

    def _claim_key(self, message_id: str) -> str:
        return f"{self.namespace}:claim:{message_id}"

    def _connection(self) -> _ThreadConnection:
        held: _ThreadConnection | None = getattr(self._local, "held", None)
        if held is None or held.pid != os.getpid():  # none yet, or inherited by a fork
            held = _ThreadConnection(self._pool)
            self._local.held = held  # given back to the pool when the thread ends
        return held

    def _call(self, what: str, *command: str | int) -> Any:
        """Send *command* on this thread's connection and return the reply (see
        ``_pipeline``); EVALSHA of a script Redis has not seen (restarted, SCRIPT FLUSH)
        falls back to EVAL, which caches it again."""
        try:
            return self._pipeline(what, command)[0]
        except redis.exceptions.NoScriptError:
            return self._call(what, "EVAL", _SCRIPTS[str(command[1])], *command[2:])

    def claim(
        self, message_id: str, recipients: Sequence[str], token: str, lease_seconds: float
    ) -> Claim:
        """Lease *message_id*'s recipients that are not done, unless another task holds
        the lease: ``SET NX PX GET`` and SMEMBERS in one round trip (plain commands,
        cheaper for Redis than a script); one more for the lease's time left when another
        task holds it, or to give it back when everything was done already."""
        done_key, claim_key = self._key(message_id), self._claim_key(message_id)
        lease_ms = max(1, int(lease_seconds * 1000))
        owner, members = self._lease(claim_key, done_key, token, lease_ms)
        finished = {m.decode() if isinstance(m, bytes) else str(m) for m in members}
        done = tuple(r for r in recipients if r in finished)
        left = tuple(r for r in recipients if r not in finished)
        if owner is not None and owner not in (token, token.encode()):  # another task's
            if not left:
                return Claim((), (), done)
            left_ms = self._call("be read", "PTTL", claim_key)
            return Claim((), left, done, max(int(left_ms), 0) / 1000)
        if not left:
            self.settle(message_id, (), (), token)
        return Claim(left, (), done)

    def settle(
        self, message_id: str, done: Iterable[str], claimed: Iterable[str], token: str
    ) -> None:
        """Add *done* to the Message-ID's set (TTL reset) and release this token's lease:
        one script call (per 500 recipients; the lease goes with the last)."""
        members = list(done)
        done_key, claim_key = self._key(message_id), self._claim_key(message_id)
        batches = [members[i : i + _BATCH] for i in range(0, len(members), _BATCH)] or [[]]
        for number, batch in enumerate(batches, 1):
            release = token if number == len(batches) else ""
            self._call(
                "be written",
                "EVALSHA",
                _SETTLE_SHA,
                2,
                done_key,
                claim_key,
                release,
                self.ttl_seconds,
                *batch,
            )

    def _lease(self, claim_key: str, done_key: str, token: str, lease_ms: int) -> list[Any]:
        """[the lease holder's token before this call (None: it is ours now), the done
        members]. ``SET NX GET`` needs Redis 7; on an older one, SET NX then GET."""
        if self._set_get:
            try:
                return self._connection().pipeline(
                    ("SET", claim_key, token, "NX", "PX", lease_ms, "GET"),
                    ("SMEMBERS", done_key),
                )
            except redis.ResponseError:  # Redis 6: NX and GET do not go together
                self._set_get = False
            except redis.RedisError:
                pass  # the checked path below reopens the connection and says what failed
        got, owner, members = self._pipeline(
            "be read",
            ("SET", claim_key, token, "NX", "PX", lease_ms),
            ("GET", claim_key),
            ("SMEMBERS", done_key),
        )
        return [None if got is not None else owner, members]

    def _pipeline(self, what: str, *commands: tuple[str | int, ...]) -> list[Any]:
        """Send *commands* in one round trip on this thread's connection, return their
        replies. Every command here is safe to send twice (settling is a set union and a
        release by token; a claim's SET ... GET tells whose lease it is), so a connection
        Redis closed (a restart, an idle timeout, CLIENT KILL) is reopened and the commands
        sent once more. A timeout is not retried (it already waited ``socket_timeout``).
        LedgerUnavailable when Redis fails."""
        for attempt in (1, 2):
            try:
                return self._connection().pipeline(*commands)
            except redis.exceptions.NoScriptError:
                raise
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
        """Remember *recipients* as done (a settle without leases)."""
        self.settle(message_id, recipients, (), "")


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
        return self.pipeline(command)[0]

    def pipeline(self, *commands: tuple[str | int, ...]) -> list[Any]:
        """Send *commands* in one write, read their replies in order (a reply that is an
        error is raised)."""
        connection = self._connection
        try:
            connection.send_packed_command([b"".join(_pack(c) for c in commands)])  # type: ignore[no-untyped-call]
            return [connection.read_response() for _ in commands]
        except BaseException:
            connection.disconnect()  # type: ignore[no-untyped-call]
            raise

    def __del__(self) -> None:
        if self.pid == os.getpid():  # a forked child leaves the parent's socket alone
            with contextlib.suppress(Exception):
                self._pool.release(self._connection)


def _pack(command: tuple[str | int, ...]) -> bytes:
    """*command* in the Redis protocol (RESP): what redis-py's ``pack_command`` writes for
    str and int arguments, without its per-argument encoder calls (this runs twice for
    every queued message)."""
    encoded = [str(arg).encode() for arg in command]
    return b"*%d\r\n%s" % (
        len(encoded),
        b"".join([b"$%d\r\n%s\r\n" % (len(arg), arg) for arg in encoded]),
    )


# KEYS: the done set, the lease. ARGV: the token whose lease to release ("" for none), the
# TTL of the set in seconds, then the members to add.
_SETTLE_SCRIPT = """
if #ARGV > 2 then
  redis.call('SADD', KEYS[1], unpack(ARGV, 3))
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
if ARGV[1] ~= '' and redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return 1
"""


def _sha(script: str) -> str:
    # SHA-1 is what Redis names scripts by (EVALSHA), not a security measure here.
    return hashlib.sha1(script.encode(), usedforsecurity=False).hexdigest()


_SETTLE_SHA = _sha(_SETTLE_SCRIPT)
_SCRIPTS = {_SETTLE_SHA: _SETTLE_SCRIPT}
