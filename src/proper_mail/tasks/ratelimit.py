"""A mailer's rate limit (``"rate_limit": "14/s"`` in MAILERS): one token bucket per mailer.

The bucket's arithmetic is one pure function, ``take(bucket, now, rate, burst)``: it
refills the bucket for the time that passed, takes a token when there is one, and
otherwise says how long until there is. Two shells run it:

- ``RedisRateLimiter``: the bucket lives in Redis (``<namespace>:rate:<alias>``, a hash
  with a TTL, so an idle bucket vanishes), and ``TAKE_SCRIPT``, a line-by-line
  transcription of ``take`` in Lua, runs it atomically with the server's clock (``TIME``):
  every worker process of the fleet shares the one bucket and the one clock.
- ``LocalRateLimiter``: the bucket in this process, under a lock (immediate mode, a stub
  broker, a ledger that is not Redis): the limit is per process.

``acquire()`` sleeps while the wait is short and gives up, raising ``RateLimited`` with
``retry_after``, once waiting would pass ``max_wait`` (measured from the first try): a
worker thread is not held for minutes, the queue retries the message later instead (a
wait that does not count against ``QUEUE_MAX_RETRIES``). A Redis that cannot be reached
fails closed: ``RateLimited``, nothing sent, retried later like any transient failure.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

import attrs
import redis

from ..errors import ConfigError, RateLimited
from .ledger import Ledger, RedisLedger

__all__ = [
    "Bucket",
    "LocalRateLimiter",
    "Rate",
    "RedisRateLimiter",
    "parse_rate",
    "rate_limiter_for",
    "take",
]

#: How long ``acquire()`` may wait in all before it raises ``RateLimited``.
DEFAULT_MAX_WAIT = 10.0
_PERIODS = {"s": 1.0, "m": 60.0, "h": 3600.0}
_RATE = re.compile(r"([0-9]+)/([smh])")
_EPSILON = 1e-9


@attrs.frozen
class Rate:
    """A parsed rate limit.

    Attributes:
        count: sends allowed per period.
        period: the period in seconds (1, 60 or 3600).
        burst: the bucket's size: sends that may go at once after a quiet spell (1: evenly
            spaced).
    """

    count: int
    period: float
    burst: int = 1

    @property
    def per_second(self) -> float:
        """Tokens added to the bucket per second."""
        return self.count / self.period

    def __str__(self) -> str:
        unit = {1.0: "s", 60.0: "m", 3600.0: "h"}.get(self.period, f"{self.period:g}s")
        return f"{self.count}/{unit}" + (f", burst {self.burst}" if self.burst != 1 else "")


def parse_rate(where: str, text: object, burst: object = 1) -> Rate:
    """Parse ``"14/s"``, ``"100/m"`` or ``"1000/h"`` and a burst (an int >= 1); ConfigError
    naming *where* (``MAILERS['postmark']``) and the bad value otherwise."""
    match = _RATE.fullmatch(text) if isinstance(text, str) else None
    if match is None or int(match.group(1)) < 1:
        raise ConfigError(
            f"{where}['rate_limit'] must be a positive whole number of sends per second, "
            f"minute or hour, like '14/s', '100/m' or '1000/h', not {text!r}"
        )
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise ConfigError(
            f"{where}['rate_burst'] must be a whole number >= 1 (1: evenly spaced sends), "
            f"not {burst!r}"
        )
    return Rate(count=int(match.group(1)), period=_PERIODS[match.group(2)], burst=burst)


@attrs.frozen
class Bucket:
    """A token bucket's state.

    Attributes:
        tokens: the tokens in it (fractional while it refills).
        stamp: the clock time they were counted at (seconds).
    """

    tokens: float
    stamp: float


def take(bucket: Bucket | None, now: float, rate: float, burst: int) -> tuple[Bucket, float]:
    """Take one token from *bucket* at time *now*: return the bucket after, and 0.0 when a
    token was taken, else the seconds until one will be there (nothing taken).

    *rate* is tokens per second, *burst* the bucket's size. No bucket (none yet, or one
    that expired) is a full one. A clock that went back refills nothing. A token short by
    a rounding error (1e-9) counts as a whole one: waiting for 1e-17 s would not move the
    clock.
    """
    if bucket is None:
        tokens, stamp = float(burst), now
    else:
        stamp = max(bucket.stamp, now)
        tokens = min(float(burst), bucket.tokens + (stamp - bucket.stamp) * rate)
    if tokens >= 1.0 - _EPSILON:
        return Bucket(max(tokens - 1.0, 0.0), stamp), 0.0
    return Bucket(tokens, stamp), (1.0 - tokens) / rate


#: ``take`` in Lua, run atomically by Redis with its own clock. KEYS[1]: the bucket (a hash
#: of tokens and stamp); ARGV: rate (tokens per second), burst, and optionally the time
#: (only the tests pass one, to check the script against ``take``'s table; the limiter
#: always uses the server's ``TIME``, the one clock every worker shares). Returns 0 when
#: a token was taken, else the whole milliseconds until one will be there (at least 1).
#: The key expires once the bucket would be full again: no key is a full bucket.
TAKE_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) + tonumber(time[2]) / 1000000
end
local saved = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens, stamp
if saved[1] and saved[2] then
  local last = tonumber(saved[2])
  stamp = math.max(last, now)
  tokens = math.min(burst, tonumber(saved[1]) + (stamp - last) * rate)
else
  tokens, stamp = burst, now
end
local wait = 0
if tokens >= 1 - 1e-9 then
  tokens = math.max(tokens - 1, 0)
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens),
  'stamp', string.format('%.17g', stamp))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return math.ceil(wait * 1000)
"""


class _Limiter:
    """The waiting loop both limiters share: try, sleep while the wait is short, give up
    with ``RateLimited`` past ``max_wait``."""

    def __init__(
        self,
        alias: str,
        rate: Rate,
        *,
        max_wait: float,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.alias = alias
        self.rate = rate
        self.max_wait = max_wait
        self._clock = clock
        self._sleep = sleep

    def _take(self) -> float:
        """Take a token: 0.0, or the seconds until one will be there."""
        raise NotImplementedError

    def acquire(self) -> None:
        """Wait for a send slot; ``RateLimited`` (with ``retry_after``) when the wait would
        pass ``max_wait`` in all."""
        deadline = self._clock() + self.max_wait
        while True:
            wait = self._take()
            if wait <= 0:
                return
            if self._clock() + wait > deadline:
                raise RateLimited(
                    f"{self.alias or 'the mailer'}: over its rate limit ({self.rate}); "
                    f"the next send slot is {wait:.2f} s away",
                    retry_after=wait,
                )
            self._sleep(wait)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias} {self.rate}>"


class LocalRateLimiter(_Limiter):
    """A token bucket in this process, shared by its threads (immediate mode)."""

    def __init__(
        self,
        alias: str,
        rate: Rate,
        *,
        max_wait: float = DEFAULT_MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(alias, rate, max_wait=max_wait, clock=clock, sleep=sleep)
        self._bucket: Bucket | None = None
        self._lock = threading.Lock()

    def _take(self) -> float:
        with self._lock:
            self._bucket, wait = take(
                self._bucket, self._clock(), self.rate.per_second, self.rate.burst
            )
        return wait


class RedisRateLimiter(_Limiter):
    """A token bucket in Redis, shared by every process that uses the same key.

    One script call per try (EVALSHA; redis-py loads the script again after a NOSCRIPT).
    The Redis client's own timeouts bound each call; any Redis error fails closed.
    """

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        alias: str,
        rate: Rate,
        *,
        max_wait: float = DEFAULT_MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(alias, rate, max_wait=max_wait, clock=clock, sleep=sleep)
        self.key = key
        self._script = client.register_script(TAKE_SCRIPT)
        self._args = (repr(rate.per_second), rate.burst)

    def _take(self) -> float:
        try:
            waited = self._script(keys=[self.key], args=self._args)
        except redis.RedisError as e:
            raise RateLimited(
                f"{self.alias or 'the mailer'}: its rate limiter's Redis did not answer "
                f"({type(e).__name__}); not sent, so the limit holds"
            ) from e
        return int(waited) / 1000.0


def rate_limiter_for(ledger: Ledger, alias: str, rate: Rate) -> _Limiter:
    """The limiter of mailer *alias*: in the ledger's Redis (``<namespace>:rate:<alias>``,
    shared by every worker) when the ledger is Redis, else in this process."""
    if isinstance(ledger, RedisLedger):
        return RedisRateLimiter(ledger.client, f"{ledger.namespace}:rate:{alias}", alias, rate)
    return LocalRateLimiter(alias, rate)
