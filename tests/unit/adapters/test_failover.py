"""The circuit breaker's decisions (adapters/failover.py), table-tested: pure functions
over a frozen Breaker and a time."""

from __future__ import annotations

import math
import threading

import pytest

from proper_mail import (
    ConfigError,
    InvalidAddress,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
)
from proper_mail.adapters.failover import (
    Breaker,
    Circuits,
    FailoverMailer,
    Health,
    admit,
    health_of,
    names_of,
    record,
    reopens_at,
)

COOLDOWN = 30.0
CLOSED = Breaker()
OPEN = Breaker("open", 5, 100.0)
HALF_OPEN = Breaker("half-open", 5, 100.0)

ADMIT_TABLE = [
    ("closed: tried", CLOSED, 100.0, CLOSED, True),
    ("open, cooling down: skipped", OPEN, 129.9, OPEN, False),
    ("open, cool-down over: one trial", OPEN, 130.0, HALF_OPEN, True),
    ("open, long after: one trial", OPEN, 10_000.0, HALF_OPEN, True),
    ("half-open (a trial under way): skipped", HALF_OPEN, 10_000.0, HALF_OPEN, False),
]


@pytest.mark.parametrize(
    ("breaker", "now", "after", "admitted"),
    [row[1:] for row in ADMIT_TABLE],
    ids=[row[0] for row in ADMIT_TABLE],
)
def test_admit(breaker: Breaker, now: float, after: Breaker, admitted: bool) -> None:
    """Whether a mailer is tried, and the breaker after the decision."""
    assert admit(breaker, now, COOLDOWN) == (after, admitted)


RECORD_TABLE = [
    # threshold 3
    ("closed, success", CLOSED, "up", CLOSED),
    ("closed, 1st failure", CLOSED, "down", Breaker("closed", 1)),
    ("closed, 2nd failure", Breaker("closed", 1), "down", Breaker("closed", 2)),
    ("closed, 3rd failure opens", Breaker("closed", 2), "down", Breaker("open", 3, 200.0)),
    ("closed, a success resets the count", Breaker("closed", 2), "up", CLOSED),
    ("closed, unknown changes nothing", Breaker("closed", 2), "unknown", Breaker("closed", 2)),
    ("trial succeeds: closed", HALF_OPEN, "up", CLOSED),
    ("trial fails: open again, cool-down anew", HALF_OPEN, "down", Breaker("open", 6, 200.0)),
    ("trial says nothing: open, cool-down over", HALF_OPEN, "unknown", OPEN),
    ("forced try on an open one fails", OPEN, "down", Breaker("open", 6, 200.0)),
    ("open, unknown changes nothing", OPEN, "unknown", OPEN),
]


@pytest.mark.parametrize(
    ("breaker", "health", "after"),
    [row[1:] for row in RECORD_TABLE],
    ids=[row[0] for row in RECORD_TABLE],
)
def test_record(breaker: Breaker, health: Health, after: Breaker) -> None:
    """The breaker after an attempt at t=200 (threshold 3)."""
    assert record(breaker, health, 200.0, 3) == after


def test_reopens_at() -> None:
    """Closed: at once; open or half-open: when the cool-down ends."""
    assert reopens_at(CLOSED, COOLDOWN) == -math.inf
    assert reopens_at(OPEN, COOLDOWN) == 130.0
    assert reopens_at(HALF_OPEN, COOLDOWN) == 130.0


@pytest.mark.parametrize(
    ("error", "health"),
    [
        (None, "up"),
        (TransientDeliveryError("451 try later"), "down"),
        (RateLimited("over the limit", retry_after=1.0), "unknown"),
        (PermanentDeliveryError("554 no"), "up"),
        (MessageTooLarge("too big"), "up"),
        (InvalidAddress("to", "x", "bad"), "unknown"),
        (ConfigError("blocked"), "unknown"),
        (KeyboardInterrupt(), "unknown"),
    ],
)
def test_health_of(error: BaseException | None, health: Health) -> None:
    """A transient failure is the mailer down; an answer (a result or a refusal) is it up;
    a rate limit, a bad message or anything else says nothing."""
    assert health_of(error) == health


def test_a_threshold_of_failures_opens_then_a_trial_closes() -> None:
    """The whole cycle through the holder, with an injected clock."""
    now = [0.0]
    circuits = Circuits(["a"], threshold=2, cooldown=10.0, clock=lambda: now[0])

    circuits.record("a", "down")
    circuits.record("a", "down")
    skipped = circuits.admit("a")
    now[0] = 10.0
    trial = circuits.admit("a")
    second_trial = circuits.admit("a")
    circuits.record("a", "up")

    assert (skipped, trial, second_trial) == (False, True, False)
    assert circuits["a"] == CLOSED


def test_one_trial_among_many_threads() -> None:
    """16 threads ask an open breaker whose cool-down is over: exactly one is let through."""
    circuits = Circuits(["a"], threshold=1, cooldown=1.0, clock=lambda: 5.0)
    circuits._breakers["a"] = Breaker("open", 1, 0.0)
    start = threading.Barrier(16)
    admitted: list[bool] = []

    def ask() -> None:
        start.wait()
        admitted.append(circuits.admit("a"))

    threads = [threading.Thread(target=ask) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert sorted(admitted) == [False] * 15 + [True]


def test_force_picks_the_cool_down_that_ends_first() -> None:
    """Every circuit open: the one that opened first is forced, as a trial."""
    circuits = Circuits(["a", "b", "c"], threshold=1, cooldown=10.0, clock=lambda: 1.0)
    circuits._breakers.update(
        a=Breaker("open", 1, 0.5), b=Breaker("open", 1, 0.2), c=Breaker("half-open", 1, 0.9)
    )

    assert circuits.force() == "b"
    assert circuits["b"].state == "half-open"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "postmark",
            r"must be a list of MAILERS names, like \['postmark', 'ses'\], not 'postmark'",
        ),
        (None, "must be a list of MAILERS names"),
        ([], "'mailers' is empty"),
        (["a", 3], r"'mailers'\[1\] must be a MAILERS name \(a str\), not 3"),
        (["a", ""], r"'mailers'\[1\] must be a MAILERS name \(a str\), not ''"),
        (["a", "b", "a"], "'mailers' names 'a' twice"),
    ],
)
def test_bad_mailers_options(value: object, message: str) -> None:
    """names_of (and so depends_on and the constructor) refuses each bad shape."""
    with pytest.raises(ConfigError, match=message):
        names_of(value)
    with pytest.raises(ConfigError, match=message):
        FailoverMailer.depends_on({"mailers": value})


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"failure_threshold": 0}, "failure_threshold must be a positive whole number, not 0"),
        ({"failure_threshold": 2.5}, "failure_threshold must be a positive whole number"),
        ({"failure_threshold": True}, "failure_threshold must be a positive whole number"),
        ({"cooldown": 0}, "cooldown must be a positive number, not 0"),
        ({"cooldown": "30"}, "cooldown must be a positive number, not '30'"),
        ({"clock": 5}, "clock must be a callable"),
    ],
)
def test_bad_breaker_options(options: dict[str, object], message: str) -> None:
    """The breaker's options are checked when the mailer is built."""
    with pytest.raises(ConfigError, match=message):
        FailoverMailer(mailers=["a", "b"], **options)  # type: ignore[arg-type]


def test_depends_on_names_the_mailers() -> None:
    """depends_on returns the configured names, in order."""
    assert FailoverMailer.depends_on({"mailers": ["postmark", "ses"]}) == ("postmark", "ses")
