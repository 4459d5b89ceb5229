"""Testing kit: capture what an app sends, and assert on it (the ``mail`` pytest fixture).

With pytest, nothing to set up: the package registers a plugin (entry point
``pytest11``) with a ``mail`` fixture::

    def test_welcome_email_is_sent(mail):
        signup("alice@example.com")

        mail.assert_sent(WelcomeEmail, to="alice@example.com")
        assert "dashboard" in mail.outbox.last.text

Outside pytest, ``with proper_mail.testing.capture() as mail: ...`` does the same.

While it is active, for the current Mail and any Mail ``configure()`` builds:

- every MAILERS entry is a memory mailer of the same name (``via=`` still works);
- the queue runs each task at once, in-process (QUEUE = "immediate"), after recording
  it in ``mail.queued`` with its delay, whatever QUEUE says; the ledger is in-process;
- a mailer that would send for real (SMTP, an HTTP provider, a custom one) raises
  ConfigError instead, even one built by hand.

Everything is put back when it ends; each test starts with an empty outbox.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any, overload

import attrs

from .adapters.base import block_real_sends
from .adapters.memory import ToMemoryMailer
from .core.addresses import Address
from .core.records import Message, SendResult
from .mail import Mail, MailerRegistry, configure_hooks, configured_mail, restore_current
from .message import EmailMessage, compose_hooks
from .tasks.queue import Task
from .tasks.serialization import CODEC, load_message

__all__ = ["MailRecorder", "Outbox", "Queued", "Sent", "capture", "outbox"]


@attrs.frozen
class Sent:
    """One email a memory mailer took during the test.

    Attributes:
        record: the Message record (Bcc, tags, metadata included).
        mime: the rendered stdlib message, as the outbox of ToMemoryMailer holds it.
        mailer: the MAILERS name it went through.
        email_class: the EmailMessage class that composed it, when one did.
    """

    record: Message
    mime: email.message.EmailMessage = attrs.field(repr=False)
    mailer: str
    email_class: type[EmailMessage] | None = None

    @property
    def subject(self) -> str:
        """The subject."""
        return self.record.subject

    @property
    def recipients(self) -> tuple[str, ...]:
        """Every envelope recipient (To, Cc and Bcc), as addr-specs."""
        return tuple(a.addr_spec for a in self.record.recipients)

    @property
    def text(self) -> str:
        """The text/plain body ("" when there is none)."""
        return _content(self.mime, "plain")

    @property
    def html(self) -> str:
        """The text/html body ("" when there is none)."""
        return _content(self.mime, "html")

    def __str__(self) -> str:
        name = self.email_class.__name__ if self.email_class else "email"
        return f"{name} {self.subject!r} to {', '.join(self.recipients)} via {self.mailer}"


class Outbox(Sequence[Sent]):
    """What was sent during the test, in order, through every mailer."""

    def __init__(self) -> None:
        self._sent: list[Sent] = []

    @overload
    def __getitem__(self, index: int) -> Sent: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Sent]: ...
    def __getitem__(self, index: int | slice) -> Sent | Sequence[Sent]:
        return self._sent[index]

    def __len__(self) -> int:
        return len(self._sent)

    @property
    def last(self) -> Sent:
        """The last email sent; AssertionError when nothing was."""
        if not self._sent:
            raise AssertionError("no email was sent")
        return self._sent[-1]

    def for_(self, address: str) -> list[Sent]:
        """The emails with *address* among their recipients (To, Cc or Bcc)."""
        wanted = _addr_spec(address)
        return [s for s in self._sent if wanted in s.recipients]

    def clear(self) -> None:
        """Forget everything sent so far."""
        self._sent.clear()

    def _add(self, sent: Sent) -> None:
        self._sent.append(sent)


@attrs.frozen
class Queued:
    """One task run that was queued during the test (and run at once).

    Attributes:
        task: the actor's name (``proper_mail.send_email`` for send_later).
        arguments: its arguments, as they went through JSON.
        delay: the seconds it was scheduled for (``send_later(delay=...)`` / ``at=``).
        message: the Message it carried, when it carried one.
        email_class: the EmailMessage class that composed that message, when known.
    """

    task: str
    arguments: dict[str, Any] = attrs.field(repr=False)
    delay: float | None
    message: Message | None = None
    email_class: type[EmailMessage] | None = None

    def __str__(self) -> str:
        what = self.message.subject if self.message is not None else "no message"
        when = f" in {self.delay:g} s" if self.delay else ""
        return f"{self.task}: {what!r}{when}"


Predicate = Callable[[Sent], bool]


class MailRecorder:
    """The ``mail`` fixture: the outbox, the queued tasks, and assertions over them."""

    def __init__(self) -> None:
        self.outbox = Outbox()
        self.queued: list[Queued] = []
        self._classes: dict[str, type[EmailMessage]] = {}

    # -- assertions ---------------------------------------------------------------------

    def assert_sent(
        self,
        email_class: type[EmailMessage] | None = None,
        *,
        subject: str | None = None,
        to: str | Iterable[str] | None = None,
        count: int | None = None,
        where: Predicate | None = None,
    ) -> list[Sent]:
        """Assert that emails matching every criterion were sent (*count* of them, when
        given; at least one otherwise); return them. *to* matches any recipient."""
        found = self._matching(email_class, subject, to, where)
        if (count is None and found) or (count is not None and len(found) == count):
            return found
        wanted = _describe(email_class, subject, to, where, count)
        raise AssertionError(f"expected {wanted}; {self._report(found)}")

    def assert_not_sent(
        self,
        email_class: type[EmailMessage] | None = None,
        *,
        subject: str | None = None,
        to: str | Iterable[str] | None = None,
        where: Predicate | None = None,
    ) -> None:
        """Assert that no email matching every criterion was sent."""
        found = self._matching(email_class, subject, to, where)
        if found:
            wanted = _describe(email_class, subject, to, where, None)
            raise AssertionError(f"expected no {wanted}; {self._report(found)}")

    def assert_queued(
        self,
        email_class: type[EmailMessage] | None = None,
        *,
        subject: str | None = None,
        to: str | Iterable[str] | None = None,
        delay: float | None = None,
        count: int | None = None,
        task: str | None = None,
    ) -> list[Queued]:
        """Assert that messages matching every criterion were queued (send_later, or a
        task carrying a message); *delay* compares the scheduled seconds (within 1 s)."""
        found = [
            q
            for q in self.queued
            if (task is None or q.task == task)
            and (email_class is None or _is_class(q.email_class, email_class))
            and (subject is None or (q.message is not None and q.message.subject == subject))
            and (to is None or _has_all(q.message, to))
            and (delay is None or (q.delay is not None and abs(q.delay - delay) <= 1.0))
        ]
        if (count is None and found) or (count is not None and len(found) == count):
            return found
        wanted = _describe(email_class, subject, to, None, count, queued=True)
        if delay is not None:
            wanted += f" with a delay of {delay:g} s"
        shown = "\n".join(f"  {n}. {q}" for n, q in enumerate(self.queued, 1))
        raise AssertionError(
            f"expected {wanted}; queued {len(self.queued)}" + (f":\n{shown}" if shown else "")
        )

    def assert_nothing_queued(self) -> None:
        """Assert that nothing was queued."""
        if self.queued:
            shown = "\n".join(f"  {n}. {q}" for n, q in enumerate(self.queued, 1))
            raise AssertionError(f"expected nothing queued; queued {len(self.queued)}:\n{shown}")

    def clear(self) -> None:
        """Forget what was sent and queued so far."""
        self.outbox.clear()
        self.queued.clear()

    # -- plumbing ---------------------------------------------------------------------

    def _matching(
        self,
        email_class: type[EmailMessage] | None,
        subject: str | None,
        to: str | Iterable[str] | None,
        where: Predicate | None,
    ) -> list[Sent]:
        return [
            s
            for s in self.outbox
            if (email_class is None or _is_class(s.email_class, email_class))
            and (subject is None or s.subject == subject)
            and (to is None or _has_all(s.record, to))
            and (where is None or where(s))
        ]

    def _report(self, found: list[Sent]) -> str:
        lines = [f"found {len(found)} matching, sent {len(self.outbox)} in all"]
        lines.extend(f"  {n}. {s}" for n, s in enumerate(self.outbox, 1))
        return "\n".join(lines) if len(lines) > 1 else lines[0] + " (nothing was sent)"

    def _composed(self, email: EmailMessage, record: Message) -> None:
        self._classes[record.message_id] = type(email)

    def _enqueue(self, task: Task, kwargs: dict[str, Any], delay: float | None) -> None:
        arguments = json.loads(json.dumps(kwargs))  # what a worker would get
        message = None
        payload = arguments.get("message")
        if isinstance(payload, dict):
            try:
                message = load_message(payload)
            except Exception:  # an unreadable payload is the task's business
                message = None
        self.queued.append(
            Queued(
                task.name,
                arguments,
                delay,
                message,
                self._classes.get(message.message_id) if message else None,
            )
        )
        task.run(**arguments)

    @contextmanager
    def _swapped(self, mail: Mail) -> Iterator[None]:
        """*mail* with memory mailers and an intercepted queue, inside the block."""
        saved = mail.mailers
        mail.mailers = MailerRegistry({name: _RecordingMailer(self) for name in saved})
        for name in mail.mailers:
            mail.mailers[name].bind(name, CODEC)
        try:
            with mail.queue.intercepted(self._enqueue):
                yield
        finally:
            mail.mailers = saved


class _RecordingMailer(ToMemoryMailer):
    """A memory mailer that also adds each message to its recorder's outbox."""

    def __init__(self, recorder: MailRecorder) -> None:
        super().__init__()
        self.recorder = recorder

    def deliver(self, message: Message) -> SendResult:
        """Store *message* as ToMemoryMailer does, and record it."""
        result = super().deliver(message)
        classes = self.recorder._classes
        self.recorder.outbox._add(
            Sent(message, self.outbox[-1], self.alias, classes.get(message.message_id))
        )
        return result


# What tests and error messages show: the memory mailer, as the app configured it.
_RecordingMailer.__name__ = _RecordingMailer.__qualname__ = "ToMemoryMailer"


@contextmanager
def capture(mail: Mail | None = None) -> Iterator[MailRecorder]:
    """Record what the current Mail (or *mail*), and every Mail configured meanwhile,
    sends and queues; real sends are blocked. See the module docstring."""
    recorder = MailRecorder()
    with ExitStack() as stack:
        stack.enter_context(block_real_sends())
        previous = configured_mail()
        stack.callback(restore_current, previous)
        target = mail if mail is not None else previous
        if target is not None:
            stack.enter_context(recorder._swapped(target))

        def on_configure(new: Mail) -> None:
            stack.callback(new.close)
            stack.enter_context(recorder._swapped(new))

        configure_hooks.append(on_configure)
        compose_hooks.append(recorder._composed)
        stack.callback(configure_hooks.remove, on_configure)
        stack.callback(compose_hooks.remove, recorder._composed)
        yield recorder


def outbox(mail: Mail, via: str | None = None) -> list[email.message.EmailMessage]:
    """The outbox of *mail*'s memory mailer *via* (or the default one), typed: the guide's
    ``app.mailer.outbox``, for code that type-checks."""
    mailer = mail.mailer_for(via)
    if not isinstance(mailer, ToMemoryMailer):
        raise TypeError(
            f"{mailer.alias or 'the mailer'} is a {type(mailer).__name__}, not a memory mailer"
        )
    return mailer.outbox


def _addr_spec(address: str) -> str:
    return Address.parse(address, field="to").addr_spec


def _has_all(message: Message | None, to: str | Iterable[str]) -> bool:
    if message is None:
        return False
    wanted = [to] if isinstance(to, str) else list(to)
    have = {a.addr_spec for a in message.recipients}
    return all(_addr_spec(w) in have for w in wanted)


def _is_class(found: type[EmailMessage] | None, wanted: type[EmailMessage]) -> bool:
    return found is not None and issubclass(found, wanted)


def _describe(
    email_class: type[EmailMessage] | None,
    subject: str | None,
    to: str | Iterable[str] | None,
    where: Predicate | None,
    count: int | None,
    *,
    queued: bool = False,
) -> str:
    what = email_class.__name__ if email_class is not None else "email"
    parts = [f"{count} {what}" if count is not None else f"a {what}"]
    if subject is not None:
        parts.append(f"with subject {subject!r}")
    if to is not None:
        parts.append(f"to {to if isinstance(to, str) else ', '.join(to)}")
    if where is not None:
        parts.append(f"where {getattr(where, '__name__', 'the predicate')} holds")
    parts.append("queued" if queued else "sent")
    return " ".join(parts)


def _content(mime: email.message.EmailMessage, subtype: str) -> str:
    part = mime.get_body((subtype,))
    if part is None:
        return ""
    assert isinstance(part, email.message.EmailMessage)
    content = part.get_content()
    return content if isinstance(content, str) else ""
