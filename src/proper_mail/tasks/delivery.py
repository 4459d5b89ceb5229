"""The decisions of a queued send, as pure functions of values (table-tested).

``Queue.deliver`` is a thin shell around these: it loads the payload, claims the
recipients in the ledger, calls the mailer, settles the ledger and then does what
``after_send`` decided: record who is done, report give-ups, retry later, or fail.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs

from ..core.records import Message, SendResult
from ..errors import (
    ConfigError,
    DeliveryError,
    LedgerUnavailable,
    MessageError,
    ProperMailError,
    RateLimited,
    SerializationError,
    TransientDeliveryError,
)

__all__ = [
    "GiveUp",
    "Outcome",
    "Reason",
    "RetryPolicy",
    "after_send",
    "is_expired",
    "reason_of",
    "when_unrecorded",
]

Reason = Literal[
    "permanent",
    "rejected",
    "retries exhausted",
    "expired",
    "unreadable",
    "unsendable",
    "unknown mailer",
    "bad arguments",
    "ledger unavailable",
    "hook failed",
    "error",
]


@attrs.frozen
class RetryPolicy:
    """How transient failures are retried: bounded exponential backoff, in seconds.

    Attributes:
        max_retries: retries after the first attempt (waits for another worker's claim
            do not count).
        min_backoff, max_backoff: the first delay, and the longest.
    """

    max_retries: int = 8
    min_backoff: float = 30.0
    max_backoff: float = 3600.0

    def backoff(self, retries: int) -> float:
        """The delay before retry number *retries* + 1 (no jitter: Dramatiq adds none)."""
        return float(min(self.max_backoff, self.min_backoff * 2**retries))


@attrs.frozen
class GiveUp:
    """What the give-up hook receives when a message will not be sent (more).

    Attributes:
        message_id: the Message-ID ("" when the payload could not be read).
        via: the mailer alias it was for ("" for the default mailer, when not known).
        reason: why (see ``Reason``): ``permanent`` (the mailer refused the message),
            ``rejected`` (some recipients were refused for good), ``retries exhausted``,
            ``expired``, ``unreadable`` (a payload that does not load), ``unsendable``
            (a message the mailer cannot send, e.g. a Unicode local part without
            SMTPUTF8), ``unknown mailer``, ``bad arguments`` (a task called with the
            wrong arguments), ``ledger unavailable`` or ``error`` (an exception of the
            app's own task code).
        error: the error's text (never a credential).
        recipients: the recipients that did not get it. With ``ledger unavailable`` on a
            message whose earlier attempts were cut short by deferrals, it may also hold
            recipients an earlier attempt did send to: the ledger that knows could not
            be read.
    """

    message_id: str
    via: str | None
    reason: Reason
    error: str
    recipients: tuple[str, ...] = ()


@attrs.frozen
class Outcome:
    """What to do once the mailer answered.

    Attributes:
        done: recipients to record as done (sent, or refused for good).
        give_ups: reports for the give-up hook.
        retry_in: run the message again after this many seconds (None: do not).
        counts: whether that retry counts against max_retries (a wait for another
            worker's claim does not).
        error: the error to fail the message with, after reporting (None: succeed).
        pending: the recipients the retry is for (deferred, or not reached).
    """

    done: tuple[str, ...] = ()
    give_ups: tuple[GiveUp, ...] = ()
    retry_in: float | None = None
    counts: bool = True
    error: ProperMailError | None = None
    pending: tuple[str, ...] = ()


def is_expired(message: Message, now: dt.datetime) -> bool:
    """True when *message* must not be sent any more (its ``expires`` has passed)."""
    return message.expires is not None and now > message.expires


def reason_of(error: BaseException) -> Reason:
    """The give-up reason for a failure that will not be retried (any more)."""
    if isinstance(error, LedgerUnavailable):
        return "ledger unavailable"
    if isinstance(error, TransientDeliveryError):
        return "retries exhausted"
    if isinstance(error, SerializationError):
        return "unreadable"
    if isinstance(error, ConfigError):
        return "unknown mailer"
    if isinstance(error, MessageError):
        return "unsendable"
    if isinstance(error, DeliveryError):
        return "permanent"
    return "error"


def after_send(
    *,
    message_id: str,
    via: str | None,
    claimed: tuple[str, ...],
    held_wait: float | None,
    outcome: SendResult | ProperMailError,
    retries: int,
    policy: RetryPolicy,
    may_wait: bool = False,
) -> Outcome:
    """Decide what follows a send to *claimed* (the recipients this task holds).

    *held_wait* is None when no other task holds a recipient of this message, else the
    seconds until its lease runs out: the message is looked at again then (not counted
    as a retry), and by then those recipients are done or free.

    *may_wait*: a ``RateLimited`` (the mailer's rate limit, a provider's 429) is retried
    without counting against ``max_retries`` (a wait, like one for another worker's
    claim): a long backlog under a rate limit is slow, not failed. The queue says False
    once the message has waited its maximum number of times, and in immediate mode.
    """
    if isinstance(outcome, SendResult):
        return _after_result(message_id, via, outcome, held_wait, retries, policy)
    if isinstance(outcome, TransientDeliveryError):
        done = tuple(s.address for s in outcome.recipients if s.status == "rejected")
        remaining = tuple(r for r in claimed if r not in done)
        rejected = _give_up(message_id, via, "rejected", outcome, done)
        if may_wait and isinstance(outcome, RateLimited):
            delay = max(policy.backoff(retries), outcome.retry_after or 0.0, held_wait or 0.0)
            return Outcome(
                done=done, give_ups=rejected, retry_in=delay, counts=False, pending=remaining
            )
        if retries < policy.max_retries:
            delay = max(policy.backoff(retries), outcome.retry_after or 0.0, held_wait or 0.0)
            return Outcome(done=done, give_ups=rejected, retry_in=delay, pending=remaining)
        exhausted = GiveUp(message_id, via, "retries exhausted", str(outcome), remaining)
        return Outcome(done=done, give_ups=(*rejected, exhausted), error=outcome)
    # Refused for good (or unsendable): every claimed recipient is done, so a redelivery
    # reports nothing twice; recipients other tasks hold are theirs to report.
    give_up = GiveUp(message_id, via, reason_of(outcome), str(outcome), claimed)
    return Outcome(done=claimed, give_ups=(give_up,), error=outcome)


def _after_result(
    message_id: str,
    via: str | None,
    result: SendResult,
    held_wait: float | None,
    retries: int,
    policy: RetryPolicy,
) -> Outcome:
    done = (*result.accepted, *result.rejected)
    give_ups = _give_up(message_id, via, "rejected", None, result.rejected, result)
    deferred = result.deferred
    if deferred and retries >= policy.max_retries:
        exhausted = GiveUp(message_id, via, "retries exhausted", "deferred", deferred)
        give_ups = (*give_ups, exhausted)
        deferred = ()
    if deferred:
        delay = max(policy.backoff(retries), held_wait or 0.0)
        return Outcome(done=done, give_ups=give_ups, retry_in=delay, pending=deferred)
    if held_wait is not None:
        return Outcome(done=done, give_ups=give_ups, retry_in=held_wait, counts=False)
    return Outcome(done=done, give_ups=give_ups)


def _give_up(
    message_id: str,
    via: str | None,
    reason: Reason,
    error: DeliveryError | None,
    recipients: tuple[str, ...],
    result: SendResult | None = None,
) -> tuple[GiveUp, ...]:
    if not recipients:
        return ()
    if error is not None:
        text = str(error)
    else:
        statuses = result.recipients if result is not None else ()
        text = "; ".join(
            f"{s.address}: {s.code} {s.detail}".rstrip()
            for s in statuses
            if s.address in recipients
        )
    return (GiveUp(message_id, via, reason, text, recipients),)


def when_unrecorded(outcome: Outcome, *, message_id: str, via: str | None) -> Outcome:
    """The outcome when the ledger could not be written after the send: nothing is retried
    (a retry could not tell who already has the message), deferred recipients are given
    up with reason ``ledger unavailable`` instead."""
    if outcome.retry_in is None or (not outcome.counts and not outcome.pending):
        return attrs.evolve(outcome, retry_in=None, counts=True)
    return attrs.evolve(
        outcome,
        retry_in=None,
        give_ups=(
            *outcome.give_ups,
            GiveUp(
                message_id,
                via,
                "ledger unavailable",
                "deferred recipients are not retried when the ledger cannot say who was sent "
                "the message",
                outcome.pending,
            ),
        ),
    )
