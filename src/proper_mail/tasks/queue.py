"""Sending later with Dramatiq: the queue, its tasks, and the one delivery step they share.

``Queue`` is built from the QUEUE setting:

- ``"immediate"`` (the default): a task runs in the calling process at once, after a
  full JSON round trip of its arguments, so tests catch payload bugs; a failure is
  raised to the caller (nothing is retried in-process);
- ``"stub"``: Dramatiq's StubBroker, for integration tests with a Worker;
- ``"redis://..."``: a RedisBroker (production);
- ``"amqp://..."``: a RabbitmqBroker, with the ledger in Redis (``QUEUE_LEDGER``);
- any ``dramatiq.Broker`` you built.

Nothing is declared against an implicit broker: every actor names ``queue.broker``. The
library's own send actor, ``proper_mail.send_email``, is declared when the queue is
built (at ``configure()``), so every worker that loads the app serves it.

``Queue.deliver`` is the step a task runs: load the payload, claim its recipients in
the ledger, send, settle the ledger, and do what ``tasks.delivery.after_send`` decided.
Every task declared with ``Queue.task()`` runs inside one wrapper that turns whatever its
code raises into a retry (TransientDeliveryError: bounded backoff, Retry-After
honoured) or a report to the give-up hook and an ERROR log, exactly once.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import logging
import random
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.policy import Policy
from typing import Any, Literal, NoReturn, Protocol
from urllib.parse import urlsplit, urlunsplit

import attrs
import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker, _RedisConsumer
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from ..core.hooks import (
    SendHooks,
    merge_skipped,
    original_error,
    run_after_send,
    run_before_send,
    run_on_failure,
)
from ..core.mime import envelope_of
from ..core.records import Message, RecipientStatus, SendResult
from ..errors import (
    ConfigError,
    HookError,
    LedgerUnavailable,
    MessageError,
    PayloadTooLarge,
    ProperMailError,
    QueueUnavailable,
    SerializationError,
    TransientDeliveryError,
)
from .delivery import GiveUp, Outcome, Reason, RetryPolicy, after_send, is_expired, reason_of
from .delivery import when_unrecorded as _when_unrecorded
from .ledger import Ledger, MemoryLedger, RedisLedger
from .serialization import EmailMessageDict, dump_message, load_message, payload_size

__all__ = ["GiveUp", "Queue", "RetryPolicy", "Task"]

log = logging.getLogger("proper_mail.tasks")

DEFAULT_MAX_PAYLOAD = 10 * 1024 * 1024
DEFAULT_CLAIM_TTL = 600.0
SEND_ACTOR = "proper_mail.send_email"
#: Waits for another worker's claim, at most, before a message is given up.
MAX_WAITS = 100
_WAITS = "proper_mail_waits"
# Lease tokens only tell concurrent copies apart: the random module's generator (reseeded
# in a forked child) is enough, and unlike os.urandom it costs no system call, which would
# hand the GIL to another of the worker's threads on every message.
_REPORTED = "__proper_mail_reported__"


class Deliverer(Protocol):
    """**Protocol:** what a task needs of a mailer (``BaseMailer`` fits)."""

    @property
    def policy(self) -> Policy:
        """The email policy the mailer renders with."""
        ...

    @property
    def alias(self) -> str:
        """The mailer's name in MAILERS."""
        ...

    def deliver(self, message: Message) -> SendResult:
        """Send one message; return per-recipient statuses (errors already ours)."""
        ...


class Task:
    """A function run by the queue: calling it enqueues (or, immediate, runs) it.

    ``send_email_task(message=..., via=...)`` as the guide's BaseEmail calls it.
    """

    def __init__(
        self,
        queue: Queue,
        fn: Callable[..., Any],
        actor: dramatiq.Actor[Any, Any] | None,
        run: Callable[..., None],
        name: str,
    ) -> None:
        self.name = name
        self.queue = queue
        self.fn = fn
        self.actor = actor
        self.run = run
        self.__name__ = getattr(fn, "__name__", "task")
        self.__doc__ = fn.__doc__

    def __call__(self, **kwargs: Any) -> None:
        """Enqueue a run with *kwargs* (JSON-safe); ConfigError for an unknown ``via``."""
        if "via" in kwargs:
            self.queue.check_via(kwargs["via"])
        self.queue.enqueue(self, kwargs)

    send = __call__


class _Quiet(dict[str, Any]):
    """A payload dict whose repr names the message instead of showing its content, so
    Dramatiq's log lines (which print a failed message's arguments) hold no mail."""

    def __repr__(self) -> str:
        if "message_id" in self:
            count = sum(len(self.get(k) or ()) for k in ("to", "cc", "bcc"))
            return f"<EmailMessageDict {self['message_id']}, {count} recipient(s)>"
        return f"<dict with {len(self)} key(s)>"


class QuietPayloads(dramatiq.Middleware):
    """Keeps message contents (bodies, addresses, links) out of Dramatiq's logs: the
    dict arguments of this queue's actors show as ``<EmailMessageDict <id>, n
    recipient(s)>`` in its ERROR and INFO lines."""

    def __init__(self, actors: set[str]) -> None:
        self.actors = actors

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        """Wrap the dict arguments of our actors' messages before they can be logged."""
        if message.actor_name in self.actors:
            for key, value in list(message.kwargs.items()):
                if isinstance(value, dict) and not isinstance(value, _Quiet):
                    message.kwargs[key] = _Quiet(value)


class Queue:
    """The app's queue: a Dramatiq broker (or immediate mode), tasks and ``deliver``."""

    def __init__(
        self,
        spec: str | dramatiq.Broker | None,
        *,
        mailer_for: Callable[[str | None], Deliverer],
        hooks: Callable[[], SendHooks] | None = None,
        retry: RetryPolicy | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        on_give_up: Callable[[GiveUp], object] | None = None,
        namespace: str = "proper_mail",
        heartbeat_timeout: int | None = None,
        maintenance_chance: int | None = None,
        ledger: Ledger | str | None = None,
        claim_ttl: float = DEFAULT_CLAIM_TTL,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        for name, value in (("QUEUE_CLAIM_TTL", claim_ttl), ("QUEUE_MAX_PAYLOAD", max_payload)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"{name} must be a positive number, not {value!r}")
        self._mailer_for = mailer_for
        self._hooks = hooks or SendHooks
        self.retry = retry or RetryPolicy()
        self.max_payload = max_payload
        self.on_give_up = on_give_up
        self.namespace = namespace
        self.claim_ttl = claim_ttl
        self.url = _public_url(spec) if isinstance(spec, str) else type(spec).__name__
        self.broker = build_broker(
            spec,
            namespace=namespace,
            heartbeat_timeout=heartbeat_timeout,
            maintenance_chance=maintenance_chance,
        )
        self.ledger = _ledger_for(ledger, self.broker, spec, namespace)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._lock = threading.Lock()
        self._intercept: Callable[[Task, dict[str, Any], float | None], None] | None = None
        self._quiet = QuietPayloads(set())
        if self.broker is not None:
            self.broker.add_middleware(self._quiet)
        self.send_task = self.task(actor_name=SEND_ACTOR)(self._send_email)

    @property
    def mode(self) -> Literal["immediate", "broker"]:
        """``immediate`` (run in-process now) or ``broker`` (a worker runs it)."""
        return "immediate" if self.broker is None else "broker"

    # -- tasks ------------------------------------------------------------------------

    def task(
        self, *, queue_name: str = "emails", actor_name: str | None = None
    ) -> Callable[[Callable[..., Any]], Task]:
        """Decorate a function to declare it as a task on this queue's broker.

        ``@app.queue.task()`` as the guide writes it. The function runs inside the
        queue's wrapper: a TransientDeliveryError it raises is retried with this queue's
        RetryPolicy; anything else, and the last retry's failure, is reported to the
        give-up hook and logged, then fails the message (Dramatiq's dead-letter queue).
        """

        def declare(fn: Callable[..., Any]) -> Task:
            name = actor_name or f"{fn.__module__}.{fn.__qualname__}"
            arguments = _Arguments(inspect.signature(fn))

            def run(**kwargs: Any) -> None:
                self.run(fn, arguments, kwargs)

            run.__name__ = getattr(fn, "__name__", "task")
            actor = None
            if self.broker is not None:
                self._quiet.actors.add(name)
                actor = dramatiq.actor(
                    broker=self.broker,
                    queue_name=queue_name,
                    actor_name=name,
                    max_retries=self.retry.max_retries + MAX_WAITS,
                    retry_when=_retry_when,
                )(run)
            return Task(self, fn, actor, run, name)

        return declare

    def run(self, fn: Callable[..., Any], arguments: _Arguments, kwargs: Mapping[str, Any]) -> None:
        """Run one task: its arguments checked, what it raises turned into a retry or a
        report (exactly once). Used by every task of this queue, in every mode."""
        message_id, via = _identify(kwargs)
        problem = arguments.problem(kwargs)
        if problem is not None:
            error = SerializationError(f"the task was called with the wrong arguments: {problem}")
            self._give_up(GiveUp(message_id, via, "bad arguments", str(error)))
            raise _reported(error) from None
        try:
            fn(**kwargs)
        except dramatiq.Retry:
            raise
        except Exception as e:
            if getattr(e, _REPORTED, False):
                raise
            if isinstance(e, TransientDeliveryError):
                self._retry_or_give_up(e, message_id, via, ())
            self._give_up(GiveUp(message_id, via, reason_of(e), _text(e)))
            raise _reported(e) from None

    def _retry_or_give_up(
        self,
        error: TransientDeliveryError,
        message_id: str,
        via: str | None,
        pending: tuple[str, ...],
    ) -> NoReturn:
        """Retry a transient failure (dramatiq.Retry), or report it and raise it: after the
        last retry, and at once in immediate mode (raised to the caller, not retried)."""
        retries = _current_retries()
        if retries is None:
            _raise_immediately(error, message_id, via)
        if retries < self.retry.max_retries:
            delay = max(self.retry.backoff(retries), error.retry_after or 0.0)
            self._raise_retry(error, message_id, via, delay, counts=True)
        reason: Reason = (
            "ledger unavailable" if isinstance(error, LedgerUnavailable) else "retries exhausted"
        )
        self._give_up(GiveUp(message_id, via, reason, str(error), pending))
        raise _reported(error)

    def _raise_retry(
        self,
        error: BaseException | None,
        message_id: str,
        via: str | None,
        delay: float,
        *,
        counts: bool,
    ) -> NoReturn:
        current = CurrentMessage.get_current_message()
        if not counts and current is not None:
            current.options[_WAITS] = int(current.options.get(_WAITS, 0)) + 1
        log.info(
            "retrying %s via %s in %.1f s: %s",
            message_id,
            via or "the default mailer",
            delay,
            type(error).__name__ if error is not None else "another worker is sending it",
        )
        raise dramatiq.Retry(str(error or "waiting for another worker"), delay=int(delay * 1000))

    # -- enqueueing --------------------------------------------------------------------

    def enqueue(self, task: Task, kwargs: dict[str, Any], *, delay: float | None = None) -> None:
        """Queue a run of *task* (immediate: run it now, after a JSON round trip).

        PayloadTooLarge over QUEUE_MAX_PAYLOAD, SerializationError for arguments that are
        not JSON, QueueUnavailable when the broker cannot take it.
        """
        if self._intercept is not None:
            self._intercept(task, kwargs, delay)
            return
        if task.actor is None:
            try:
                payload = json.dumps(kwargs, separators=(",", ":"))
            except (TypeError, ValueError) as e:
                raise SerializationError(f"task arguments are not JSON-safe: {e}") from None
            self._check_size(len(payload))
            task.run(**json.loads(payload))
            return
        try:
            task.actor.send_with_options(
                kwargs=kwargs, delay=None if delay is None else int(delay * 1000)
            )
        except (TypeError, ValueError) as e:
            raise SerializationError(f"task arguments are not JSON-safe: {e}") from None
        except (redis.RedisError, dramatiq.errors.BrokerError, OSError) as e:
            raise QueueUnavailable(
                f"the queue at {self.url} could not take the message ({type(e).__name__}); "
                "it was not queued"
            ) from e

    def send_later(
        self, message: Message, *, via: str | None = None, delay: float | None = None
    ) -> None:
        """Queue *message* (already rendered) for the send actor; *delay* in seconds."""
        self._check_size(payload_size(message))
        self.enqueue(self.send_task, {"message": dump_message(message), "via": via}, delay=delay)

    @contextmanager
    def intercepted(
        self, handler: Callable[[Task, dict[str, Any], float | None], None]
    ) -> Iterator[None]:
        """Inside the block, every enqueue of this queue's tasks goes to *handler*
        (task, arguments, delay) instead of the broker, and the ledger is an in-process
        one: the testing kit records the task and runs it at once."""
        saved = self._intercept, self.ledger
        self._intercept, self.ledger = handler, MemoryLedger()
        try:
            yield
        finally:
            self._intercept, self.ledger = saved

    def _check_size(self, size: int) -> None:
        if size > self.max_payload:
            raise PayloadTooLarge(
                "message",
                size,
                f"the queued payload would be over QUEUE_MAX_PAYLOAD ({self.max_payload} "
                "bytes): send it now with send(), or link to large files",
            )

    def check_via(self, via: object) -> None:
        """ConfigError now, at the call site, for a mailer name that does not exist."""
        if via is not None and not isinstance(via, str):
            raise ConfigError(f"via must be a mailer name, not {via!r}")
        self._mailer_for(via)

    # -- the delivery step ----------------------------------------------------------------

    def _send_email(self, message: EmailMessageDict, via: str | None = None) -> None:
        self.deliver(message, via=via)

    def deliver(self, message: EmailMessageDict, *, via: str | None = None) -> SendResult | None:
        """Send a queued message: at most once per recipient, failures classified.

        Returns the SendResult, or None when there was nothing left to send (already
        done, being sent by another worker, or expired). Every failure is decided by
        ``tasks.delivery.after_send``: retried (dramatiq.Retry), or reported to the
        give-up hook once and raised. In immediate mode nothing is retried: the failure
        is raised to the caller.
        """
        try:
            record = load_message(message)
        except (SerializationError, MessageError) as e:
            error = e if isinstance(e, SerializationError) else SerializationError(str(e))
            self._give_up(GiveUp(_identify({"message": message})[0], via, "unreadable", str(error)))
            raise _reported(error) from None
        message_id = record.message_id
        try:
            mailer = self._mailer_for(via)
            recipients = envelope_of(record, mailer.policy).recipients
        except (ConfigError, MessageError) as e:
            self._give_up(GiveUp(message_id, via, reason_of(e), str(e)))
            raise _reported(e) from None
        alias = mailer.alias or via or ""
        hooks = self._hooks()
        skipped: tuple[RecipientStatus, ...] = ()
        if hooks.before_send:
            try:
                before = run_before_send(hooks.before_send, record, mailer.policy)
            except ProperMailError as e:  # a HookError naming the hook, or one of ours
                self._hook_failed(hooks, record, alias, recipients, e)
            if before.message is None:
                log.info("skipped %s via %s: no recipient left after the hooks", message_id, alias)
                result = SendResult(message_id, alias, before.statuses)
                self._after(hooks, record, result)
                return result
            record, skipped = before.message, before.statuses
            recipients = envelope_of(record, mailer.policy).recipients
        token = f"{random.getrandbits(64):016x}"
        lease = max(self.claim_ttl, 2 * float(getattr(mailer, "send_timeout", 0.0)))
        try:
            claim = self.ledger.claim(message_id, recipients, token, lease)
        except LedgerUnavailable as e:  # nothing sent: retried like any transient failure
            self._retry_or_give_up(e, message_id, alias, recipients)
        held_wait = _poll_delay(claim.wait) if claim.held else None
        if not claim.claimed:
            if held_wait is None:
                log.info("skipped %s via %s: already sent", message_id, alias)
                return None
            self._wait_for_holder(message_id, alias, held_wait)
            return None
        if is_expired(record, self._clock()):
            log.warning("dropped %s via %s: expired at %s", message_id, alias, record.expires)
            self._settle(message_id, claim.claimed, claim.claimed, token)
            self._give_up(
                GiveUp(message_id, alias, "expired", "the message expired", claim.claimed)
            )
            return None
        if claim.claimed != recipients:
            record = attrs.evolve(record, envelope_to=claim.claimed)
        try:
            outcome: SendResult | ProperMailError = mailer.deliver(record)
        except ProperMailError as e:
            outcome = e
        retries = _current_retries()
        decision = after_send(
            message_id=message_id,
            via=alias,
            claimed=claim.claimed,
            held_wait=held_wait,
            outcome=outcome,
            retries=retries if retries is not None else 0,
            policy=self.retry,
            may_wait=retries is not None and _current_waits() < MAX_WAITS,
        )
        if not self._settle(message_id, decision.done, claim.claimed, token):
            decision = _when_unrecorded(decision, message_id=message_id, via=alias)
        if isinstance(outcome, SendResult):
            outcome = merge_skipped(outcome, skipped)
            self._after(hooks, record, outcome)
        elif hooks.on_failure:
            self._report_failure(hooks, record, outcome)
        return self._carry_out(decision, outcome, message_id, alias, retries is None)

    def _hook_failed(
        self,
        hooks: SendHooks,
        record: Message,
        alias: str,
        recipients: tuple[str, ...],
        error: ProperMailError,
    ) -> NoReturn:
        """A before_send hook raised: nothing was sent. A transient error of ours (the
        suppression store down) is retried; anything else is reported once."""
        self._report_failure(hooks, record, original_error(error))
        if isinstance(error, TransientDeliveryError):
            self._retry_or_give_up(error, record.message_id, alias, recipients)
        if isinstance(error, HookError):
            log.error("%s for %s via %s", error, record.message_id, alias, exc_info=error.__cause__)
        self._give_up(GiveUp(record.message_id, alias, "hook failed", str(error), recipients))
        raise _reported(error) from None

    def _after(self, hooks: SendHooks, record: Message, result: SendResult) -> None:
        """after_send hooks: a failure is logged with its traceback, never retried (the
        message was sent; a retry would send it twice)."""
        for name, error in run_after_send(hooks.after_send, record, result):
            log.error(
                "after_send hook %s failed for %s (the message was sent; not retried)",
                name,
                record.message_id,
                exc_info=error,
            )

    def _report_failure(self, hooks: SendHooks, record: Message, error: Exception) -> None:
        for name, hook_error in run_on_failure(hooks.on_failure, record, error):
            log.error(
                "on_failure hook %s failed for %s", name, record.message_id, exc_info=hook_error
            )

    def _carry_out(
        self,
        decision: Outcome,
        outcome: SendResult | ProperMailError,
        message_id: str,
        alias: str,
        immediate: bool,
    ) -> SendResult | None:
        if isinstance(outcome, SendResult):
            log.info("sent %s via %s to %d recipient(s)", message_id, alias, len(outcome.accepted))
            if log.isEnabledFor(logging.DEBUG):
                log.debug("sent %s to %s", message_id, ", ".join(outcome.accepted))
        for give_up in decision.give_ups:
            self._give_up(give_up)
        if decision.retry_in is not None:
            error = outcome if isinstance(outcome, ProperMailError) else None
            if not immediate:
                self._raise_retry(
                    error, message_id, alias, decision.retry_in, counts=decision.counts
                )
            if decision.counts:  # in immediate mode a would-be retry is the caller's
                if not isinstance(error, TransientDeliveryError):
                    statuses = outcome.recipients if isinstance(outcome, SendResult) else ()
                    error = TransientDeliveryError(
                        f"{len(decision.pending)} recipient(s) deferred", recipients=statuses
                    )
                _raise_immediately(error, message_id, alias)
        if decision.error is not None:
            raise _reported(decision.error)
        return outcome if isinstance(outcome, SendResult) else None

    def _wait_for_holder(self, message_id: str, alias: str, wait: float) -> None:
        """Another task holds every recipient left: look again once its lease is over."""
        current = CurrentMessage.get_current_message()
        if current is None:  # immediate mode: the holder is in this process and reports
            log.info("skipped %s via %s: another thread is sending it", message_id, alias)
            return
        if int(current.options.get(_WAITS, 0)) >= MAX_WAITS:
            self._give_up(
                GiveUp(message_id, alias, "error", "another worker held the message too long")
            )
            return
        self._raise_retry(None, message_id, alias, wait, counts=False)

    def _settle(
        self, message_id: str, done: tuple[str, ...], claimed: tuple[str, ...], token: str
    ) -> bool:
        """Write the ledger after the mailer answered; False (logged) if it failed.

        Never raises: the mailer has already taken the message, and raising would make
        Dramatiq run the task again, sending those recipients a second copy.
        """
        try:
            self.ledger.settle(message_id, done, claimed, token)
        except LedgerUnavailable as e:
            log.error(
                "%s: the mailer answered but the ledger was not written (%s); a redelivery "
                "of this message would send it again",
                message_id,
                e,
            )
            return False
        return True

    def _give_up(self, event: GiveUp) -> None:
        log.error(
            "gave up on %s via %s (%s): %s; %d recipient(s) not sent",
            event.message_id or "an unreadable payload",
            event.via or "the default mailer",
            event.reason,
            event.error,
            len(event.recipients),
        )
        if self.on_give_up is not None:
            try:
                self.on_give_up(event)
            except Exception:  # the hook must not turn a report into a retry
                log.exception("the give-up hook failed for %s", event.message_id)

    def close(self) -> None:
        """Close the broker's connections."""
        if self.broker is not None:
            self.broker.close()


def _raise_immediately(error: ProperMailError, message_id: str, via: str | None) -> NoReturn:
    log.warning(
        "send of %s via %s failed (%s); immediate mode: raised to the caller, not retried",
        message_id or "a message",
        via or "the default mailer",
        type(error).__name__,
    )
    raise _reported(error)


class _Arguments:
    """What a task function accepts, worked out once: checking a call's arguments is
    then two set operations (``Signature.bind`` for the message, only when they fail)."""

    def __init__(self, signature: inspect.Signature) -> None:
        named = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        params = signature.parameters.values()
        self.signature = signature
        self.any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
        self.allowed = frozenset(p.name for p in params if p.kind in named)
        self.required = frozenset(
            p.name for p in params if p.kind in named and p.default is inspect.Parameter.empty
        )

    def problem(self, kwargs: Mapping[str, Any]) -> str | None:
        """None when *kwargs* fit, else what is wrong, in Python's words."""
        keys = kwargs.keys()
        if self.required <= keys and (self.any or keys <= self.allowed):
            return None
        try:
            self.signature.bind(**kwargs)
        except TypeError as e:
            return str(e)
        return None


def _retry_when(retries: int, error: BaseException) -> bool:
    """Dramatiq retries only what our wrapper turned into dramatiq.Retry."""
    return isinstance(error, dramatiq.Retry)


def _reported[E: BaseException](error: E) -> E:
    """Mark *error* as reported (give-up hook and log done), so no wrapper reports it again."""
    setattr(error, _REPORTED, True)
    return error


def _text(error: BaseException) -> str:
    if isinstance(error, ProperMailError):
        return str(error)
    return f"{type(error).__name__}: {str(error)[:300]}"


def _identify(kwargs: Mapping[str, Any]) -> tuple[str, str | None]:
    """The Message-ID and via of a task's arguments, when they carry them."""
    message = kwargs.get("message")
    message_id = message.get("message_id") if isinstance(message, Mapping) else None
    via = kwargs.get("via")
    return (
        message_id if isinstance(message_id, str) else "",
        via if isinstance(via, str) else None,
    )


def _poll_delay(lease_left: float) -> float:
    """When to look again at recipients another task holds: soon (a holder usually
    settles within milliseconds), then less often (1, 2, 4 ... s), never later than its
    lease's end (a dead holder's claims are free then)."""
    current = CurrentMessage.get_current_message()
    waits = int(current.options.get(_WAITS, 0)) if current is not None else 0
    return min(lease_left + 0.5, 2.0 ** min(waits, 16))


def _current_waits() -> int:
    """The running message's retries that did not count (waits), 0 in immediate mode."""
    current = CurrentMessage.get_current_message()
    return int(current.options.get(_WAITS, 0)) if current is not None else 0


def _current_retries() -> int | None:
    """The failed attempts of the running message that count (None: immediate mode)."""
    current = CurrentMessage.get_current_message()
    if current is None:
        return None
    return int(current.options.get("retries", 0)) - int(current.options.get(_WAITS, 0))


def _public_url(url: str) -> str:
    """*url* without its password (for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<an unparsable URL>"
    if parts.password is None:
        return url
    netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def _ledger_for(
    ledger: Ledger | str | None,
    broker: dramatiq.Broker | None,
    spec: object,
    namespace: str,
) -> Ledger:
    if ledger is not None and not isinstance(ledger, str):
        return ledger
    if isinstance(ledger, str):
        if ledger == "memory":
            return MemoryLedger()
        if not ledger.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"QUEUE_LEDGER must be a redis:// URL or 'memory', not {_public_url(ledger)!r}"
            )
        return RedisLedger(_redis_client(ledger), namespace=namespace)
    if isinstance(broker, RedisBroker):
        return RedisLedger(broker.client, namespace=namespace)
    if isinstance(spec, str) and spec.startswith(("amqp://", "amqps://")):
        raise ConfigError(
            "QUEUE is a RabbitMQ URL: set QUEUE_LEDGER to a redis:// URL, where workers "
            "share the idempotency ledger and the claims that keep a message from being "
            "sent twice ('memory' keeps them per process, for tests only)"
        )
    return MemoryLedger()


def _redis_client(url: str) -> redis.Redis:
    # RedisBroker(url=...) builds its pool from the URL alone and hands socket options to
    # a client that ignores them next to a pool: build the pool here, with them.
    pool = redis.ConnectionPool.from_url(url, socket_timeout=30, socket_connect_timeout=10)
    return redis.Redis(connection_pool=pool)


class _TolerantConsumer(_RedisConsumer):
    """Dramatiq's Redis consumer, minus one failure: an entry in the queue that is not a
    Dramatiq message (not JSON) used to raise out of the consumer, which then restarted
    and stranded the valid messages fetched with it. Here it is moved aside to
    ``<namespace>:<queue>.unreadable`` (a hash: id -> raw entry), logged, and the rest
    of the fetch is processed."""

    def __next__(self) -> Any:
        while True:
            try:
                return super().__next__()  # type: ignore[no-untyped-call]
            except dramatiq.errors.DecodeError:
                self._set_aside()

    def _set_aside(self) -> None:
        broker = self.broker
        client: redis.Redis = broker.client
        acks = f"{broker.namespace}:__acks__.{broker.broker_id}.{self.queue_name}"
        messages = f"{broker.namespace}:{self.queue_name}.msgs"
        aside = f"{broker.namespace}:{self.queue_name}.unreadable"
        for entry_id in client.smembers(acks):
            data = client.hget(messages, entry_id)
            raw = data.encode() if isinstance(data, str) else (data or b"")
            try:
                dramatiq.Message.decode(raw)
            except dramatiq.errors.DecodeError:
                pipe = client.pipeline()
                pipe.hset(aside, entry_id, raw)
                pipe.hdel(messages, entry_id)
                pipe.srem(acks, entry_id)
                pipe.execute()
                log.error(
                    "queue %s held an entry that is not a Dramatiq message (id %r); "
                    "moved to %s, the other messages go on",
                    self.queue_name,
                    entry_id,
                    aside,
                )


class _RedisBroker(RedisBroker):
    """RedisBroker with the tolerant consumer."""

    @property
    def consumer_class(self) -> type[_RedisConsumer]:
        return _TolerantConsumer


def build_broker(
    spec: str | dramatiq.Broker | None,
    *,
    namespace: str = "proper_mail",
    heartbeat_timeout: int | None = None,
    maintenance_chance: int | None = None,
) -> dramatiq.Broker | None:
    """The broker for a QUEUE setting; None for immediate mode. Never a global one."""
    if spec is None or spec == "immediate":
        return None
    broker: dramatiq.Broker
    if isinstance(spec, dramatiq.Broker):
        broker = spec
    elif spec == "stub":
        broker = StubBroker()
        broker.emit_after("process_boot")
    elif isinstance(spec, str) and spec.startswith(("redis://", "rediss://", "unix://")):
        options: dict[str, Any] = {"client": _redis_client(spec)}
        if heartbeat_timeout is not None:
            options["heartbeat_timeout"] = heartbeat_timeout
        if maintenance_chance is not None:
            options["maintenance_chance"] = maintenance_chance
        broker = _RedisBroker(namespace=namespace, **options)  # type: ignore[no-untyped-call]
    elif isinstance(spec, str) and spec.startswith(("amqp://", "amqps://")):
        try:
            from dramatiq.brokers.rabbitmq import RabbitmqBroker
        except ImportError:
            raise ConfigError(
                "QUEUE is a RabbitMQ URL but pika is not installed: "
                "pip install 'proper-mail[rabbitmq]'"
            ) from None
        broker = RabbitmqBroker(url=spec, confirm_delivery=True)
    else:
        raise ConfigError(
            "QUEUE must be 'immediate', 'stub', a redis:// or amqp:// URL or a dramatiq "
            f"Broker, not {_public_url(spec) if isinstance(spec, str) else spec!r}"
        )
    if not any(isinstance(m, CurrentMessage) for m in broker.middleware):
        broker.add_middleware(CurrentMessage())
    return broker
