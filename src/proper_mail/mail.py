"""The composition root: configuration, the mailers, and the impure edges of composing.

``configure()`` builds a ``Mail`` from a config module or mapping (MAILERS, MAILER,
MAILER_DEFAULT_OPTIONS ...) and makes it the current one, used by ``send()`` and
``EmailMessage.send()``. The clock and randomness enter here (``new_stamp``), never
in ``core/``.
"""

from __future__ import annotations

import datetime as dt
import email.message
import importlib
import inspect
import logging
import os
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import attrs

from .adapters.base import BaseMailer, as_record
from .adapters.jx import JxRenderer, url_helper
from .core import compose as core_compose
from .core.addresses import normalize_domain
from .core.compose import defaults_from_options
from .core.mime import envelope_of
from .core.records import Attachment, Defaults, Message, RecipientStatus, SendResult, Stamp
from .core.templates import Bodies, choose_bodies, inline_css, template_paths
from .errors import ConfigError, DeliveryError
from .serialization import EmailMessageDict
from .tasks.queue import Queue, RetryPolicy

__all__ = [
    "Mail",
    "MailerRegistry",
    "compose",
    "configure",
    "configured_mail",
    "current_mail",
    "new_stamp",
    "send",
    "send_later",
    "using",
]

log = logging.getLogger("proper_mail")

#: Old spellings of our import path, from the guide's ``proper.emails``.
_TYPE_ALIASES = {"proper.emails.": "proper_mail."}


class Composable(Protocol):
    """Anything with ``to_message()``: the guide's EmailMessage classes."""

    def to_message(self, mail: Mail | None = None) -> Message: ...


Sendable = Message | EmailMessageDict | email.message.EmailMessage | Composable


def new_stamp() -> Stamp:
    """Return a Stamp for a new message: now (UTC, whole seconds) and a unique token."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    return Stamp(date=now, token=f"{time.time_ns():x}.{secrets.token_hex(8)}")


@attrs.frozen
class _MailerSpec:
    name: str
    cls: type[BaseMailer]
    options: Mapping[str, Any]


class MailerRegistry(Mapping[str, BaseMailer]):
    """The configured mailers by name, each built once, on first use, thread-safely."""

    def __init__(self, specs: Mapping[str, _MailerSpec | BaseMailer]) -> None:
        self._specs = dict(specs)
        self._built: dict[str, BaseMailer] = {}
        self._lock = threading.Lock()

    def __getitem__(self, name: str) -> BaseMailer:
        built = self._built.get(name)
        if built is not None:
            return built
        if name not in self._specs:
            raise ConfigError(
                f"Unknown mailer {name!r}. Available mailers: {', '.join(self._specs)}"
            )
        with self._lock:
            if name not in self._built:
                self._built[name] = self._build(self._specs[name])
                self._built[name].alias = name
            return self._built[name]

    @staticmethod
    def _build(spec: _MailerSpec | BaseMailer) -> BaseMailer:
        if isinstance(spec, BaseMailer):
            return spec
        try:
            return spec.cls(**spec.options)
        except ConfigError as e:
            raise ConfigError(f"MAILERS[{spec.name!r}]: {e}") from e
        except (TypeError, ValueError) as e:
            raise ConfigError(f"MAILERS[{spec.name!r}]: {e}") from e

    def __iter__(self) -> Iterator[str]:
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def built(self) -> list[BaseMailer]:
        """The mailers built so far."""
        with self._lock:
            return list(self._built.values())


class Mail:
    """One app's email set-up: its mailers, the default one, and message defaults.

    Attributes:
        mailers: every configured mailer by name (``mail.mailers["postmark"]``).
        default_mailer: the name of the default mailer (MAILER).
        defaults: MAILER_DEFAULT_OPTIONS, parsed.
        message_id_domain: the right-hand side of generated Message-IDs (default: the
            From domain).
    """

    def __init__(
        self,
        *,
        mailers: Mapping[str, Mapping[str, Any] | BaseMailer],
        mailer: str | None = None,
        default_options: Mapping[str, object] | None = None,
        message_id_domain: str | None = None,
        views: str | os.PathLike[str] | None = None,
        protocol: str = "https",
        host: str | None = None,
        template_globals: Mapping[str, Any] | None = None,
        css_inlining: bool = True,
        auto_reload: bool = True,
        queue: str | Any = "immediate",
        queue_options: Mapping[str, Any] | None = None,
    ) -> None:
        if not mailers:
            raise ConfigError("MAILERS is empty: declare at least one mailer")
        specs = {name: _spec_of(name, entry) for name, entry in mailers.items()}
        if mailer is None:
            if len(specs) > 1:
                raise ConfigError(
                    f"MAILER is not set; choose one of the MAILERS: {', '.join(specs)}"
                )
            mailer = next(iter(specs))
        if mailer not in specs:
            raise ConfigError(f"MAILER is {mailer!r}, which is not in MAILERS ({', '.join(specs)})")
        self.mailers = MailerRegistry(specs)
        self.default_mailer = mailer
        self.defaults: Defaults = defaults_from_options(default_options)
        if message_id_domain is not None:
            normalize_domain(message_id_domain, field="MESSAGE_ID_DOMAIN")
        self.message_id_domain = message_id_domain
        if views is not None and not Path(views).is_dir():
            raise ConfigError(f"VIEWS is {str(views)!r}, which is not a folder")
        self.views = Path(views) if views is not None else None
        self.url = url_helper(protocol, host) if host else None
        self.css_inlining = css_inlining
        self.auto_reload = auto_reload
        self._template_globals = dict(template_globals or {})
        self._renderer: JxRenderer | None = None
        self._renderer_lock = threading.Lock()
        self._queue_spec = queue
        self._queue_options = _queue_options(queue_options or {})
        self._queue: Queue | None = None

    @property
    def queue(self) -> Queue:
        """The queue for send_later (QUEUE: immediate, stub, a redis:// URL, a broker)."""
        with self._renderer_lock:
            if self._queue is None:
                self._queue = Queue(
                    self._queue_spec, mailer_for=self.mailer_for, **self._queue_options
                )
            return self._queue

    def send_later(self, message: Sendable, *, via: str | None = None) -> None:
        """Render and queue *message* for a worker; ConfigError now for an unknown via.

        Templates are rendered here, before queueing: a worker never needs the views.
        """
        self.mailer_for(via)
        if isinstance(message, email.message.EmailMessage):
            raise ConfigError(
                "send_later() takes a Message or an EmailMessage class, not a stdlib message"
            )
        self.queue.send_later(self.record_of(message), via=via)

    def record_of(self, message: Message | EmailMessageDict | Composable) -> Message:
        """The Message record of *message*: itself, loaded, or composed (and rendered)."""
        if isinstance(message, Message):
            return message
        if isinstance(message, dict):
            return as_record(message)
        return message.to_message(self)

    @property
    def renderer(self) -> JxRenderer | None:
        """The template renderer over VIEWS (built on first use), or None without VIEWS."""
        if self.views is None:
            return None
        with self._renderer_lock:
            if self._renderer is None:
                extra = {"url": self.url} if self.url is not None else {}
                self._renderer = JxRenderer(
                    self.views,
                    auto_reload=self.auto_reload,
                    globals={**extra, **self._template_globals},
                )
            return self._renderer

    def render_bodies(
        self, module: str, context: Mapping[str, Any], *, body: str, content_subtype: str
    ) -> tuple[Bodies, tuple[Attachment, ...]]:
        """Render the templates of an email class defined in *module* (the guide, 4).

        Returns the bodies chosen by the 4-case table and the inline parts the templates
        attached. EmailTemplateNotFound when there is neither a template nor a body.
        """
        paths = template_paths(module)
        renderer = self.renderer
        html = text = None
        parts: tuple[Attachment, ...] = ()
        if renderer is not None and renderer.exists(paths.html):
            html, parts = renderer.render(paths.html, context)
            if self.css_inlining:
                html = inline_css(html)
        if renderer is not None and renderer.exists(paths.text):
            text, _ = renderer.render(paths.text, context)
        bodies = choose_bodies(paths, html, text, body=body, content_subtype=content_subtype)
        return bodies, parts

    @classmethod
    def from_settings(
        cls, settings: ModuleType | Mapping[str, Any] | None = None, /, **overrides: Any
    ) -> Mail:
        """Build a Mail from a config module or mapping, upper-case keys overridden."""
        values = _settings_dict(settings)
        values.update(overrides)
        if "MAILERS" not in values:
            raise ConfigError("MAILERS is not set in the configuration")
        return cls(
            mailers=values["MAILERS"],
            mailer=values.get("MAILER"),
            default_options=values.get("MAILER_DEFAULT_OPTIONS"),
            message_id_domain=values.get("MESSAGE_ID_DOMAIN"),
            views=values.get("VIEWS"),
            protocol=values.get("PROTOCOL", "https"),
            host=values.get("HOST"),
            template_globals=values.get("TEMPLATE_GLOBALS"),
            css_inlining=values.get("CSS_INLINING", True),
            auto_reload=values.get(
                "TEMPLATES_AUTO_RELOAD",
                values.get("APP_ENV", os.getenv("APP_ENV", "dev")) != "prod",
            ),
            queue=values.get("QUEUE", "immediate"),
            queue_options={
                key.removeprefix("QUEUE_").lower(): value
                for key, value in values.items()
                if key.startswith("QUEUE_")
            },
        )

    def __repr__(self) -> str:
        return f"Mail(mailers={list(self.mailers)!r}, mailer={self.default_mailer!r})"

    @property
    def mailer(self) -> BaseMailer:
        """The default mailer (MAILER)."""
        return self.mailers[self.default_mailer]

    def mailer_for(self, via: str | None) -> BaseMailer:
        """The mailer named *via*, or the default; ConfigError for an unknown name."""
        return self.mailer if via is None else self.mailers[via]

    def compose(self, *, stamp: Stamp | None = None, **fields: Any) -> Message:
        """Compose a Message with this app's defaults and a fresh Date and Message-ID."""
        return core_compose.compose(
            stamp=stamp or new_stamp(),
            defaults=self.defaults,
            message_id_domain=fields.pop("message_id_domain", self.message_id_domain),
            **fields,
        )

    def send(self, message: Sendable, *, via: str | None = None) -> SendResult:
        """Send one message now through *via* (or the default mailer).

        Returns the per-recipient result. Raises DeliveryError when nobody accepted the
        message (unless the mailer has fail_silently), ConfigError for an unknown via.
        """
        mailer = self.mailer_for(via)
        if isinstance(message, email.message.EmailMessage):
            return self._deliver(mailer, message, lambda: mailer.deliver_mime(message))
        record = self.record_of(message)
        return self._deliver(mailer, record, lambda: mailer.deliver(record))

    def _deliver(
        self,
        mailer: BaseMailer,
        message: Message | email.message.EmailMessage,
        deliver: Any,
    ) -> SendResult:
        message_id = (
            message.message_id if isinstance(message, Message) else str(message["Message-ID"])
        )
        try:
            result: SendResult = deliver()
        except DeliveryError as e:
            log.warning("send %s via %s failed: %s", message_id, mailer.alias, type(e).__name__)
            if not mailer.fail_silently:
                raise
            return _failed_result(message, mailer, e)
        log.info(
            "sent %s via %s: %d accepted, %d refused",
            message_id,
            mailer.alias,
            len(result.accepted),
            len(result.recipients) - len(result.accepted),
        )
        log.debug("sent %s to %s", message_id, ", ".join(result.accepted))
        return result

    def close(self) -> None:
        """Close every mailer built so far (pooled SMTP connections ...) and the queue."""
        for mailer in self.mailers.built():
            mailer.close()
        if self._queue is not None:
            self._queue.close()


def _failed_result(
    message: Message | email.message.EmailMessage, mailer: BaseMailer, error: DeliveryError
) -> SendResult:
    if error.recipients:
        statuses = error.recipients
    elif isinstance(message, Message):
        recipients = envelope_of(message, mailer.policy).recipients
        statuses = tuple(RecipientStatus(a, "failed", error.code, str(error)) for a in recipients)
    else:
        statuses = ()
    message_id = message.message_id if isinstance(message, Message) else str(message["Message-ID"])
    return SendResult(message_id=message_id, mailer=mailer.alias, recipients=statuses)


_QUEUE_OPTIONS = {
    "namespace": str,
    "max_payload": int,
    "heartbeat_timeout": int,
    "maintenance_chance": int,
    "on_give_up": object,
}


def _queue_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """QUEUE_* settings -> Queue keyword arguments; ConfigError naming an unknown key."""
    result: dict[str, Any] = {}
    retry = {}
    for key, value in options.items():
        if key in ("max_retries", "min_backoff", "max_backoff"):
            retry[key] = value
        elif key == "on_give_up" and isinstance(value, str):
            result[key] = _import_callable(f"QUEUE_{key.upper()}", value)
        elif key in _QUEUE_OPTIONS:
            result[key] = value
        else:
            known = ", ".join(
                f"QUEUE_{k.upper()}"
                for k in (*_QUEUE_OPTIONS, "max_retries", "min_backoff", "max_backoff")
            )
            raise ConfigError(
                f"unknown setting QUEUE_{key.upper()}; the queue settings are: {known}"
            )
    if retry:
        result["retry"] = RetryPolicy(**retry)
    return result


def _import_callable(where: str, path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"{where}: cannot import {path!r} ({e})") from None


def _settings_dict(settings: ModuleType | Mapping[str, Any] | None) -> dict[str, Any]:
    if settings is None:
        return {}
    if isinstance(settings, Mapping):
        return dict(settings)
    return {name: getattr(settings, name) for name in dir(settings) if name.isupper()}


def _spec_of(name: str, entry: Mapping[str, Any] | BaseMailer) -> _MailerSpec | BaseMailer:
    """Check one MAILERS entry: a type that imports, options its constructor takes."""
    if isinstance(entry, BaseMailer):
        return entry
    where = f"MAILERS[{name!r}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a dict with a 'type' key, not {type(entry).__name__}")
    if "type" not in entry:
        raise ConfigError(f"{where} has no 'type' (e.g. 'proper_mail.SMTPMailer')")
    cls = _import_type(where, entry["type"])
    options = {key: value for key, value in entry.items() if key != "type"}
    signature = inspect.signature(cls)
    params = signature.parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not takes_any:
        for key in options:
            if key not in params:
                accepted = ", ".join(p for p in params if not p.startswith("_"))
                raise ConfigError(
                    f"{where}: {cls.__name__} takes no option {key!r}; it takes: {accepted}"
                )
    try:
        signature.bind(**options)
    except TypeError as e:
        raise ConfigError(f"{where}: {e}") from None
    return _MailerSpec(name=name, cls=cls, options=options)


def _import_type(where: str, type_: object) -> type[BaseMailer]:
    if isinstance(type_, str):
        path = type_
        for old, new in _TYPE_ALIASES.items():
            if path.startswith(old):
                path = new + path[len(old) :]
        module_name, _, attr = path.rpartition(".")
        if not module_name:
            raise ConfigError(f"{where}['type'] must be a dotted path, not {type_!r}")
        try:
            found = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"{where}['type']: cannot import {type_!r} ({e})") from None
    else:
        found = type_
    if not (isinstance(found, type) and issubclass(found, BaseMailer)):
        raise ConfigError(f"{where}['type']: {type_!r} is not a BaseMailer subclass")
    return found


_current: Mail | None = None
_current_lock = threading.Lock()


def configure(settings: ModuleType | Mapping[str, Any] | None = None, /, **overrides: Any) -> Mail:
    """Build a Mail from *settings* (a config module or mapping) and make it current.

    Reads MAILERS, MAILER, MAILER_DEFAULT_OPTIONS, MESSAGE_ID_DOMAIN, QUEUE and QUEUE_*
    (send_later: "immediate", "stub", a redis:// URL or a dramatiq Broker), VIEWS (the
    templates folder), PROTOCOL and HOST (the ``url()`` template helper), TEMPLATE_GLOBALS,
    CSS_INLINING (default on) and TEMPLATES_AUTO_RELOAD (default: on unless APP_ENV is
    "prod"); keyword overrides use the same upper-case names. Every problem is a
    ConfigError naming the key. Returns the Mail (``mail.mailer``, ``mail.mailers[...]``).
    """
    global _current
    mail = Mail.from_settings(settings, **overrides)
    with _current_lock:
        previous, _current = _current, mail
    if previous is not None:
        previous.close()
    return mail


def configured_mail() -> Mail | None:
    """The current Mail, or None when nothing is configured."""
    return _current


def current_mail() -> Mail:
    """The Mail made current by configure() (or using()); ConfigError if there is none."""
    mail = _current
    if mail is None:
        raise ConfigError(
            "proper_mail is not configured: call proper_mail.configure(settings) first"
        )
    return mail


@contextmanager
def using(mail: Mail) -> Iterator[Mail]:
    """Make *mail* the current Mail inside the block (tests, multi-app processes)."""
    global _current
    with _current_lock:
        previous, _current = _current, mail
    try:
        yield mail
    finally:
        with _current_lock:
            _current = previous


def compose(*, stamp: Stamp | None = None, **fields: Any) -> Message:
    """Compose a Message now: with the current Mail's defaults if one is configured.

    Takes compose()'s keyword fields (from_email, to, cc, bcc, reply_to, subject, body,
    content_subtype, charset, headers, alternatives, attachments, tags, metadata ...).
    """
    if _current is not None:
        return _current.compose(stamp=stamp, **fields)
    defaults = fields.pop("defaults", core_compose.NO_DEFAULTS)
    return core_compose.compose(stamp=stamp or new_stamp(), defaults=defaults, **fields)


def send(message: Sendable, *, via: str | None = None, mail: Mail | None = None) -> SendResult:
    """Send *message* now through the current Mail (or *mail*); see ``Mail.send``."""
    return (mail or current_mail()).send(message, via=via)


def send_later(message: Sendable, *, via: str | None = None, mail: Mail | None = None) -> None:
    """Queue *message* for a worker through the current Mail (or *mail*)."""
    (mail or current_mail()).send_later(message, via=via)
