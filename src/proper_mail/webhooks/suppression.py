"""The suppression list: addresses we must not send to, fed by delivery events.

A hard bounce or a complaint suppresses an address for good, and so does an
unsubscribe; soft bounces suppress it after ``soft_bounce_limit`` of them within
``soft_bounce_window``, for ``soft_bounce_ttl``. The decision is the pure
``apply_event``; ``record_event`` applies it to a store.

For the send path (a before_send hook): ``store.suppressed(recipients)`` answers for a
whole envelope in one round trip, ``{address as given: reason}`` for the suppressed
ones only. Addresses are compared normalized (``normalize_address``): the domain in
its IDNA A-label form and the whole address lower-cased. RFC 5321 lets a local part
be case-sensitive, but no mailbox provider treats it so, and the providers' own
suppression lists do not either: ``Bob@x`` and ``bob@x`` are one entry.

Stores (``SuppressionStore``): ``MemorySuppressionStore`` (one process, tests) and
``RedisSuppressionStore`` (keys under a namespace; an expiring entry is a key with a
TTL, so Redis expires it).
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, Protocol

import attrs
import redis

from ..core.addresses import domain_to_ascii, parse_address, quote_local_part
from ..errors import InvalidAddress, InvalidHeader
from .dedupe import map_redis_errors
from .events import DeliveryEvent

__all__ = [
    "DEFAULT_POLICY",
    "Decision",
    "MemorySuppressionStore",
    "RedisSuppressionStore",
    "Suppression",
    "SuppressionPolicy",
    "SuppressionStore",
    "apply_event",
    "normalize_address",
    "record_event",
]


def normalize_address(address: str) -> str:
    """The key *address* is stored under: ``local@domain`` lower-cased, the domain in
    A-label form (``Bob@Bücher.DE`` -> ``bob@xn--bcher-kva.de``); a display name is
    dropped. Raises InvalidAddress when it is not an address."""
    parsed = parse_address(address.strip(), field="address")
    return f"{quote_local_part(parsed.local_part.lower())}@{domain_to_ascii(parsed.domain)}"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen
class Suppression:
    """One entry of the list.

    Attributes:
        address: the normalized address.
        reason: why (``"hard-bounce"``, ``"complaint"``, ``"unsubscribed"``,
            ``"soft-bounces"``, or the reason given to ``add``).
        expires: when the entry lapses; None for good.
    """

    address: str
    reason: str
    expires: dt.datetime | None = None


@attrs.frozen
class SuppressionPolicy:
    """When soft bounces suppress an address.

    Attributes:
        soft_bounce_limit: this many soft bounces ...
        soft_bounce_window: ... within this long suppress the address ...
        soft_bounce_ttl: ... for this long.
    """

    soft_bounce_limit: int = 3
    soft_bounce_window: dt.timedelta = dt.timedelta(days=7)
    soft_bounce_ttl: dt.timedelta = dt.timedelta(days=7)


DEFAULT_POLICY = SuppressionPolicy()


@attrs.frozen
class Decision:
    """What an event does to the list.

    Attributes:
        action: ``"suppress"`` (add ``address`` with ``reason``, until ``expires``) or
            ``"none"``.
        address: the normalized recipient, or None when the event names none (or an
            unreadable one).
        reason: the suppression's reason.
        expires: None for good.
    """

    action: Literal["suppress", "none"]
    address: str | None = None
    reason: str | None = None
    expires: dt.datetime | None = None


_PERMANENT = {
    ("bounced", "hard"): "hard-bounce",
    ("complained", None): "complaint",
    ("unsubscribed", None): "unsubscribed",
}


def apply_event(
    event: DeliveryEvent,
    soft_bounces: Sequence[dt.datetime],
    *,
    now: dt.datetime,
    policy: SuppressionPolicy = DEFAULT_POLICY,
) -> Decision:
    """The decision for *event*. *soft_bounces* are the recipient's recorded soft
    bounces, this one included when it is one (``note_soft_bounce`` returns them)."""
    if event.recipient is None:
        return Decision("none")
    try:
        address = normalize_address(event.recipient)
    except (InvalidAddress, InvalidHeader):
        return Decision("none")
    reason = _PERMANENT.get((event.kind, event.bounce))
    if reason is not None:
        return Decision("suppress", address, reason)
    if event.kind == "bounced" and event.bounce == "soft":
        since = now - policy.soft_bounce_window
        recent = sum(1 for at in soft_bounces if at > since)
        if recent >= policy.soft_bounce_limit:
            return Decision("suppress", address, "soft-bounces", now + policy.soft_bounce_ttl)
    return Decision("none", address)


class SuppressionStore(Protocol):
    """Where suppressed addresses are kept. Every method takes addresses as written
    (a display name is fine) and compares them normalized.

    **Protocol:** ``add`` with ``expires=None`` sets a permanent entry (replacing any);
    with an ``expires`` it adds an entry only when the address has none, so a
    temporary suppression never shortens a permanent one. ``note_soft_bounce`` records
    one soft bounce (by event id, so a redelivered event counts once), drops those
    older than the window, and returns the rest, in one atomic step.
    """

    def is_suppressed(self, address: str) -> str | None:
        """The reason *address* is suppressed, or None."""
        ...

    def suppressed(self, addresses: Iterable[str]) -> dict[str, str]:
        """``{address as given: reason}`` for those of *addresses* that are suppressed
        (one round trip); unreadable addresses are not suppressed."""
        ...

    def add(self, address: str, reason: str, expires: dt.datetime | None = None) -> None:
        """Suppress *address* for *reason*, for good or until *expires*."""
        ...

    def remove(self, address: str) -> bool:
        """Lift the suppression of *address*; True if there was one."""
        ...

    def list(self) -> tuple[Suppression, ...]:
        """Every entry, sorted by address."""
        ...

    def note_soft_bounce(
        self,
        address: str,
        event_id: str,
        at: dt.datetime,
        *,
        window: dt.timedelta,
        now: dt.datetime,
    ) -> tuple[dt.datetime, ...]:
        """Record a soft bounce of *address* at *at*; return its soft bounces newer
        than ``now - window``, this one included when it is."""
        ...


def record_event(
    store: SuppressionStore,
    event: DeliveryEvent,
    now: dt.datetime,
    policy: SuppressionPolicy = DEFAULT_POLICY,
) -> Decision:
    """Apply *event* to *store*: note a soft bounce, suppress when ``apply_event``
    says so. Returns the decision."""
    soft: tuple[dt.datetime, ...] = ()
    if event.kind == "bounced" and event.bounce == "soft" and event.recipient is not None:
        try:
            address = normalize_address(event.recipient)
        except (InvalidAddress, InvalidHeader):
            return Decision("none")
        soft = store.note_soft_bounce(
            address, event.event_id, event.timestamp, window=policy.soft_bounce_window, now=now
        )
    decision = apply_event(event, soft, now=now, policy=policy)
    if decision.action == "suppress" and decision.address and decision.reason:
        store.add(decision.address, decision.reason, decision.expires)
    return decision


def _normalized_or_none(address: str) -> str | None:
    try:
        return normalize_address(address)
    except (InvalidAddress, InvalidHeader):
        return None


class MemorySuppressionStore:
    """The list in this process's memory (one process, tests, the CLI's dry runs).

    Arguments:
        clock: the current time (aware), for expiry.
    """

    def __init__(self, clock: Callable[[], dt.datetime] = _utc_now) -> None:
        self._clock = clock
        self._entries: dict[str, Suppression] = {}
        self._soft: dict[str, dict[str, dt.datetime]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<MemorySuppressionStore {len(self._entries)} entries>"

    def _live(self, key: str, now: dt.datetime) -> Suppression | None:
        entry = self._entries.get(key)
        if entry is not None and entry.expires is not None and entry.expires <= now:
            del self._entries[key]
            return None
        return entry

    def is_suppressed(self, address: str) -> str | None:
        """The reason *address* is suppressed, or None."""
        return self.suppressed([address]).get(address)

    def suppressed(self, addresses: Iterable[str]) -> dict[str, str]:
        """``{address as given: reason}`` for the suppressed ones."""
        now = self._clock()
        found: dict[str, str] = {}
        with self._lock:
            for address in addresses:
                key = _normalized_or_none(address)
                entry = self._live(key, now) if key else None
                if entry is not None:
                    found[address] = entry.reason
        return found

    def add(self, address: str, reason: str, expires: dt.datetime | None = None) -> None:
        """Suppress *address* for *reason*, for good or until *expires*."""
        key = normalize_address(address)
        with self._lock:
            if expires is None or self._live(key, self._clock()) is None:
                self._entries[key] = Suppression(key, reason, expires)

    def remove(self, address: str) -> bool:
        """Lift the suppression of *address*; True if there was one."""
        key = normalize_address(address)
        with self._lock:
            self._soft.pop(key, None)
            if self._live(key, self._clock()) is None:
                return False
            del self._entries[key]
            return True

    def list(self) -> tuple[Suppression, ...]:
        """Every live entry, sorted by address."""
        now = self._clock()
        with self._lock:
            live = [e for key in list(self._entries) if (e := self._live(key, now))]
        return tuple(sorted(live, key=lambda e: e.address))

    def note_soft_bounce(
        self,
        address: str,
        event_id: str,
        at: dt.datetime,
        *,
        window: dt.timedelta,
        now: dt.datetime,
    ) -> tuple[dt.datetime, ...]:
        """Record a soft bounce; return those newer than ``now - window``."""
        key = normalize_address(address)
        since = now - window
        with self._lock:
            bounces = self._soft.setdefault(key, {})
            bounces[event_id] = at
            for old in [k for k, when in bounces.items() if when <= since]:
                del bounces[old]
            if not bounces:
                del self._soft[key]
            return tuple(sorted(bounces.values()))


class RedisSuppressionStore:
    """The list in Redis, shared by every process.

    Keys: ``<namespace>:address:<normalized address>`` holds the reason (a TTL when
    the entry expires); ``<namespace>:soft:<address>`` is a sorted set of soft-bounce
    event ids scored by time, expiring after the window.

    Arguments:
        client: a ``redis.Redis``.
        namespace: the key prefix.
        clock: the current time, to show an expiring entry's end in ``list()``.
    """

    def __init__(
        self,
        client: redis.Redis,
        namespace: str = "proper_mail:suppressions",
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self._clock = clock

    def __repr__(self) -> str:
        return f"<RedisSuppressionStore {self.namespace!r}>"

    def _key(self, normalized: str) -> str:
        return f"{self.namespace}:address:{normalized}"

    def is_suppressed(self, address: str) -> str | None:
        """The reason *address* is suppressed, or None."""
        return self.suppressed([address]).get(address)

    def suppressed(self, addresses: Iterable[str]) -> dict[str, str]:
        """``{address as given: reason}`` for the suppressed ones: one MGET."""
        given = [(a, k) for a in addresses if (k := _normalized_or_none(a))]
        if not given:
            return {}
        with map_redis_errors("the suppression list"):
            values = self.client.mget([self._key(k) for _, k in given])
        return {a: _text(v) for (a, _), v in zip(given, values, strict=True) if v is not None}

    def add(self, address: str, reason: str, expires: dt.datetime | None = None) -> None:
        """Suppress *address* for *reason*: SET (permanent), or SET NX PXAT."""
        key = self._key(normalize_address(address))
        with map_redis_errors("the suppression list"):
            if expires is None:
                self.client.set(key, reason.encode())
            else:
                at_ms = max(int(expires.timestamp() * 1000), 1)
                self.client.set(key, reason.encode(), nx=True, pxat=at_ms)

    def remove(self, address: str) -> bool:
        """Lift the suppression of *address* (and forget its soft bounces)."""
        normalized = normalize_address(address)
        with map_redis_errors("the suppression list"):
            pipe = self.client.pipeline(transaction=False)
            pipe.delete(self._key(normalized))
            pipe.delete(f"{self.namespace}:soft:{normalized}")
            removed, _ = pipe.execute()
        return bool(removed)

    def list(self) -> tuple[Suppression, ...]:
        """Every entry, sorted by address (SCAN, then GET + PTTL per key)."""
        prefix = self._key("")
        now = self._clock()
        entries = []
        with map_redis_errors("the suppression list"):
            keys = [_text(k) for k in self.client.scan_iter(match=f"{prefix}*", count=1000)]
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.get(key)
                pipe.pttl(key)
            replies = pipe.execute()
        for key, reason, ttl in zip(keys, replies[::2], replies[1::2], strict=True):
            if reason is None:
                continue  # expired between SCAN and GET
            expires = now + dt.timedelta(milliseconds=ttl) if ttl > 0 else None
            entries.append(Suppression(key[len(prefix) :], _text(reason), expires))
        return tuple(sorted(entries, key=lambda e: e.address))

    def note_soft_bounce(
        self,
        address: str,
        event_id: str,
        at: dt.datetime,
        *,
        window: dt.timedelta,
        now: dt.datetime,
    ) -> tuple[dt.datetime, ...]:
        """ZADD, ZREMRANGEBYSCORE, ZRANGE, PEXPIRE in one MULTI/EXEC."""
        key = f"{self.namespace}:soft:{normalize_address(address)}"
        since = (now - window).timestamp()
        with map_redis_errors("the suppression list"):
            pipe = self.client.pipeline(transaction=True)
            pipe.zadd(key, {event_id: at.timestamp()})
            pipe.zremrangebyscore(key, "-inf", since)
            pipe.zrange(key, 0, -1, withscores=True)
            pipe.pexpire(key, max(int(window.total_seconds() * 1000), 1))
            replies = pipe.execute()
        return tuple(dt.datetime.fromtimestamp(score, dt.UTC) for _, score in replies[2])


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
