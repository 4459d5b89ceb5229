"""The composition root: configuration, the mailers, and the impure edges of composing.

``configure()`` builds a ``Mail`` from a config module or mapping (MAILERS, MAILER,
MAILER_DEFAULT_OPTIONS ...) and makes it the current one, used by ``send()`` and
``EmailMessage.send()``. The clock and randomness enter here (``new_stamp``), never
in ``core/``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import importlib
import inspect
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from email.policy import SMTPUTF8
from pathlib import Path
from types import ModuleType
from typing import Any

import attrs

from .adapters.base import BaseMailer, Composable, RateLimiter, Sendable, new_stamp
from .adapters.failover import FailoverMailer
from .adapters.jx import JxRenderer, url_helper
from .core import compose as core_compose
from .core.addresses import normalize_domain
from .core.compose import defaults_from_options
from .core.hooks import (
    AfterSend,
    BeforeSend,
    Interceptor,
    OnFailure,
    SendHooks,
    Skip,
    merge_skipped,
    original_error,
    run_after_send,
    run_before_send,
    run_on_failure,
)
from .core.mime import envelope_of
from .core.records import Attachment, Defaults, Message, RecipientStatus, SendResult, Stamp
from .core.templates import Bodies, choose_bodies, inline_css, template_paths
from .errors import ConfigError, DeliveryError, HookError, MessageError, ProperMailError
from .tasks.delivery import RetryPolicy
from .tasks.queue import Queue
from .tasks.ratelimit import Rate, parse_rate, rate_limiter_for
from .tasks.serialization import CODEC
from .webhooks.suppression import MemorySuppressionStore, RedisSuppressionStore, SuppressionStore

__all__ = [
    "Mail",
    "MailerRegistry",
    "Sendable",
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


@attrs.frozen
class _MailerSpec:
    name: str
    cls: type[BaseMailer]
    options: Mapping[str, Any] = attrs.field(repr=lambda o: f"<{len(o)} option(s)>")
    rate: Rate | None = None


class MailerRegistry(Mapping[str, BaseMailer]):
    """The configured mailers by name, each built once, on first use, thread-safely.

    A mailer is bound when it is built: its name, the codec, its rate limiter (from
    *limiter_for*, when its entry has a ``rate_limit``) and this registry (the other
    mailers, for failover). ``build_all()`` builds every one now, so that a wrong option
    value is a ConfigError at start-up (``proper-mail worker`` calls it).
    """

    def __init__(
        self,
        specs: Mapping[str, _MailerSpec | BaseMailer],
        *,
        limiter_for: Callable[[str, Rate], RateLimiter] | None = None,
        guard: Callable[[Message], Message | None] | None = None,
    ) -> None:
        self._specs = dict(specs)
        self._guard = guard
        self._built: dict[str, BaseMailer] = {}
        self._lock = threading.Lock()
        self._limiter_for = limiter_for

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
                spec = self._specs[name]
                mailer = self._build(spec)
                limiter = None
                if isinstance(spec, _MailerSpec) and spec.rate is not None:
                    if self._limiter_for is None:
                        raise ConfigError(f"MAILERS[{name!r}] has a rate_limit, but no limiter")
                    limiter = self._limiter_for(name, spec.rate)
                mailer.bind(name, CODEC, limiter=limiter, mailers=self, guard=self._guard)
                self._built[name] = mailer
            return self._built[name]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

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

    def build_all(self) -> list[BaseMailer]:
        """Build every mailer now (ConfigError naming the first bad entry); return them."""
        return [self[name] for name in self._specs]


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
        before_send: Sequence[BeforeSend | str] = (),
        after_send: Sequence[AfterSend | str] = (),
        on_failure: Sequence[OnFailure | str] = (),
        intercept_to: str | Sequence[str] | None = None,
        intercept_allow: str | Sequence[str] = (),
        intercept_force: bool = False,
        app_env: str | None = None,
        suppressions: SuppressionStore | str | None = None,
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
        _check_uses(specs)
        self.app_env = app_env if app_env is not None else os.getenv("APP_ENV", "dev")
        self.interceptor = _interceptor_of(
            intercept_to, intercept_allow, intercept_force, self.app_env
        )
        self.mailers = MailerRegistry(specs, limiter_for=self._limiter_for, guard=self.interceptor)
        for name, entry in specs.items():
            if isinstance(entry, BaseMailer):
                entry.bind(name, CODEC, mailers=self.mailers, guard=self.interceptor)
        self.default_mailer = mailer
        self.defaults: Defaults = defaults_from_options(default_options)
        if message_id_domain is not None:
            normalize_domain(message_id_domain, field="MESSAGE_ID_DOMAIN")
        self.message_id_domain = message_id_domain
        if views is not None and not Path(views).is_dir():
            raise ConfigError(
                f"VIEWS is {str(views)!r}, which is not a folder (looked for "
                f"{Path(views).resolve()}); give an absolute path, e.g. "
                "VIEWS = Path(__file__).parent.parent / 'views'"
            )
        self.views = Path(views).resolve() if views is not None else None
        self.url = url_helper(protocol, host) if host else None
        self.css_inlining = css_inlining
        self.auto_reload = auto_reload
        self._template_globals = dict(template_globals or {})
        self._renderer: JxRenderer | None = None
        self._renderer_lock = threading.Lock()
        self._clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
        # Built now, at configure time: with a broker, this declares the send actor, so
        # every worker that loads the app serves it.
        queue_kwargs = _queue_options(queue_options or {})
        self._before_send: list[BeforeSend] = _callables("MAILER_BEFORE_SEND", before_send)
        self._after_send: list[AfterSend] = _callables("MAILER_AFTER_SEND", after_send)
        self._on_failure: list[OnFailure] = _callables("MAILER_ON_FAILURE", on_failure)
        self._hooks: SendHooks | None = None
        self.suppressions = _suppressions_of(
            suppressions, str(queue_kwargs.get("namespace", "proper_mail"))
        )
        self.queue = Queue(queue, mailer_for=self.mailer_for, hooks=self.hooks, **queue_kwargs)

    # -- send hooks -----------------------------------------------------------------------

    def hooks(self) -> SendHooks:
        """The hooks every send runs, in order: the app's before_send hooks, the
        suppression check (MAILER_SUPPRESSIONS), the interceptor (MAILER_INTERCEPT_TO);
        then after_send or on_failure."""
        hooks = self._hooks
        if hooks is None:
            hooks = self._hooks = self._collect_hooks()
        return hooks

    def _collect_hooks(self) -> SendHooks:
        before: list[BeforeSend] = list(self._before_send)
        if self.suppressions is not None:
            before.append(_SkipSuppressed(self.suppressions))
        if self.interceptor is not None:
            before.append(self.interceptor)
        return SendHooks(tuple(before), tuple(self._after_send), tuple(self._on_failure))

    def before_send(self, hook: BeforeSend) -> BeforeSend:
        """Register *hook* to run before every send (a decorator). It returns None, a
        changed Message, or a ``Skip``. Workers run it too when they import the module
        that registers it; hooks in MAILER_BEFORE_SEND always run."""
        self._before_send.append(hook)
        self._hooks = None
        return hook

    def after_send(self, hook: AfterSend) -> AfterSend:
        """Register *hook* to run after every send with ``(message, result)``."""
        self._after_send.append(hook)
        self._hooks = None
        return hook

    def on_failure(self, hook: OnFailure) -> OnFailure:
        """Register *hook* to run with ``(message, error)`` for every failed send."""
        self._on_failure.append(hook)
        self._hooks = None
        return hook

    def _limiter_for(self, alias: str, rate: Rate) -> RateLimiter:
        """Mailer *alias*'s rate limiter: in the queue's Redis, shared by every worker
        (QUEUE or QUEUE_LEDGER is Redis), else in this process."""
        return rate_limiter_for(self.queue.ledger, alias, rate)

    def send_later(
        self,
        message: Sendable,
        *,
        via: str | None = None,
        delay: float | dt.timedelta | None = None,
        at: dt.datetime | None = None,
    ) -> None:
        """Render and queue *message* for a worker; ConfigError now for an unknown via.

        Templates are rendered here, before queueing: a worker never needs the views.
        *delay* (seconds or a timedelta) or *at* (a timezone-aware datetime in the future)
        schedule it; the message's ``expires`` (``max_age``) still applies when it runs.
        In immediate mode it is sent at once, whatever the schedule.
        """
        self.mailer_for(via)
        seconds = self._delay_of(delay, at)
        self.queue.send_later(self.record_of(message), via=via, delay=seconds)

    def _delay_of(self, delay: float | dt.timedelta | None, at: dt.datetime | None) -> float | None:
        """Seconds from now for *delay* or *at*; MessageError for a bad schedule."""
        if delay is not None and at is not None:
            raise MessageError("at", at, "give delay= or at=, not both")
        if at is not None:
            if not isinstance(at, dt.datetime) or at.utcoffset() is None:
                raise MessageError("at", at, "must be a timezone-aware datetime")
            seconds = (at - self._clock()).total_seconds()
            if seconds < 0:
                raise MessageError("at", at, "is in the past")
            return seconds
        if delay is None:
            return None
        seconds = delay.total_seconds() if isinstance(delay, dt.timedelta) else delay
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            raise MessageError("delay", delay, "must be seconds (>= 0) or a timedelta")
        return float(seconds)

    def record_of(self, message: Sendable) -> Message:
        """The Message record of *message*: itself, composed with this Mail's defaults and
        templates (an EmailMessage), loaded (an EmailMessageDict) or parsed (a stdlib
        message, its headers checked)."""
        if isinstance(message, Message):
            return message
        if isinstance(message, Composable):
            return message.to_message(self)
        return self.mailer.record_of(message)

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
        _check_mailer_settings(values)
        return cls(
            mailers=values["MAILERS"],
            mailer=values.get("MAILER"),
            default_options=values.get("MAILER_DEFAULT_OPTIONS"),
            message_id_domain=values.get("MESSAGE_ID_DOMAIN"),
            views=_views_of(settings, values.get("VIEWS")),
            protocol=values.get("PROTOCOL", "https"),
            host=values.get("HOST"),
            template_globals=values.get("TEMPLATE_GLOBALS"),
            css_inlining=values.get("CSS_INLINING", True),
            auto_reload=values.get(
                "TEMPLATES_AUTO_RELOAD",
                not is_production(values.get("APP_ENV", os.getenv("APP_ENV", "dev"))),
            ),
            before_send=values.get("MAILER_BEFORE_SEND", ()),
            after_send=values.get("MAILER_AFTER_SEND", ()),
            on_failure=values.get("MAILER_ON_FAILURE", ()),
            intercept_to=values.get("MAILER_INTERCEPT_TO"),
            intercept_allow=values.get("MAILER_INTERCEPT_ALLOW", ()),
            intercept_force=values.get("MAILER_INTERCEPT_FORCE", False),
            app_env=values.get("APP_ENV"),
            suppressions=values.get("MAILER_SUPPRESSIONS"),
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

        Returns the per-recipient result. Raises DeliveryError when the mailer failed or
        nobody accepted the message (unless the mailer has fail_silently: then the result
        says so), ConfigError for an unknown via.
        """
        mailer = self.mailer_for(via)
        record = self.record_of(message)
        hooks = self.hooks()
        try:
            before = run_before_send(hooks.before_send, record, mailer.policy)
        except ProperMailError as e:  # a HookError naming the hook, or one of ours
            self._report_failure(hooks, record, original_error(e))
            raise
        if before.message is None:
            log.info("send %s via %s: nobody left to send to", record.message_id, mailer.alias)
            result = SendResult(record.message_id, mailer.alias, before.statuses)
            self._after(hooks, record, result)
            return result
        try:
            result = merge_skipped(mailer.deliver(before.message), before.statuses)
        except DeliveryError as e:
            log.warning(
                "send %s via %s failed: %s", record.message_id, mailer.alias, type(e).__name__
            )
            self._report_failure(hooks, before.message, e)
            if not mailer.fail_silently:
                raise
            return merge_skipped(_failed_result(before.message, mailer, e), before.statuses)
        self._after(hooks, before.message, result)
        skipped = len(result.suppressed) + len(result.cancelled)
        log.info(
            "sent %s via %s: %d accepted, %d refused, %d skipped by hooks",
            record.message_id,
            mailer.alias,
            len(result.accepted),
            len(result.recipients) - len(result.accepted) - skipped,
            skipped,
        )
        if log.isEnabledFor(logging.DEBUG):
            log.debug("sent %s to %s", record.message_id, ", ".join(result.accepted))
        return result

    def _after(self, hooks: SendHooks, record: Message, result: SendResult) -> None:
        """Run the after_send hooks; the first one that raised becomes a HookError
        carrying the result (the message WAS sent: never send it again)."""
        errors = run_after_send(hooks.after_send, record, result)
        for name, error in errors:
            log.error(
                "after_send hook %s failed for %s (the message was sent)",
                name,
                record.message_id,
                exc_info=error,
            )
        if errors:
            name, error = errors[0]
            hook_error = HookError(
                name,
                f"after_send raised {type(error).__name__}: {error} "
                "(after the message was sent: do not send it again)",
            )
            hook_error.results = (result,)
            raise hook_error from error

    def _report_failure(self, hooks: SendHooks, record: Message, error: Exception) -> None:
        for name, hook_error in run_on_failure(hooks.on_failure, record, error):
            log.error(
                "on_failure hook %s failed for %s", name, record.message_id, exc_info=hook_error
            )

    def close(self) -> None:
        """Close every mailer built so far (pooled SMTP connections ...) and the queue."""
        for mailer in self.mailers.built():
            mailer.close()
        self.queue.close()


def _failed_result(message: Message, mailer: BaseMailer, error: DeliveryError) -> SendResult:
    if error.recipients:
        statuses = error.recipients
    else:
        recipients = mailer.envelope(message).recipients
        statuses = tuple(RecipientStatus(a, "failed", error.code, str(error)) for a in recipients)
    return SendResult(message_id=message.message_id, mailer=mailer.alias, recipients=statuses)


_QUEUE_OPTIONS = {
    "namespace": str,
    "max_payload": int,
    "heartbeat_timeout": int,
    "maintenance_chance": int,
    "on_give_up": object,
    "ledger": object,
    "claim_ttl": float,
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


#: The settings named MAILER*: a misspelt one is a ConfigError, not silently ignored (a
#: typo in MAILER_INTERCEPT_TO would otherwise mail customers from staging).
MAILER_SETTINGS = (
    "MAILERS",
    "MAILER",
    "MAILER_DEFAULT_OPTIONS",
    "MAILER_BEFORE_SEND",
    "MAILER_AFTER_SEND",
    "MAILER_ON_FAILURE",
    "MAILER_INTERCEPT_TO",
    "MAILER_INTERCEPT_ALLOW",
    "MAILER_INTERCEPT_FORCE",
    "MAILER_SUPPRESSIONS",
)


def _check_mailer_settings(values: Mapping[str, Any]) -> None:
    for key in values:
        if key.startswith("MAILER") and key not in MAILER_SETTINGS:
            close = difflib.get_close_matches(key, MAILER_SETTINGS, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ConfigError(
                f"unknown setting {key}{hint} (the MAILER settings are: "
                + ", ".join(MAILER_SETTINGS)
                + ")"
            )


def is_production(app_env: object) -> bool:
    """Whether APP_ENV names production: ``prod`` or ``production``, any case."""
    return isinstance(app_env, str) and app_env.strip().lower() in ("prod", "production")


def _callables(where: str, hooks: Any) -> list[Any]:
    """The hooks of a MAILER_* hook setting: one callable or dotted path, a list of
    them, or None."""
    if hooks is None:
        return []
    if isinstance(hooks, str) or callable(hooks):
        hooks = (hooks,)
    if not isinstance(hooks, Sequence):
        raise ConfigError(
            f"{where} must be a callable, its dotted path, or a list of them, "
            f"not {type(hooks).__name__}"
        )
    result = []
    for i, hook in enumerate(hooks):
        if isinstance(hook, str):
            hook = _import_callable(f"{where}[{i}]", hook)
        if not callable(hook):
            raise ConfigError(f"{where}[{i}] is not callable: {hook!r}")
        result.append(hook)
    return result


def _interceptor_of(to: Any, allow: Any, force: Any, app_env: str) -> Interceptor | None:
    """MAILER_INTERCEPT_TO / _ALLOW / _FORCE as an Interceptor (None when unset);
    refused with APP_ENV=prod unless forced."""
    if to is None or (isinstance(to, str | list | tuple) and not to):
        return None  # "" from os.getenv("...", ""), or an empty list: no interception
    if not isinstance(force, bool):
        raise ConfigError(f"MAILER_INTERCEPT_FORCE must be True or False, not {force!r}")
    if is_production(app_env) and not force:
        raise ConfigError(
            f"MAILER_INTERCEPT_TO is set while APP_ENV is {app_env!r}: production mail would go "
            "to the interceptor instead of your users. Unset it, or set "
            "MAILER_INTERCEPT_FORCE = True if this really is what you want."
        )
    try:
        return Interceptor.of(to, allow)
    except MessageError as e:  # its text names MAILER_INTERCEPT_TO already
        raise ConfigError(str(e)) from None


class _SkipSuppressed:
    """The suppression check as a before_send hook: suppressed envelope recipients are
    skipped and reported ``suppressed`` (one store round trip per message)."""

    def __init__(self, store: SuppressionStore) -> None:
        self.store = store
        self.__qualname__ = "suppressions"

    def __call__(self, message: Message) -> list[Skip] | None:
        recipients = envelope_of(message, SMTPUTF8).recipients
        found = self.store.suppressed(recipients)
        if not found:
            return None
        return [
            Skip(f"on the suppression list: {reason}", (address,), "suppressed")
            for address, reason in found.items()
        ]


def _suppressions_of(value: Any, namespace: str) -> SuppressionStore | None:
    """MAILER_SUPPRESSIONS: None, "memory", a redis:// URL, or a store."""
    if value is None:
        return None
    if value == "memory":
        return MemorySuppressionStore()
    if isinstance(value, str):
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"MAILER_SUPPRESSIONS must be 'memory', a redis:// URL or a store, not {value!r}"
            )
        import redis

        client = redis.Redis.from_url(value, socket_timeout=10, socket_connect_timeout=5)
        return RedisSuppressionStore(client, namespace=f"{namespace}:suppressions")
    if all(hasattr(value, name) for name in ("suppressed", "add", "remove", "list")):
        return value  # type: ignore[no-any-return]
    raise ConfigError(f"MAILER_SUPPRESSIONS is not a suppression store: {value!r}")


def _import_callable(where: str, path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError, ValueError) as e:
        raise ConfigError(f"{where}: cannot import {path!r} ({e})") from None


def _views_of(settings: ModuleType | Mapping[str, Any] | None, views: Any) -> Any:
    """VIEWS, a relative one resolved against the settings module's folder or one of the
    packages above it (``config/main.py`` with ``VIEWS = "views"`` finds the app's
    ``views/``); as given when none of them has it (the error then names the path)."""
    if views is None or Path(views).is_absolute() or not isinstance(settings, ModuleType):
        return views
    source = getattr(settings, "__file__", None)
    if source is None:
        return views
    folder = Path(source).resolve().parent
    tried = []
    while True:
        candidate = folder / views
        tried.append(candidate)
        if candidate.is_dir():
            return candidate
        if not (folder / "__init__.py").is_file() or folder.parent == folder:
            break
        folder = folder.parent
    raise ConfigError(
        f"VIEWS is {str(views)!r}, which is not a folder; looked for "
        f"{', '.join(str(p) for p in tried)}. Give an absolute path, e.g. "
        "VIEWS = Path(__file__).parent.parent / 'views'"
    )


def _settings_dict(settings: ModuleType | Mapping[str, Any] | None) -> dict[str, Any]:
    if settings is None:
        return {}
    if isinstance(settings, Mapping):
        return dict(settings)
    return {name: getattr(settings, name) for name in dir(settings) if name.isupper()}


def _spec_of(name: str, entry: Mapping[str, Any] | BaseMailer) -> _MailerSpec | BaseMailer:
    """Check one MAILERS entry: a type that imports, options its constructor takes, and
    ``rate_limit`` / ``rate_burst`` (any mailer's, not constructor options)."""
    if isinstance(entry, BaseMailer):
        return entry
    where = f"MAILERS[{name!r}]"
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a dict with a 'type' key, not {type(entry).__name__}")
    if "type" not in entry:
        raise ConfigError(f"{where} has no 'type' (e.g. 'proper_mail.SMTPMailer')")
    cls = _import_type(where, entry["type"])
    options = {key: value for key, value in entry.items() if key not in _NOT_OPTIONS}
    rate = None
    if "rate_limit" in entry:
        rate = parse_rate(where, entry["rate_limit"], entry.get("rate_burst", 1))
    elif "rate_burst" in entry:
        raise ConfigError(f"{where} has a rate_burst but no rate_limit (like '14/s')")
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
    return _MailerSpec(name=name, cls=cls, options=options, rate=rate)


#: MAILERS keys that are not constructor options.
_NOT_OPTIONS = frozenset({"type", "rate_limit", "rate_burst"})


def _check_uses(specs: Mapping[str, _MailerSpec | BaseMailer]) -> None:
    """ConfigError when a mailer made of mailers (failover) names an unknown mailer,
    itself, or forms a cycle with others; its ``depends_on`` checks the option's shape."""
    uses: dict[str, tuple[str, ...]] = {}
    for name, spec in specs.items():
        where = f"MAILERS[{name!r}]"
        if isinstance(spec, _MailerSpec):
            try:
                uses[name] = tuple(spec.cls.depends_on(spec.options))
            except ConfigError as e:
                raise ConfigError(f"{where}: {e}") from None
        elif isinstance(spec, FailoverMailer):
            uses[name] = spec.mailer_names
        else:
            uses[name] = ()
        for used in uses[name]:
            if used == name:
                raise ConfigError(f"{where} uses itself ({used!r}): name other MAILERS")
            if used not in specs:
                raise ConfigError(
                    f"{where} uses {used!r}, which is not in MAILERS ({', '.join(specs)})"
                )
    cycle = cycle_of(uses)
    if cycle:
        raise ConfigError(
            f"MAILERS[{cycle[0]!r}]: its mailers lead back to it: {' -> '.join(cycle)}"
        )


def cycle_of(uses: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """A cycle in the graph *uses* (name -> the names it uses) as ``(a, b, a)``, or ()."""
    done: set[str] = set()

    def visit(node: str, path: tuple[str, ...]) -> tuple[str, ...]:
        if node in path:
            return (*path[path.index(node) :], node)
        if node in done:
            return ()
        for used in uses.get(node, ()):
            found = visit(used, (*path, node))
            if found:
                return found
        done.add(node)
        return ()

    for start in uses:
        found = visit(start, ())
        if found:
            return found
    return ()


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
#: Called with every Mail configure() builds (the testing kit swaps its mailers).
configure_hooks: list[Callable[[Mail], None]] = []


def configure(settings: ModuleType | Mapping[str, Any] | None = None, /, **overrides: Any) -> Mail:
    """Build a Mail from *settings* (a config module or mapping) and make it current.

    Reads MAILERS, MAILER, MAILER_DEFAULT_OPTIONS, MESSAGE_ID_DOMAIN, QUEUE and QUEUE_*
    (send_later: "immediate", "stub", a redis:// or amqp:// URL or a dramatiq Broker;
    with a broker, the library's send actor is declared now), VIEWS (the templates
    folder; relative to the settings module's folder or a package above it), PROTOCOL
    and HOST (the ``url()`` template helper), TEMPLATE_GLOBALS,
    CSS_INLINING (default on) and TEMPLATES_AUTO_RELOAD (default: on unless APP_ENV is
    "prod"); keyword overrides use the same upper-case names. Every problem is a
    ConfigError naming the key. Returns the Mail (``mail.mailer``, ``mail.mailers[...]``).
    """
    global _current
    mail = Mail.from_settings(settings, **overrides)
    for hook in list(configure_hooks):
        hook(mail)
    with _current_lock:
        previous, _current = _current, mail
    if previous is not None:
        previous.close()
    return mail


def restore_current(mail: Mail | None) -> None:
    """Make *mail* the current Mail again (the testing kit, after a test configured one)."""
    global _current
    with _current_lock:
        _current = mail


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


def send_later(
    message: Sendable,
    *,
    via: str | None = None,
    delay: float | dt.timedelta | None = None,
    at: dt.datetime | None = None,
    mail: Mail | None = None,
) -> None:
    """Queue *message* for a worker through the current Mail (or *mail*); see
    ``Mail.send_later`` (*delay* / *at* schedule it)."""
    (mail or current_mail()).send_later(message, via=via, delay=delay, at=at)
