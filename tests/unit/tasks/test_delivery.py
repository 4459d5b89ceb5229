"""The decisions of a queued send (tasks/delivery.py), table-tested without a broker."""

from __future__ import annotations

import datetime as dt

import attrs
import pytest

from proper_mail import (
    ConfigError,
    InvalidAddress,
    LedgerUnavailable,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    RecipientStatus,
    SendResult,
    SerializationError,
    TransientDeliveryError,
)
from proper_mail.core.compose import compose
from proper_mail.core.records import Stamp
from proper_mail.errors import ProperMailError
from proper_mail.tasks.delivery import (
    GiveUp,
    Outcome,
    RetryPolicy,
    after_send,
    is_expired,
    reason_of,
    when_unrecorded,
)

POLICY = RetryPolicy(max_retries=3, min_backoff=10, max_backoff=60)
ID = "<m@example.com>"
ABC = ("a@x.com", "b@x.com", "c@x.com")


def result(*states: str) -> SendResult:
    """A SendResult for a@, b@, c@ with the given states, in order."""
    codes = {"sent": 250, "deferred": 451, "rejected": 550, "failed": None}
    return SendResult(
        ID,
        "smtp",
        tuple(
            RecipientStatus(a, s, codes[s], s)  # type: ignore[arg-type]
            for a, s in zip(ABC, states, strict=False)
        ),
    )


def decide(
    outcome: SendResult | ProperMailError,
    *,
    retries: int = 0,
    held_wait: float | None = None,
    may_wait: bool = False,
) -> Outcome:
    """after_send for a@, b@, c@ claimed, via smtp."""
    return after_send(
        message_id=ID,
        via="smtp",
        claimed=ABC,
        held_wait=held_wait,
        outcome=outcome,
        retries=retries,
        policy=POLICY,
        may_wait=may_wait,
    )


def test_all_sent_records_everyone_and_ends() -> None:
    """Everyone accepted: all done, nothing reported, no retry."""
    assert decide(result("sent", "sent", "sent")) == Outcome(done=ABC)


def test_deferred_recipients_are_retried_with_backoff() -> None:
    """a@ sent, b@ and c@ deferred: a@ done, retry in the backoff for b@ and c@."""
    outcome = decide(result("sent", "deferred", "deferred"), retries=2)

    assert outcome == Outcome(done=("a@x.com",), retry_in=40.0, pending=ABC[1:])


def test_refused_recipients_are_done_and_reported_once() -> None:
    """c@ refused for good: done (never retried) and one 'rejected' report naming it."""
    outcome = decide(result("sent", "sent", "rejected"))

    assert outcome.done == ("a@x.com", "b@x.com", "c@x.com")
    assert [(g.reason, g.recipients) for g in outcome.give_ups] == [("rejected", ("c@x.com",))]
    assert "550" in outcome.give_ups[0].error
    assert outcome.retry_in is None


def test_deferred_on_the_last_retry_are_given_up() -> None:
    """Deferred after max_retries retries: reported as retries exhausted, not retried."""
    outcome = decide(result("sent", "deferred", "sent"), retries=3)

    assert outcome.retry_in is None
    assert [(g.reason, g.recipients) for g in outcome.give_ups] == [
        ("retries exhausted", ("b@x.com",))
    ]


@pytest.mark.parametrize(
    ("retries", "retry_after", "expected"),
    [
        (0, None, 10.0),  # the backoff
        (1, None, 20.0),
        (0, 120.0, 120.0),  # the server's Retry-After wins when longer
        (2, 5.0, 40.0),  # ... and the backoff when that is longer
    ],
)
def test_a_transient_error_is_retried_after_the_longer_of_backoff_and_retry_after(
    retries: int, retry_after: float | None, expected: float
) -> None:
    """451 / 421 with Retry-After: the delay is max(backoff, Retry-After)."""
    error = TransientDeliveryError("421 slow down", code=421, retry_after=retry_after)

    outcome = decide(error, retries=retries)

    assert (outcome.retry_in, outcome.done, outcome.give_ups) == (expected, (), ())
    assert outcome.pending == ABC


def test_a_rate_limit_is_a_wait_that_does_not_count() -> None:
    """RateLimited while the message may still wait: retried after max(backoff,
    retry_after), not counted against max_retries, even on the last retry, nothing done."""
    error = RateLimited("p: over its rate limit (14/s)", retry_after=12.0)

    outcome = decide(error, retries=3, may_wait=True)

    assert outcome == Outcome(retry_in=60.0, counts=False, pending=ABC)


def test_a_rate_limit_counts_once_the_waits_are_used_up() -> None:
    """RateLimited when the message may not wait any more: an ordinary transient failure."""
    error = RateLimited("p: over its rate limit (14/s)", retry_after=12.0)

    waiting, last = decide(error, retries=0), decide(error, retries=3)

    assert (waiting.retry_in, waiting.counts) == (12.0, True)
    assert [g.reason for g in last.give_ups] == ["retries exhausted"]


def test_a_transient_error_on_the_last_retry_is_reported_and_fails() -> None:
    """The last retry's 451: one report (retries exhausted) and the error to fail with."""
    error = TransientDeliveryError("451 later", code=451)

    outcome = decide(error, retries=3)

    assert outcome.error is error
    assert outcome.retry_in is None
    assert outcome.give_ups == (GiveUp(ID, "smtp", "retries exhausted", "451 later", ABC),)


def test_a_transient_error_keeps_the_recipients_refused_for_good() -> None:
    """Every recipient refused, some for good: those are done and reported, the rest retried."""
    statuses = (
        RecipientStatus("a@x.com", "rejected", 550),
        RecipientStatus("b@x.com", "deferred", 451),
        RecipientStatus("c@x.com", "deferred", 451),
    )
    error = TransientDeliveryError("RCPT TO: every recipient was refused", recipients=statuses)

    outcome = decide(error)

    assert outcome.done == ("a@x.com",)
    assert outcome.pending == ("b@x.com", "c@x.com")
    assert [g.reason for g in outcome.give_ups] == ["rejected"]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (PermanentDeliveryError("554 no"), "permanent"),
        (MessageTooLarge("552 too big"), "permanent"),
        (InvalidAddress("to", "zoë@x.com", "needs SMTPUTF8"), "unsendable"),
        (ConfigError("Unknown mailer 'old'"), "unknown mailer"),
        (SerializationError("bad payload"), "unreadable"),
    ],
)
def test_a_final_failure_marks_everyone_done_and_reports_once(
    error: ProperMailError, reason: str
) -> None:
    """Permanent, unsendable ...: every claimed recipient is done (a redelivery reports
    nothing again), one report with the reason, and the error to fail with."""
    outcome = decide(error)

    assert outcome.done == ABC
    assert [(g.reason, g.recipients) for g in outcome.give_ups] == [(reason, ABC)]
    assert outcome.error is error
    assert outcome.retry_in is None


def test_recipients_held_elsewhere_are_looked_at_again_without_counting() -> None:
    """Another worker holds d@: ours are done, and the message comes back when its lease
    ends, as a wait (not counted against max_retries)."""
    outcome = decide(result("sent", "sent", "sent"), held_wait=7.5)

    assert (outcome.retry_in, outcome.counts) == (7.5, False)


def test_a_wait_for_a_holder_and_a_deferral_take_the_longer_delay() -> None:
    """Deferred recipients and a held lease: one retry, after the longer of the two, counted."""
    outcome = decide(result("sent", "deferred", "sent"), held_wait=90.0)

    assert (outcome.retry_in, outcome.counts) == (90.0, True)


def test_without_a_ledger_write_deferred_recipients_are_given_up() -> None:
    """The settle failed: no retry (it could not tell who has the message); the deferred
    recipients are reported as 'ledger unavailable'."""
    outcome = decide(result("sent", "deferred", "deferred"))

    unrecorded = when_unrecorded(outcome, message_id=ID, via="smtp")

    assert unrecorded.retry_in is None
    assert [(g.reason, g.recipients) for g in unrecorded.give_ups] == [
        ("ledger unavailable", ("b@x.com", "c@x.com"))
    ]


def test_without_a_ledger_write_a_rate_limit_wait_is_given_up() -> None:
    """RateLimited, then the settle failed: not retried, and every recipient is reported
    'ledger unavailable' (not dropped quietly like a wait for another worker)."""
    outcome = decide(RateLimited("over the limit", retry_after=1.0), may_wait=True)

    unrecorded = when_unrecorded(outcome, message_id=ID, via="smtp")

    assert unrecorded.retry_in is None
    assert [(g.reason, g.recipients) for g in unrecorded.give_ups] == [("ledger unavailable", ABC)]


def test_without_a_ledger_write_a_wait_is_dropped_quietly() -> None:
    """The settle failed after a full send while others held recipients: nothing to report."""
    outcome = decide(result("sent", "sent", "sent"), held_wait=3.0)

    assert when_unrecorded(outcome, message_id=ID, via="smtp") == Outcome(done=ABC)


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (LedgerUnavailable("down"), "ledger unavailable"),
        (TransientDeliveryError("451"), "retries exhausted"),
        (ValueError("a bug in a task"), "error"),
        (KeyError("message"), "error"),
    ],
)
def test_reason_of_names_what_failed(error: BaseException, reason: str) -> None:
    """reason_of: ours by class; anything else from a task's own code is 'error'."""
    assert reason_of(error) == reason


def test_expiry_is_a_pure_comparison() -> None:
    """is_expired compares expires with the given now; no expires never expires."""
    stamp = Stamp(dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC), "t")
    message = compose(stamp=stamp, from_email="a@x.com", to="b@x.com")
    expiring = attrs.evolve(message, expires=stamp.date + dt.timedelta(hours=1))

    assert not is_expired(message, stamp.date + dt.timedelta(days=365))
    assert not is_expired(expiring, stamp.date + dt.timedelta(minutes=59))
    assert is_expired(expiring, stamp.date + dt.timedelta(minutes=61))


def test_backoff_is_bounded() -> None:
    """min_backoff doubling per retry, never over max_backoff."""
    assert [POLICY.backoff(n) for n in range(5)] == [10.0, 20.0, 40.0, 60.0, 60.0]
