"""BaseMailer: the one port every backend (SMTP, console, memory, HTTP providers) fits.

A mailer implements ``deliver(message: Message) -> SendResult`` and nothing else, the way
an httpx transport implements ``handle_request``: one validated record in, one status
per envelope recipient out. Everything else is built around that port, here, once:

- ``send_now(*messages)``: the guide's batch call. It takes anything ``Sendable`` (a
  record, an email class, an ``EmailMessageDict``, a hand-built stdlib message), turns
  each into a record at this edge (checked like any other), then calls ``deliver``.
- The guide's 7.5 recipe, a subclass that overrides ``send_now(*EmailMessageDict)``
  instead, works through the default ``deliver``: the record is handed to it as an
  ``EmailMessageDict`` that ``render()`` turns back into MIME without a second parse.
- Exceptions that are not ours, raised by any mailer's ``deliver`` or ``send_now``
  (an ``httpx.HTTPStatusError`` from a custom mailer), are mapped in one place, by the
  mailer's ``classify(error)``, into a ``DeliveryError`` that keeps its cause. Override
  ``classify`` to mark your client's errors transient or permanent.
"""

from __future__ import annotations

import datetime as dt
import email.message
import functools
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from email.policy import Policy
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

from ..core.mime import DEFAULT_POLICY, envelope_of, to_mime
from ..core.parse import parse_mime
from ..core.records import Envelope, Message, RecipientState, RecipientStatus, SendResult, Stamp
from ..errors import (
    ConfigError,
    DeliveryError,
    MessageError,
    PermanentDeliveryError,
    ProperMailError,
    TransientDeliveryError,
)

__all__ = [
    "BaseMailer",
    "Composable",
    "DictCodec",
    "RateLimiter",
    "Sendable",
    "all_sent",
    "block_real_sends",
    "new_stamp",
]


@runtime_checkable
class Composable(Protocol):
    """**Protocol:** anything with ``to_message()``: the guide's EmailMessage classes."""

    def to_message(self, mail: Any = None) -> Message:
        """Compose (and render) the Message record, with *mail*'s defaults and templates
        (None: the current Mail's)."""
        ...


#: What the sending functions take: a record, an email class instance, an
#: ``EmailMessageDict`` (a mapping), or a hand-built ``email.message.Message``.
Sendable = Message | Composable | email.message.Message | Mapping[str, Any]


class DictCodec(Protocol):
    """**Protocol:** turns records into ``EmailMessageDict``s and back.

    The composition root gives mailers the one converter (``proper_mail.tasks``) through
    ``BaseMailer.bind``: adapters never import tasks.
    """

    def dump(self, message: Message) -> Mapping[str, Any]:
        """The EmailMessageDict of *message*."""
        ...

    def load(self, data: Mapping[str, Any]) -> Message:
        """The Message in *data* (SerializationError or MessageError when it is bad)."""
        ...


class RateLimiter(Protocol):
    """**Protocol:** a mailer's rate limit (``"rate_limit": "14/s"`` in MAILERS).

    The composition root builds one per limited mailer (shared through Redis by every
    worker process, or in-process in immediate mode) and hands it over in ``bind``.
    """

    def acquire(self) -> None:
        """Wait for the next send slot; raise ``RateLimited`` (transient, with
        ``retry_after``) when the wait would be longer than the limiter allows."""
        ...


def new_stamp() -> Stamp:
    """Return a Stamp for a new message: now (UTC, whole seconds) and a unique token."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return Stamp(date=now, token=f"{time.time_ns():x}.{secrets.token_hex(8)}")


class _RecordDict(dict[str, Any]):
    """An EmailMessageDict made from a record, carrying that record along, so that the
    guide's ``self.render(message)`` never parses back what was just dumped."""

    record: Message


class _Blocker:
    """How many ``block_real_sends()`` blocks are open (tests may nest them)."""

    def __init__(self) -> None:
        self.depth = 0
        self.lock = threading.Lock()


_BLOCKER = _Blocker()


@contextmanager
def block_real_sends() -> Iterator[None]:
    """Inside the block, a mailer that sends for real (SMTP, HTTP providers, custom
    mailers) raises ConfigError instead; the memory and console mailers still work.
    proper_mail's pytest plugin opens one around every test that uses its fixture."""
    with _BLOCKER.lock:
        _BLOCKER.depth += 1
    try:
        yield
    finally:
        with _BLOCKER.lock:
            _BLOCKER.depth -= 1


def _mapping_errors[F: Callable[..., Any]](fn: F, *, limited: bool = False) -> F:
    """Wrap a mailer method so exceptions that are not ours go through ``classify``
    (and, while ``block_real_sends()`` is active, refuse to send for real). A *limited*
    method (``deliver``) first takes a slot from the mailer's rate limiter, if any."""

    @functools.wraps(fn)
    def mapped(self: BaseMailer, *args: Any, **kwargs: Any) -> Any:
        if _BLOCKER.depth and self.sends_for_real:
            raise ConfigError(
                f"{type(self).__name__} ({self.alias or 'built directly'}) would send for "
                "real, and real sends are blocked while proper_mail's test fixture is active"
            )
        if limited and self._guard is not None and args and isinstance(args[0], Message):
            rewritten = self._guard(args[0])
            if rewritten is not None:
                args = (rewritten, *args[1:])
        if limited and self._limiter is not None:
            self._limiter.acquire()
        try:
            return fn(self, *args, **kwargs)
        except ProperMailError:
            raise
        except Exception as e:
            raise self.classify(e) from e

    mapped.__proper_mail_mapped__ = True  # type: ignore[attr-defined]
    return cast("F", mapped)


class BaseMailer:
    """Base class of mailers: one port, ``deliver(message) -> SendResult``.

    **Protocol:** override ``deliver(message: Message) -> SendResult`` (or, the guide's
    7.5 way, ``send_now(*messages: EmailMessageDict) -> int``). Keyword-only
    constructor arguments: the MAILERS config passes every key but ``type`` to the
    constructor. Optionally override ``classify(error)``.

    Attributes:
        policy: the email policy used to render; ``email.policy.SMTPUTF8`` keeps
            Unicode addresses and headers (the guide, 9).
        fail_silently: ``send_now`` and ``send()`` swallow delivery errors (``send_now``
            then returns a lower count). A queued message is never swallowed: a worker
            reports every failure.
        alias: the name this mailer has in MAILERS ("" when built directly).
    """

    policy: ClassVar[Policy] = DEFAULT_POLICY
    #: False for mailers that never hand mail to anyone (memory, console): they keep
    #: working while ``block_real_sends()`` is active.
    sends_for_real: ClassVar[bool] = True
    _recipe: ClassVar[bool] = False  # overrides send_now, not deliver: the guide's 7.5
    _limiter: RateLimiter | None = None
    _mailers: Mapping[str, BaseMailer] | None = None
    _guard: Callable[[Message], Message | None] | None = None

    def __init__(self, *, fail_silently: bool = False) -> None:
        self.fail_silently = fail_silently
        self.alias = ""
        self._codec: DictCodec | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("deliver", "send_now"):
            method = cls.__dict__.get(name)
            if callable(method) and not getattr(method, "__proper_mail_mapped__", False):
                setattr(cls, name, _mapping_errors(method, limited=name == "deliver"))
        if "deliver" in cls.__dict__:
            cls._recipe = False
        elif "send_now" in cls.__dict__:
            cls._recipe = True

    def bind(
        self,
        alias: str,
        codec: DictCodec,
        *,
        limiter: RateLimiter | None = None,
        mailers: Mapping[str, BaseMailer] | None = None,
        guard: Callable[[Message], Message | None] | None = None,
    ) -> None:
        """Called by the Mail that owns this mailer: its name in MAILERS, the
        EmailMessageDict codec (for ``send_now`` with dicts and the guide's recipe), its
        rate limiter (``rate_limit`` in MAILERS), and the other configured mailers by
        name (for mailers made of mailers: failover, round robin), and a *guard* every
        record passes on its way into ``deliver``, however the mailer is called (the
        interceptor: ``app.mailer.send_now()`` cannot bypass MAILER_INTERCEPT_TO)."""
        self.alias = alias
        self._codec = codec
        if guard is not None:
            self._guard = guard
        if limiter is not None:
            self._limiter = limiter
        if mailers is not None:
            self._mailers = mailers

    @classmethod
    def depends_on(cls, options: Mapping[str, Any]) -> tuple[str, ...]:
        """The names of the other MAILERS this mailer's *options* use (checked at
        configure time to exist); none for a mailer that sends by itself."""
        return ()

    # -- the port ----------------------------------------------------------------------

    def deliver(self, message: Message) -> SendResult:
        """Send one validated record; return one status per envelope recipient.

        Override this. The default serves the guide's 7.5 recipe: it hands the record
        to the subclass's ``send_now`` as an EmailMessageDict and reports every
        recipient sent when it counts 1 (failed when it counts 0: ``fail_silently``).
        """
        if not self._recipe:
            raise ConfigError(f"{type(self).__name__} must override deliver() (or send_now())")
        if self._guard is not None:
            message = self._guard(message) or message
        if self._limiter is not None:
            self._limiter.acquire()
        envelope = self.envelope(message)
        data = _RecordDict(self._dict_codec("send_now").dump(message))
        data.record = message
        sent = self.send_now(data)
        state: RecipientState = "sent" if sent else "failed"
        return SendResult(
            message_id=message.message_id,
            mailer=self.alias,
            recipients=tuple(RecipientStatus(a, state) for a in envelope.recipients),
        )

    def classify(self, error: Exception) -> DeliveryError:
        """Return the DeliveryError for an exception that is not ours (the one place a
        mailer's foreign errors are mapped; the caller chains *error* as the cause).

        The default: timeouts and connection errors are transient, anything else is
        permanent, so it is reported instead of retried blindly. Override it to mark your
        client's errors, e.g. an HTTP 429 or 5xx transient and other 4xx permanent.
        """
        what = f"{type(self).__name__}: {type(error).__name__}: {_short(str(error))}"
        if isinstance(error, TimeoutError | ConnectionError):
            return TransientDeliveryError(what)
        return PermanentDeliveryError(what)

    # -- around the port -----------------------------------------------------------------

    def send_now(self, *messages: Sendable) -> int:
        """Send *messages* now, in order; return how many were sent.

        Each message becomes a record first, so a malformed one raises (MessageError)
        before anything is sent. Every message is attempted; when some fail and
        ``fail_silently`` is off, the first failure is raised after the batch, with
        ``.results`` holding the outcome of each, so a caller never resends blindly.
        """
        records = [self.record_of(m) for m in messages]
        outcomes: list[SendResult | ProperMailError] = []
        for record in records:
            try:
                outcomes.append(self.deliver(record))
            except DeliveryError as e:
                outcomes.append(e)
        failures = [o for o in outcomes if isinstance(o, ProperMailError)]
        if failures and not self.fail_silently:
            first = failures[0]
            first.results = tuple(outcomes)
            raise first
        return sum(1 for o in outcomes if isinstance(o, SendResult) and o.sent)

    def record_of(self, message: Sendable) -> Message:
        """Return *message* as a validated Message record (the edge of every mailer)."""
        if isinstance(message, Message):
            return message
        if isinstance(message, _RecordDict):
            return message.record
        if isinstance(message, email.message.Message):
            return parse_mime(message, stamp=new_stamp())
        if isinstance(message, Mapping):
            return self._dict_codec("an EmailMessageDict").load(message)
        if isinstance(message, Composable):
            return message.to_message()
        raise MessageError(
            "message",
            type(message).__name__,
            "expected a Message, an EmailMessage, an EmailMessageDict or an "
            "email.message.EmailMessage",
        )

    def render(self, message: Sendable) -> email.message.EmailMessage:
        """Return *message* as a stdlib EmailMessage, the MIME built by the core."""
        return to_mime(self.record_of(message), self.policy)

    def envelope(self, message: Message) -> Envelope:
        """The SMTP envelope of *message* under this mailer's policy (Bcc included)."""
        return envelope_of(message, self.policy)

    def _dict_codec(self, what: str) -> DictCodec:
        if self._codec is None:
            raise ConfigError(
                f"{type(self).__name__} was built directly, so it cannot read or write "
                f"{what}: pass Message records, or build the mailer through MAILERS / "
                "proper_mail.Mail(mailers=...)"
            )
        return self._codec

    def close(self) -> None:
        """Release connections and other resources (a no-op unless the mailer has any)."""

    def __enter__(self) -> BaseMailer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def all_sent(message_id: str, alias: str, envelope: Envelope) -> SendResult:
    """A SendResult where every envelope recipient was accepted."""
    return SendResult(
        message_id=message_id,
        mailer=alias,
        recipients=tuple(RecipientStatus(a, "sent") for a in envelope.recipients),
    )
