"""FailoverMailer and RoundRobinMailer: mailers made of other MAILERS entries.

::

    MAILERS = {
        "postmark": {"type": "proper_mail.PostmarkMailer", ...},
        "ses": {"type": "proper_mail.SESMailer", ...},
        "mail": {"type": "proper_mail.FailoverMailer", "mailers": ["postmark", "ses"]},
    }

``deliver`` tries the mailers in order and moves to the next one only on a
``TransientDeliveryError`` (a timeout, a 5xx, a 429): a permanent error, a
``MessageError`` (``UnsupportedFeature``) or a ``ConfigError`` is raised at once, since
another mailer would refuse the message too or the set-up is wrong. The record is handed
to each mailer as it is (the same object). The ``SendResult`` names the mailer that took
it; a result with deferred recipients is a result (the queue retries those).

A circuit breaker per inner mailer skips one that keeps failing: ``failure_threshold``
transient failures in a row open it; after ``cooldown`` seconds one trial send goes
through (half-open); its success closes the circuit, its failure opens it again. When
every circuit is open the mailer whose cool-down ends first is tried anyway: a message is
never failed without any mailer trying it. A ``RateLimited`` (the mailer's rate limit, a
provider's 429) moves on to the next mailer but says nothing about the mailer's health,
so it neither opens nor closes a circuit; a permanent error does (the mailer answered).

The breakers are per FailoverMailer and per process: each worker process learns on its
own that a provider is down (after ``failure_threshold`` failures).

The decisions are pure functions over a frozen ``Breaker`` and a time (``admit``,
``record``, ``reopens_at``); ``Circuits`` holds the breakers of one FailoverMailer under
a lock.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

import attrs

from ..core.records import Message, SendResult
from ..errors import ConfigError, DeliveryError, RateLimited, TransientDeliveryError
from .base import BaseMailer, DictCodec, RateLimiter

__all__ = [
    "Breaker",
    "Circuits",
    "FailoverMailer",
    "Health",
    "RoundRobinMailer",
    "admit",
    "health_of",
    "names_of",
    "record",
    "reopens_at",
]

log = logging.getLogger("proper_mail")

BreakerState = Literal["closed", "open", "half-open"]
#: What one attempt says about a mailer: it answered (``up``), it failed transiently
#: (``down``), or nothing either way (``unknown``: rate limited, the message refused
#: before sending).
Health = Literal["up", "down", "unknown"]


@attrs.frozen
class Breaker:
    """The circuit of one inner mailer.

    Attributes:
        state: ``closed`` (used), ``open`` (skipped until its cool-down is over) or
            ``half-open`` (one trial send is under way).
        failures: transient failures in a row.
        opened_at: the clock time it last opened.
    """

    state: BreakerState = "closed"
    failures: int = 0
    opened_at: float = 0.0


CLOSED = Breaker()


def admit(breaker: Breaker, now: float, cooldown: float) -> tuple[Breaker, bool]:
    """May the mailer be tried at *now*? Closed: yes. Open with its cool-down over: yes, as
    the one trial (it becomes half-open). Open before that, or half-open (a trial is under
    way): no."""
    if breaker.state == "closed":
        return breaker, True
    if breaker.state == "open" and now - breaker.opened_at >= cooldown:
        return attrs.evolve(breaker, state="half-open"), True
    return breaker, False


def record(breaker: Breaker, health: Health, now: float, threshold: int) -> Breaker:
    """The breaker after an attempt that said *health* at *now*.

    ``up`` closes it. ``down`` counts a failure: a closed circuit opens at *threshold*
    failures in a row; a failed trial (or a forced try) opens it again, its cool-down
    starting over. ``unknown`` changes nothing, but ends a trial: a half-open breaker is
    open again with its cool-down already over, so the next send is the next trial.
    """
    if health == "up":
        return CLOSED
    if health == "unknown":
        return attrs.evolve(breaker, state="open") if breaker.state == "half-open" else breaker
    failures = breaker.failures + 1
    if breaker.state == "closed" and failures < threshold:
        return Breaker("closed", failures)
    return Breaker("open", failures, now)


def reopens_at(breaker: Breaker, cooldown: float) -> float:
    """When the mailer may be tried again: at once (-inf) for a closed breaker."""
    if breaker.state == "closed":
        return -math.inf
    return breaker.opened_at + cooldown


def health_of(error: BaseException | None) -> Health:
    """What an attempt's outcome says about the mailer (None: it returned a result)."""
    if error is None:
        return "up"
    if isinstance(error, RateLimited):
        return "unknown"
    if isinstance(error, TransientDeliveryError):
        return "down"
    if isinstance(error, DeliveryError):
        return "up"
    return "unknown"


class Circuits:
    """The breakers of one FailoverMailer's inner mailers, thread-safe."""

    def __init__(
        self,
        names: Iterable[str],
        *,
        threshold: int,
        cooldown: float,
        clock: Callable[[], float],
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._breakers = dict.fromkeys(names, CLOSED)
        self._lock = threading.Lock()

    def admit(self, name: str) -> bool:
        """Whether *name* may be tried now (a trial is counted as under way)."""
        with self._lock:
            self._breakers[name], admitted = admit(
                self._breakers[name], self._clock(), self.cooldown
            )
            return admitted

    def force(self) -> str:
        """The mailer whose cool-down ends first (the first of equals), taken as a trial:
        for when no circuit admits a send."""
        with self._lock:
            name = min(self._breakers, key=lambda n: reopens_at(self._breakers[n], self.cooldown))
            breaker = self._breakers[name]
            if breaker.state == "open":
                self._breakers[name] = attrs.evolve(breaker, state="half-open")
            return name

    def record(self, name: str, health: Health) -> tuple[Breaker, Breaker]:
        """Record an attempt's *health*; return the breaker before and after."""
        with self._lock:
            before = self._breakers[name]
            after = record(before, health, self._clock(), self.threshold)
            self._breakers[name] = after
            return before, after

    def __getitem__(self, name: str) -> Breaker:
        with self._lock:
            return self._breakers[name]


def names_of(value: object) -> tuple[str, ...]:
    """The ``mailers`` option: a non-empty list of distinct MAILERS names; ConfigError
    naming the bad value otherwise."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(
            f"'mailers' must be a list of MAILERS names, like ['postmark', 'ses'], not {value!r}"
        )
    if not value:
        raise ConfigError("'mailers' is empty: name the MAILERS to send through, in order")
    for index, name in enumerate(value):
        if not isinstance(name, str) or not name:
            raise ConfigError(f"'mailers'[{index}] must be a MAILERS name (a str), not {name!r}")
    if len(set(value)) != len(value):
        twice = next(n for n in value if list(value).count(n) > 1)
        raise ConfigError(f"'mailers' names {twice!r} twice")
    return tuple(value)


def _positive(name: str, value: object, *, whole: bool = False) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (whole and not isinstance(value, int))
        or not value > 0
    ):
        what = "whole number" if whole else "number"
        raise ConfigError(f"{name} must be a positive {what}, not {value!r}")
    return float(value)


class FailoverMailer(BaseMailer):
    """Send through the first of *mailers* that takes the message; see the module.

    Options (MAILERS):
        mailers: the names of other MAILERS entries, in the order to try them.
        failure_threshold: transient failures in a row that open a mailer's circuit.
        cooldown: seconds an open circuit skips its mailer before a trial send.
        clock: the monotonic clock the breakers read (tests inject one).
        fail_silently: as for every mailer.
    """

    # It hands mail to nobody itself: each inner mailer is checked when it is called.
    sends_for_real = False

    def __init__(
        self,
        *,
        mailers: Sequence[str],
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        fail_silently: bool = False,
    ) -> None:
        super().__init__(fail_silently=fail_silently)
        self.mailer_names = names_of(mailers)
        self.failure_threshold = int(_positive("failure_threshold", failure_threshold, whole=True))
        self.cooldown = _positive("cooldown", cooldown)
        if not callable(clock):
            raise ConfigError(f"clock must be a callable returning seconds, not {clock!r}")
        self.circuits = Circuits(
            self.mailer_names, threshold=self.failure_threshold, cooldown=self.cooldown, clock=clock
        )

    @classmethod
    def depends_on(cls, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The ``mailers`` option's names (ConfigError when it is not a list of names)."""
        return names_of(options.get("mailers"))

    def bind(
        self,
        alias: str,
        codec: DictCodec,
        *,
        limiter: RateLimiter | None = None,
        mailers: Mapping[str, BaseMailer] | None = None,
        guard: Callable[[Message], Message | None] | None = None,
    ) -> None:
        """As BaseMailer's, and check the names against the configured *mailers*."""
        super().bind(alias, codec, limiter=limiter, mailers=mailers, guard=guard)
        if mailers is None:
            return
        for name in self.mailer_names:
            if name == alias:
                raise ConfigError(f"MAILERS[{alias!r}]['mailers'] names the mailer itself")
            if name not in mailers:
                raise ConfigError(
                    f"MAILERS[{alias!r}]['mailers'] names {name!r}, which is not in MAILERS "
                    f"({', '.join(mailers)})"
                )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias or 'built directly'} {list(self.mailer_names)}>"

    @property
    def send_timeout(self) -> float:
        """The longest one send may take: every inner mailer's own ``send_timeout`` in turn
        (the queue's claim on a message lasts at least twice this); 0 when not bound."""
        if self._mailers is None:
            return 0.0
        return sum(float(getattr(self._mailers[n], "send_timeout", 0.0)) for n in self.mailer_names)

    def order(self) -> tuple[str, ...]:
        """The mailers to try for one message, in order."""
        return self.mailer_names

    def deliver(self, message: Message) -> SendResult:
        """Send *message* through the first mailer that takes it; when every one fails
        transiently, a TransientDeliveryError listing each one's error."""
        failures: list[tuple[str, TransientDeliveryError]] = []
        skipped: list[str] = []
        for name in self.order():
            if not self.circuits.admit(name):
                skipped.append(name)
                continue
            result = self._attempt(name, message, failures)
            if result is not None:
                return result
        if not failures:  # every circuit open: try the one whose cool-down ends first
            name = self.circuits.force()
            skipped.remove(name)
            result = self._attempt(name, message, failures)
            if result is not None:
                return result
        raise self._all_failed(failures, skipped) from failures[-1][1]

    def _attempt(
        self,
        name: str,
        message: Message,
        failures: list[tuple[str, TransientDeliveryError]],
    ) -> SendResult | None:
        """One admitted attempt: the result, or None after a transient failure (recorded
        in *failures*); any other error is raised. The breaker hears the outcome."""
        error: BaseException | None = None
        try:
            result = self._inner(name).deliver(message)
        except TransientDeliveryError as e:
            error = e
            failures.append((name, e))
            log.warning(
                "failover %s: %s failed to send %s (%s)",
                self.alias or "(built directly)",
                name,
                message.message_id,
                type(e).__name__,
            )
            return None
        except BaseException as e:
            error = e
            raise
        finally:
            self._heard(name, health_of(error))
        return result if result.mailer else attrs.evolve(result, mailer=name)

    def _inner(self, name: str) -> BaseMailer:
        if self._mailers is None:
            raise ConfigError(
                f"{type(self).__name__} sends through other MAILERS entries by name: "
                "configure it in MAILERS (or bind it with mailers=...)"
            )
        return self._mailers[name]

    def _heard(self, name: str, health: Health) -> None:
        before, after = self.circuits.record(name, health)
        me = self.alias or "(built directly)"
        if after.state == "open" and health == "down" and before.state != "open":
            log.warning(
                "failover %s: circuit of %s opened after %d transient failure(s) in a row; "
                "skipped for %g s",
                me,
                name,
                after.failures,
                self.cooldown,
            )
        elif after.state == "closed" and before.state != "closed":
            log.warning("failover %s: circuit of %s closed (a trial send was answered)", me, name)

    def _all_failed(
        self, failures: list[tuple[str, TransientDeliveryError]], skipped: list[str]
    ) -> TransientDeliveryError:
        parts = [f"{name}: {type(e).__name__}: {e}" for name, e in failures]
        parts += [f"{name}: skipped (circuit open)" for name in skipped]
        waits = [e.retry_after for _, e in failures if e.retry_after is not None]
        limited = all(isinstance(e, RateLimited) for _, e in failures)
        cls = RateLimited if limited else TransientDeliveryError
        return cls(
            f"{self.alias or type(self).__name__}: every mailer failed: {'; '.join(parts)}",
            retry_after=min(waits) if waits else None,
        )


class RoundRobinMailer(FailoverMailer):
    """Spread sends over *mailers*: each send starts at the next one, then fails over
    through the others like FailoverMailer (same options)."""

    def __init__(
        self,
        *,
        mailers: Sequence[str],
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        fail_silently: bool = False,
    ) -> None:
        super().__init__(
            mailers=mailers,
            failure_threshold=failure_threshold,
            cooldown=cooldown,
            clock=clock,
            fail_silently=fail_silently,
        )
        self._turns = itertools.count()
        self._turn_lock = threading.Lock()

    def order(self) -> tuple[str, ...]:
        """The mailers starting at the next one in turn."""
        with self._turn_lock:
            start = next(self._turns) % len(self.mailer_names)
        return self.mailer_names[start:] + self.mailer_names[:start]
