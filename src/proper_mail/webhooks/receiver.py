"""Receiving a webhook request, framework-agnostic: ``verify_and_parse`` (verify the
raw body, then parse it) and ``receive`` (that, plus the dedupe, the suppression list
and your handler, with the HTTP answer to give). The WSGI and ASGI apps in ``apps``
are thin routing over ``receive``; so can a Django or Flask view be::

    def postmark_webhook(request):
        reply = receive("postmark", request.headers, request.body, config=CONFIG,
                        on_event=handle)
        return HttpResponse(reply.body, status=reply.status, headers=dict(reply.headers))

Answers: 200 with ``{"events": n, "duplicates": d}`` (duplicates are not processed
again); 400 malformed payload; 401 (Postmark, with a Basic challenge) or 403 when not
verified; 503 when verification needs an SNS certificate that cannot be fetched now or
a store is down; 500 only when your ``on_event`` raised: the events it did not finish
are unmarked, so the provider's retry processes them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable
from typing import Any

import attrs

from ..errors import (
    ConfigError,
    StoreUnavailable,
    WebhookError,
    WebhookPayloadError,
    WebhookUnavailable,
    WebhookVerificationError,
)
from . import mailgun, postmark, resend, sendgrid, ses
from .dedupe import DedupeStore, MemoryDedupeStore
from .events import DeliveryEvent
from .signing import Headers
from .suppression import DEFAULT_POLICY, SuppressionPolicy, SuppressionStore, record_event

__all__ = [
    "PROVIDERS",
    "Reply",
    "WebhookConfig",
    "receive",
    "verify_and_parse",
]

log = logging.getLogger("proper_mail.webhooks")

PROVIDERS = ("postmark", "resend", "sendgrid", "mailgun", "ses")

#: The default cap on a request body: 1 MiB (SendGrid batches stop at 768 KB).
MAX_BODY = 1024 * 1024

OnEvent = Callable[[DeliveryEvent], object]


@attrs.frozen
class WebhookConfig:
    """Which providers are received, with their secrets, and how events are kept.

    Attributes:
        postmark, resend, sendgrid, mailgun, ses: each provider's config record
            (``postmark.PostmarkConfig`` ...); None: that provider's path answers 404.
        dedupe: where seen event ids are kept (``RedisDedupeStore`` when several
            processes receive); in memory by default.
        dedupe_ttl: how long an event id is remembered; at least twice the widest
            timestamp window, so every replay the window lets through is caught.
        max_body: the largest body read, in bytes; larger requests get 413.
        suppressions: when set, every new event is applied to this store
            (``record_event``) before ``on_event`` sees it.
        policy: the soft-bounce policy for ``suppressions``.
    """

    postmark: postmark.PostmarkConfig | None = None
    resend: resend.ResendConfig | None = None
    sendgrid: sendgrid.SendGridConfig | None = None
    mailgun: mailgun.MailgunConfig | None = None
    ses: ses.SesConfig | None = None
    dedupe: DedupeStore = attrs.field(factory=MemoryDedupeStore)
    dedupe_ttl: dt.timedelta = dt.timedelta(days=1)
    max_body: int = MAX_BODY
    suppressions: SuppressionStore | None = None
    policy: SuppressionPolicy = DEFAULT_POLICY

    def __attrs_post_init__(self) -> None:
        if not self.providers:
            raise ConfigError("WebhookConfig needs at least one provider's config")
        if not isinstance(self.max_body, int) or self.max_body <= 0:
            raise ConfigError(f"max_body must be a positive number of bytes, not {self.max_body!r}")
        for name in self.providers:
            tolerance = getattr(self.provider_config(name), "tolerance", None)
            if tolerance is not None and self.dedupe_ttl < 2 * tolerance:
                raise ConfigError(
                    f"dedupe_ttl ({self.dedupe_ttl}) must be at least twice {name}'s "
                    f"tolerance ({tolerance}): a replay inside the window must still be "
                    "recognized"
                )

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers with a config, in PROVIDERS order."""
        return tuple(name for name in PROVIDERS if getattr(self, name) is not None)

    def provider_config(self, provider: str) -> Any:
        """The config record of *provider*, or None."""
        return getattr(self, provider, None) if provider in PROVIDERS else None


_VERIFY: dict[str, Callable[[Headers, bytes, Any, dt.datetime], None]] = {
    "postmark": postmark.verify,
    "resend": resend.verify,
    "sendgrid": sendgrid.verify,
    "mailgun": mailgun.verify,
    "ses": ses.verify,
}
_PARSE: dict[str, Callable[[bytes], tuple[DeliveryEvent, ...]]] = {
    "postmark": postmark.parse,
    "sendgrid": sendgrid.parse,
    "mailgun": mailgun.parse,
    "ses": ses.parse,
}

# What a parser bug would raise; turned into a 400 (and logged) rather than a 500.
_PARSER_BUGS = (
    KeyError,
    TypeError,
    ValueError,
    AttributeError,
    IndexError,
    OverflowError,
    RecursionError,
)


def verify_and_parse(
    provider: str,
    headers: Headers,
    body: bytes,
    *,
    config: WebhookConfig,
    now: dt.datetime | None = None,
) -> tuple[DeliveryEvent, ...]:
    """Verify *body* (the raw bytes, before anything parses them) as *provider*'s
    webhook, then parse its events. Raises only WebhookVerificationError (incl.
    WebhookUnavailable) and WebhookPayloadError. An SNS SubscriptionConfirmation is
    confirmed here (through ``SesConfig.confirm``) and gives no events."""
    now = dt.datetime.now(dt.UTC) if now is None else now
    provider_config = config.provider_config(provider)
    if provider_config is None:
        raise WebhookVerificationError(provider, "this provider is not configured")
    try:
        _VERIFY[provider](headers, body, provider_config, now)
    except WebhookError:
        raise
    except _PARSER_BUGS as e:
        log.warning("%s webhook: verification failed unexpectedly", provider, exc_info=True)
        raise WebhookVerificationError(provider, f"unverifiable ({type(e).__name__})") from e
    try:
        if provider == "ses":
            ses.confirm_subscription(body, provider_config)
        if provider == "resend":
            return resend.parse(body, svix_id=resend.event_id_header(headers))
        return _PARSE[provider](body)
    except WebhookError:
        raise
    except _PARSER_BUGS as e:
        log.warning("%s webhook: unreadable payload", provider, exc_info=True)
        raise WebhookPayloadError(provider, f"unreadable payload ({type(e).__name__})") from e


@attrs.frozen
class Reply:
    """The HTTP answer to a webhook request, and what was done.

    Attributes:
        status: the HTTP status.
        body: the response body (JSON).
        headers: response headers (Content-Type, WWW-Authenticate, Retry-After).
        events: the new events processed (duplicates excluded).
        duplicates: how many events had been processed before.
    """

    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    events: tuple[DeliveryEvent, ...] = ()
    duplicates: int = 0


def reply(status: int, payload: object, *extra: tuple[str, str], **fields: Any) -> Reply:
    """A Reply with *payload* as its JSON body."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = (("Content-Type", "application/json"), *extra)
    return Reply(status, body, headers, **fields)


def refusal(error: WebhookError) -> Reply:
    """The answer for a refused request: 503, 401/403 or 400."""
    if isinstance(error, WebhookUnavailable):
        return reply(503, {"error": str(error)}, ("Retry-After", "60"))
    if isinstance(error, WebhookVerificationError):
        if error.provider == "postmark":
            return reply(
                401,
                {"error": str(error)},
                ("WWW-Authenticate", 'Basic realm="proper_mail webhooks"'),
            )
        return reply(403, {"error": str(error)})
    return reply(400, {"error": str(error)})


def receive(
    provider: str,
    headers: Headers,
    body: bytes,
    *,
    config: WebhookConfig,
    on_event: OnEvent | None = None,
    now: dt.datetime | None = None,
) -> Reply:
    """Handle one webhook request: verify and parse, skip events already processed
    (``config.dedupe``), apply the new ones to ``config.suppressions``, call
    *on_event* with each; return the answer to give. Never raises for the request's
    content; *on_event*'s exception is logged and answered 500."""
    now = dt.datetime.now(dt.UTC) if now is None else now
    if config.provider_config(provider) is None:
        return reply(404, {"error": f"no webhook for {provider!r:.40}"})
    if len(body) > config.max_body:
        return reply(413, {"error": f"the body is over {config.max_body} bytes"})
    try:
        events = verify_and_parse(provider, headers, body, config=config, now=now)
    except WebhookError as e:
        log.info("refused: %s", e)
        return refusal(e)
    fresh: list[DeliveryEvent] = []
    duplicates = 0
    for index, event in enumerate(events):
        try:
            if config.dedupe.seen(event.event_id, config.dedupe_ttl):
                duplicates += 1
                continue
        except StoreUnavailable as e:
            log.warning("%s webhook: %s", provider, e)
            return reply(503, {"error": "the dedupe store is unavailable"}, ("Retry-After", "30"))
        try:
            if config.suppressions is not None:
                record_event(config.suppressions, event, now, config.policy)
            if on_event is not None:
                on_event(event)
        except Exception as e:
            _forget(config.dedupe, event)
            if isinstance(e, StoreUnavailable):
                log.warning("%s webhook: %s", provider, e)
                status, what = 503, "the suppression list is unavailable"
            else:
                log.exception("%s webhook: on_event failed on %s", provider, event.event_id)
                status, what = 500, "the event handler failed"
            return reply(
                status,
                {"error": what, "events": len(fresh), "unprocessed": len(events) - index},
                events=tuple(fresh),
                duplicates=duplicates,
            )
        fresh.append(event)
    return reply(
        200,
        {"events": len(fresh), "duplicates": duplicates},
        events=tuple(fresh),
        duplicates=duplicates,
    )


def _forget(store: DedupeStore, event: DeliveryEvent) -> None:
    try:
        store.forget(event.event_id)
    except StoreUnavailable:  # the retry will be seen as a duplicate; say so
        log.error("could not unmark %s: a retry of it will be skipped", event.event_id)
