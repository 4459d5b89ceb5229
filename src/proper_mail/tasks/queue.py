"""Sending later with Dramatiq: the queue, its tasks, and the one delivery step they share.

``Queue`` is built from the QUEUE setting:

- ``"immediate"`` (the default): a task runs in the calling process at once, after a
  full JSON round trip of its arguments, so tests catch payload bugs;
- ``"stub"``: Dramatiq's StubBroker, for integration tests with a Worker;
- ``"redis://..."``: a RedisBroker (production);
- any ``dramatiq.Broker`` you built (RabbitMQ works unchanged).

Nothing is declared against an implicit broker: every actor names ``queue.broker``.

``Queue.deliver`` is the step a task runs: load the payload, skip recipients the ledger
says are done, send, record, and classify what went wrong. Transient failures are retried
by Dramatiq with bounded exponential backoff (honouring a server's Retry-After); only the
recipients that were deferred get the retry. Permanent failures, unreadable payloads and
expired messages are never retried: they go to the give-up hook and an ERROR log.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from collections.abc import Callable
from email.policy import Policy
from typing import Any, Literal, Protocol

import attrs
import dramatiq
import redis
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from ..core.mime import envelope_of
from ..core.records import Message, SendResult
from ..errors import (
    ConfigError,
    LedgerUnavailable,
    MessageError,
    MessageTooLarge,
    ProperMailError,
    SerializationError,
    TransientDeliveryError,
)
from ..serialization import EmailMessageDict, dump_message, load_message
from .ledger import Ledger, MemoryLedger, RedisLedger

__all__ = ["GiveUp", "Queue", "RetryPolicy", "Task"]

log = logging.getLogger("proper_mail.tasks")

DEFAULT_MAX_PAYLOAD = 10 * 1024 * 1024
SEND_ACTOR = "proper_mail.send_email"


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
        """Send one message; return per-recipient statuses."""
        ...


@attrs.frozen
class RetryPolicy:
    """How transient failures are retried: bounded exponential backoff, in seconds."""

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
        via: the mailer alias it was for.
        reason: ``permanent``, ``retries exhausted``, ``expired``, ``unreadable`` or
            ``ledger unavailable``.
        error: the error's text (never a credential).
        recipients: the recipients that did not get it. With ``ledger unavailable`` on a
            message whose earlier attempts were cut short by deferrals, it may also hold
            recipients an earlier attempt did send to: the ledger that knows could not
            be read.
    """

    message_id: str
    via: str | None
    reason: str
    error: str
    recipients: tuple[str, ...] = ()


class Task:
    """A function run by the queue: calling it enqueues (or, immediate, runs) it.

    ``send_email_task(message=..., via=...)`` as the guide's BaseEmail calls it.
    """

    def __init__(
        self, queue: Queue, fn: Callable[..., Any], actor: dramatiq.Actor[Any, Any] | None
    ) -> None:
        self.queue = queue
        self.fn = fn
        self.actor = actor
        self.__name__ = getattr(fn, "__name__", "task")
        self.__doc__ = fn.__doc__

    def __call__(self, **kwargs: Any) -> None:
        """Enqueue a run with *kwargs* (JSON-safe); ConfigError for an unknown ``via``."""
        if "via" in kwargs:
            self.queue.check_via(kwargs["via"])
        payload = self.queue.encode(kwargs)  # JSON-safe and under the cap, or an error
        if self.actor is None:
            self.fn(**json.loads(payload))  # immediate: the full round trip, as a worker sees it
        else:
            self.actor.send_with_options(kwargs=kwargs)

    send = __call__


class Queue:
    """The app's queue: a Dramatiq broker (or immediate mode), tasks and ``deliver``."""

    def __init__(
        self,
        spec: str | dramatiq.Broker | None,
        *,
        mailer_for: Callable[[str | None], Deliverer],
        retry: RetryPolicy | None = None,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
        on_give_up: Callable[[GiveUp], object] | None = None,
        namespace: str = "proper_mail",
        heartbeat_timeout: int | None = None,
        maintenance_chance: int | None = None,
        ledger: Ledger | None = None,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self._mailer_for = mailer_for
        self.retry = retry or RetryPolicy()
        self.max_payload = max_payload
        self.on_give_up = on_give_up
        self.namespace = namespace
        self.broker = build_broker(
            spec,
            namespace=namespace,
            heartbeat_timeout=heartbeat_timeout,
            maintenance_chance=maintenance_chance,
        )
        if ledger is not None:
            self.ledger: Ledger = ledger
        elif isinstance(self.broker, RedisBroker):
            self.ledger = RedisLedger(self.broker.client, namespace=namespace)
        else:
            self.ledger = MemoryLedger()
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._send_task: Task | None = None
        self._lock = threading.Lock()

    @property
    def mode(self) -> Literal["immediate", "broker"]:
        """``immediate`` (run in-process now) or ``broker`` (a worker runs it)."""
        return "immediate" if self.broker is None else "broker"

    # -- tasks ------------------------------------------------------------------------

    def task(
        self, *, queue_name: str = "emails", actor_name: str | None = None
    ) -> Callable[[Callable[..., Any]], Task]:
        """Decorate a function to declare it as a task on this queue's broker.

        ``@app.queue.task()`` as the guide writes it.

        The actor retries TransientDeliveryError (and ``dramatiq.Retry``) only, with this
        queue's RetryPolicy; anything else fails at once.
        """

        def declare(fn: Callable[..., Any]) -> Task:
            actor = None
            if self.broker is not None:
                actor = dramatiq.actor(
                    broker=self.broker,
                    queue_name=queue_name,
                    actor_name=actor_name or f"{fn.__module__}.{fn.__qualname__}",
                    max_retries=self.retry.max_retries,
                    min_backoff=int(self.retry.min_backoff * 1000),
                    max_backoff=int(self.retry.max_backoff * 1000),
                    retry_when=self._retry_when,
                )(fn)
            return Task(self, fn, actor)

        return declare

    def _retry_when(self, retries: int, error: BaseException) -> bool:
        return isinstance(error, TransientDeliveryError | dramatiq.Retry) and (
            retries < self.retry.max_retries
        )

    @property
    def send_task(self) -> Task:
        """The library's own send task (used by ``proper_mail.send_later``)."""
        with self._lock:
            if self._send_task is None:

                def send_email(message: EmailMessageDict, via: str | None = None) -> None:
                    self.deliver(message, via=via)

                self._send_task = self.task(actor_name=SEND_ACTOR)(send_email)
            return self._send_task

    def send_later(self, message: Message, *, via: str | None = None) -> None:
        """Queue *message* (already rendered) for the send task."""
        self.send_task(message=dump_message(message), via=via)

    def check_via(self, via: object) -> None:
        """ConfigError now, at the call site, for a mailer name that does not exist."""
        if via is not None and not isinstance(via, str):
            raise ConfigError(f"via must be a mailer name, not {via!r}")
        self._mailer_for(via)

    def encode(self, kwargs: dict[str, Any]) -> str:
        """The JSON of a task's arguments; MessageTooLarge over the payload cap."""
        try:
            payload = json.dumps(kwargs, separators=(",", ":"))
        except (TypeError, ValueError) as e:
            raise SerializationError(f"task arguments are not JSON-safe: {e}") from None
        if len(payload) > self.max_payload:
            raise MessageTooLarge(
                "message", len(payload), f"the queued payload is over {self.max_payload} bytes"
            )
        return payload

    # -- the delivery step ----------------------------------------------------------------

    def deliver(self, message: EmailMessageDict, *, via: str | None = None) -> SendResult | None:
        """Send a queued message: at most once per recipient, failures classified.

        Returns the SendResult, or None when there was nothing left to send (already done,
        or expired). Raises TransientDeliveryError to be retried (only the deferred
        recipients will be), anything else to fail for good after the give-up hook.
        """
        try:
            record = load_message(message)
        except (SerializationError, MessageError) as e:
            error = e if isinstance(e, SerializationError) else SerializationError(str(e))
            self._give_up(GiveUp("", via, "unreadable", str(error)))
            raise error from None
        mailer = self._mailer_for(via)
        alias = mailer.alias or (via or "")
        if record.expires is not None and self._clock() > record.expires:
            recipients = envelope_of(record, mailer.policy).recipients
            log.warning(
                "dropped %s via %s: expired at %s", record.message_id, alias, record.expires
            )
            self._give_up(
                GiveUp(record.message_id, via, "expired", "the message expired", recipients)
            )
            return None
        retries = _current_retries()
        recipients = envelope_of(record, mailer.policy).recipients
        try:
            done = self.ledger.done(record.message_id)
        except LedgerUnavailable as e:  # nothing sent: retried like any transient failure
            if retries >= self.retry.max_retries:
                self._give_up(
                    GiveUp(record.message_id, via, "ledger unavailable", str(e), recipients)
                )
            raise
        remaining = [r for r in recipients if r not in done]
        if not remaining:
            log.info("skipped %s via %s: already sent", record.message_id, alias)
            return None
        if done:
            record = attrs.evolve(record, envelope_to=tuple(remaining))
        try:
            result = mailer.deliver(record)
        except TransientDeliveryError as e:
            self._record(record.message_id, _refused_for_good(e))
            if retries >= self.retry.max_retries:
                self._give_up(
                    GiveUp(record.message_id, via, "retries exhausted", str(e), tuple(remaining))
                )
                raise
            log.info("retrying %s via %s: %s", record.message_id, alias, type(e).__name__)
            if e.retry_after is not None:
                delay = max(self.retry.backoff(retries), e.retry_after)
                raise dramatiq.Retry(str(e), delay=int(delay * 1000)) from e
            raise
        except ProperMailError as e:
            self._record(record.message_id, _refused_for_good(e))
            self._give_up(GiveUp(record.message_id, via, "permanent", str(e), tuple(remaining)))
            raise
        recorded = self._record(record.message_id, (*result.accepted, *result.rejected))
        log.info(
            "sent %s via %s to %d recipient(s)", record.message_id, alias, len(result.accepted)
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug("sent %s to %s", record.message_id, ", ".join(result.accepted))
        if result.deferred:
            if not recorded:  # a retry could not tell who has the message: no second copies
                self._give_up(
                    GiveUp(
                        record.message_id,
                        via,
                        "ledger unavailable",
                        "deferred recipients are not retried when the ledger cannot say "
                        "who was sent the message",
                        result.deferred,
                    )
                )
                return result
            if retries >= self.retry.max_retries:
                self._give_up(
                    GiveUp(record.message_id, via, "retries exhausted", "deferred", result.deferred)
                )
                return result
            raise TransientDeliveryError(
                f"{len(result.deferred)} recipient(s) deferred; only they will be retried",
                recipients=result.recipients,
            )
        return result

    def _record(self, message_id: str, recipients: tuple[str, ...] | list[str]) -> bool:
        """Write the ledger after the mailer answered; False (logged) if it failed.

        Never raises: the mailer has already taken the message, and raising would make
        Dramatiq run the task again, sending those recipients a second copy.
        """
        try:
            self.ledger.record(message_id, recipients)
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


def _refused_for_good(error: ProperMailError) -> list[str]:
    recipients = getattr(error, "recipients", ())
    return [s.address for s in recipients if s.status == "rejected"]


def _current_retries() -> int:
    current = CurrentMessage.get_current_message()
    if current is None:
        return 0
    return int(current.options.get("retries", 0))


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
        # RedisBroker(url=...) builds its pool from the URL alone and hands socket options
        # to a client that ignores them next to a pool: build the pool here, with them.
        pool = redis.ConnectionPool.from_url(spec, socket_timeout=30, socket_connect_timeout=10)
        options: dict[str, Any] = {"client": redis.Redis(connection_pool=pool)}
        if heartbeat_timeout is not None:
            options["heartbeat_timeout"] = heartbeat_timeout
        if maintenance_chance is not None:
            options["maintenance_chance"] = maintenance_chance
        broker = RedisBroker(namespace=namespace, **options)  # type: ignore[no-untyped-call]
    else:
        raise ConfigError(
            f"QUEUE must be 'immediate', 'stub', a redis:// URL or a dramatiq Broker, not {spec!r}"
        )
    if not any(isinstance(m, CurrentMessage) for m in broker.middleware):
        broker.add_middleware(CurrentMessage())
    return broker
