"""The shape every HTTP provider mailer shares: pure request and response helpers, and a
thin httpx shell.

A provider module (``postmark.py``, ``resend.py`` ...) has three parts, always the same:

1. ``build_request(message, options) -> HttpRequest``: pure. The record in, the exact
   request out (method, URL, headers, encoded body). Everything the provider can
   express is sent; what it cannot raises ``UnsupportedFeature`` naming the field.
2. ``parse_response(message, status, headers, body) -> SendResult``: pure. A success
   becomes one status per envelope recipient (and the provider's message id); a
   failure raises the classified error (``status_error``): 429, 5xx and 408 transient
   with Retry-After honoured, 413 ``MessageTooLarge``, other 4xx permanent.
3. A mailer class: ``HttpMailer`` with ``provider``, its options, and the two calls
   above. ``HttpMailer.deliver`` is the whole I/O: one request through an injected (or
   owned, pooled) ``httpx.Client``. httpx errors are mapped in ``classify``, once.

Secrets (API keys, tokens) are held in ``Secret``, whose repr is ``Secret('***')``, and
``HttpRequest``'s repr hides credential headers, so neither reaches a log or traceback.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import importlib.util
import ipaddress
import json
import threading
import urllib.parse
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ..core.addresses import Address, domain_to_ascii, mailbox_key
from ..core.mime import envelope_of
from ..core.records import Message, RecipientState, RecipientStatus, SendResult
from ..errors import (
    ConfigError,
    DeliveryError,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
    UnsupportedFeature,
)
from .base import BaseMailer

if TYPE_CHECKING:
    import httpx

__all__ = [
    "HttpMailer",
    "HttpRequest",
    "Secret",
    "all_accepted",
    "ascii_mailbox",
    "ascii_mailbox_of",
    "check_base_url",
    "check_envelope_from",
    "decode_json",
    "header_of",
    "json_request",
    "merged_options",
    "retry_after_of",
    "status_error",
    "text_and_html",
    "unsupported",
]

#: Headers whose values are credentials: never shown in a repr.
SECRET_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-postmark-server-token",
        "x-postmark-account-token",
        "x-api-key",
        "x-amz-security-token",
    }
)


@attrs.frozen(repr=False)
class Secret:
    """A credential (API key, token): its repr and str never show it.

    ``reveal()`` is the one way to read it, at the moment a request is signed.
    """

    _value: str = attrs.field(alias="value")

    def reveal(self) -> str:
        """The credential itself."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    @classmethod
    def of(cls, field: str, value: object) -> Secret:
        """Check a configured credential: a non-empty str (or a Secret), else ConfigError
        naming *field* (never the value)."""
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str):
            raise ConfigError(
                f"{field} must be a str (got {type(value).__name__}); "
                "read it from the environment, e.g. os.environ['...']"
            )
        if not value.strip():
            raise ConfigError(
                f"{field} is empty ({value!r}); read it from the environment, "
                "e.g. os.environ['...']"
            )
        if any(c in value for c in "\r\n\0"):
            raise ConfigError(f"{field} contains a line break or NUL")
        return cls(value=value.strip())


def _shown_headers(headers: tuple[tuple[str, str], ...]) -> str:
    shown = [(k, "***" if k.lower() in SECRET_HEADERS else v) for k, v in headers]
    return repr(tuple(shown))


@attrs.frozen
class HttpRequest:
    """One HTTP request, exactly as it goes on the wire (body already encoded).

    Attributes:
        method: ``POST``, ``GET`` ...
        url: the absolute URL.
        headers: ``(name, value)`` pairs; credential values are hidden in the repr.
        body: the encoded body (JSON, or multipart/form-data).
    """

    method: str
    url: str
    headers: tuple[tuple[str, str], ...] = attrs.field(repr=_shown_headers)
    body: bytes = attrs.field(repr=lambda b: f"<{len(b)} bytes>")

    def header(self, name: str) -> str | None:
        """The value of header *name* (case-insensitive), or None."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    def json(self) -> Any:
        """The body decoded as JSON (for tests and previews)."""
        return json.loads(self.body)


def json_request(
    method: str, url: str, payload: object, headers: tuple[tuple[str, str], ...] = ()
) -> HttpRequest:
    """An HttpRequest with *payload* as its JSON body (UTF-8, compact)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return HttpRequest(
        method=method,
        url=url,
        headers=(
            *headers,
            ("Content-Type", "application/json"),
            ("Accept", "application/json"),
        ),
        body=body,
    )


def ascii_mailbox(address: Address) -> str:
    """``Name <local@a-label.domain>``: the mailbox with its domain in A-labels (the
    display name quoted or encoded as ``str(Address)`` does). No copy when the domain is
    already ASCII, the common case."""
    if address.domain.isascii():
        return str(address)
    return str(attrs.evolve(address, domain=domain_to_ascii(address.domain)))


#: Charsets a provider that encodes bodies itself (as UTF-8) can take as they are.
UTF8_CHARSETS = frozenset({"utf-8", "utf8", "us-ascii", "ascii"})


def text_and_html(provider: str, message: Message) -> tuple[str | None, str | None]:
    """The text and the HTML body of *message* for a provider that takes one of each
    (the body and its alternatives); UnsupportedFeature for another type, a second body
    of one type, or a charset other than UTF-8 (the provider encodes bodies itself)."""
    name = provider.capitalize()
    if message.charset.lower() not in UTF8_CHARSETS:
        raise unsupported(
            provider, "charset", message.charset, f"{name} encodes bodies itself (UTF-8)"
        )
    parts = [
        ("body", "text/html" if message.content_subtype == "html" else "text/plain", message.body)
    ]
    parts += [
        (f"alternatives[{i}]", alt.mimetype.lower(), alt.content)
        for i, alt in enumerate(message.alternatives)
    ]
    found: dict[str, str] = {}
    for field, mimetype, content in parts:
        if mimetype not in ("text/plain", "text/html"):
            raise unsupported(
                provider, field, mimetype, f"{name} takes a text and an HTML body, nothing else"
            )
        if mimetype in found:
            raise unsupported(
                provider, field, mimetype, f"{name} takes one {mimetype} body, this is a second"
            )
        found[mimetype] = content
    return found.get("text/plain"), found.get("text/html")


def ascii_mailbox_of(provider: str, address: Address, field: str, why: str) -> str:
    """``ascii_mailbox(address)``, or UnsupportedFeature (*why*) for a non-ASCII local
    part, which a provider without SMTPUTF8 cannot send to or from."""
    if not address.local_part.isascii():
        raise unsupported(provider, field, str(address), why)
    return ascii_mailbox(address)


def check_envelope_from(provider: str, message: Message, reason: str) -> None:
    """UnsupportedFeature (*reason*) for an ``envelope_from`` other than the From mailbox:
    the provider sets the bounce address itself."""
    sender = message.envelope_from
    if sender is not None and mailbox_key(sender) != mailbox_key(message.from_email):
        raise unsupported(provider, "envelope_from", str(sender), reason)


def merged_options(
    message: Message,
    provider: str,
    mailer_options: Mapping[str, Any],
    reserved: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The provider options for one request: the mailer's, then the message's (which
    win, key by key).

    *reserved* names (lower-case; compared case-insensitively) are the request fields
    proper_mail builds from the message itself: recipients, sender, bodies, headers,
    tags and metadata. An option that would replace one is UnsupportedFeature, since it
    would send to people the SendResult, the interceptor and the suppression list never
    saw: set the message's own field instead."""
    merged = {**mailer_options, **message.options_for(provider)}
    for key in merged:
        if key.lower() in reserved:
            raise unsupported(
                provider,
                "provider_options",
                key,
                "proper_mail sets this field from the message (recipients, sender, bodies, "
                "headers, tags, metadata); set the message's own field instead",
            )
    return merged


def unsupported(provider: str, field: str, value: object, reason: str) -> UnsupportedFeature:
    """The error for a message field *provider* cannot express."""
    return UnsupportedFeature(field, value, reason, provider)


def all_accepted(
    message: Message,
    provider_id: str | None,
    *,
    state: RecipientState = "sent",
    code: int | None = None,
    rejected: Mapping[str, RecipientStatus] | None = None,
) -> SendResult:
    """A SendResult for an accepted request: every envelope recipient *state* (``sent``
    or ``queued``), except those in *rejected* (addr-spec -> their status)."""
    recipients = envelope_of(message).recipients
    rejected = rejected or {}
    statuses = tuple(
        rejected.get(address) or RecipientStatus(address, state, code) for address in recipients
    )
    return SendResult(
        message_id=message.message_id, mailer="", recipients=statuses, provider_id=provider_id
    )


def decode_json(body: bytes) -> Any:
    """*body* as JSON, or None when it is not JSON (an HTML error page from a proxy)."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None


def retry_after_of(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date, the
    latter needing *now*); None when absent or unreadable. Never negative."""
    value = header_of(headers, "retry-after")
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN
    if now is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max((when - now).total_seconds(), 0.0)


def header_of(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header *name* (lower-case) in *headers*, any case, or None."""
    value = headers.get(name)
    if value is not None:
        return value
    for key, item in headers.items():
        if key.lower() == name:
            return item
    return None


def status_error(
    provider: str,
    status: int,
    headers: Mapping[str, str],
    detail: str,
    *,
    recipients: tuple[RecipientStatus, ...] = (),
    now: dt.datetime | None = None,
) -> DeliveryError:
    """The classified error for a failed HTTP response: 429 ``RateLimited``, 5xx and 408
    transient (Retry-After honoured), 413 ``MessageTooLarge``, other statuses permanent.
    *detail* is the provider's words (never the request)."""
    text = f"{provider}: HTTP {status}: {_short(detail) or 'no detail'}"
    retry_after = retry_after_of(headers, now)
    if status == 429:
        return RateLimited(text, code=status, recipients=recipients, retry_after=retry_after)
    if status >= 500 or status == 408:
        return TransientDeliveryError(
            text, code=status, recipients=recipients, retry_after=retry_after
        )
    if status == 413:
        return MessageTooLarge(text, code=status, recipients=recipients)
    return PermanentDeliveryError(text, code=status, recipients=recipients)


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def check_base_url(field: str, url: object) -> str:
    """A provider base URL: https, or http only to a loopback host (a local test server);
    no trailing slash. ConfigError otherwise."""
    if not isinstance(url, str):
        raise ConfigError(f"{field} must be a str URL, not {type(url).__name__}")
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"{field} must be an https:// URL, not {url!r}")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ConfigError(
            f"{field} is plain http to {parts.hostname!r}: API keys would cross the network "
            "unencrypted; use https:// (http is allowed only to a loopback test server)"
        )
    if parts.query or parts.fragment:
        raise ConfigError(f"{field} must not have a query or fragment: {url!r}")
    return url.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _user_agent() -> str:
    """``proper-mail/<version> python-httpx/<version>``: providers' logs and support
    can tell our requests apart."""
    import importlib.metadata

    import httpx

    try:
        ours = importlib.metadata.version("proper-mail")
    except importlib.metadata.PackageNotFoundError:
        ours = "unknown"
    return f"proper-mail/{ours} python-httpx/{httpx.__version__}"


def _check_timeout(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 600:
        raise ConfigError(f"timeout must be a number of seconds in (0, 600], not {value!r}")
    return float(value)


class HttpMailer(BaseMailer):
    """Base class of the HTTP provider mailers: the I/O shell around a provider's pure
    ``build_request`` and ``parse_response``.

    **Protocol:** set ``provider`` and ``default_base_url``; implement
    ``build_request(message)`` and ``parse_response(message, status, headers, body)``
    (usually by calling the module's pure functions with this mailer's options);
    override ``prepare(request)`` to sign a request (SES).

    Options every provider mailer takes (keyword-only, from MAILERS):
        client: an ``httpx.Client`` to use (shared pools, proxies, tests); by default
            the mailer owns one pooled client, closed by ``close()``.
        base_url: the API root (EU regions, a local test server); https only, or http to
            a loopback host.
        timeout: seconds for each request (connect, read, write, pool); default 30.
        http2: use HTTP/2 (needs ``pip install 'proper-mail[http2]'``).
        provider_options: provider-specific request fields merged into every request
            (a message's own ``provider_options[provider]`` win).
        fail_silently: as for every mailer.
    """

    provider: ClassVar[str] = ""
    default_base_url: ClassVar[str] = ""

    def __init__(
        self,
        *,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        http2: bool = False,
        provider_options: Mapping[str, Any] | None = None,
        fail_silently: bool = False,
    ) -> None:
        super().__init__(fail_silently=fail_silently)
        self.base_url = check_base_url("base_url", base_url or self.default_base_url)
        self.timeout = _check_timeout(timeout)
        if not isinstance(http2, bool):
            raise ConfigError(f"http2 must be True or False, not {http2!r}")
        self.http2 = http2
        if provider_options is not None and not isinstance(provider_options, Mapping):
            raise ConfigError(
                f"provider_options must be a mapping, not {type(provider_options).__name__}"
            )
        self.provider_options: dict[str, Any] = dict(provider_options or {})
        keyed = self.provider_options.get(self.provider)
        if self.provider and len(self.provider_options) == 1 and isinstance(keyed, Mapping):
            raise ConfigError(
                f"provider_options of a {type(self).__name__} are its request fields "
                f"themselves, e.g. {{'MessageStream': 'broadcast'}}, not keyed by "
                f"{self.provider!r} (that shape is for a message's provider_options)"
            )
        try:
            json.dumps(self.provider_options)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"provider_options must be JSON data: {e}") from None
        if http2 and importlib.util.find_spec("h2") is None:
            raise ConfigError("http2=True needs the h2 package: pip install 'proper-mail[http2]'")
        self._client = client
        self._owns_client = client is None
        self._client_lock = threading.Lock()
        self._urls: dict[str, httpx.URL] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.alias or 'built directly'} {self.base_url}>"

    # -- what a provider implements -----------------------------------------------------

    def build_request(self, message: Message) -> HttpRequest:
        """The request that sends *message* (pure: no I/O)."""
        raise NotImplementedError

    def parse_response(
        self, message: Message, status: int, headers: Mapping[str, str], body: bytes
    ) -> SendResult:
        """The SendResult for a response, or the classified error raised (pure)."""
        raise NotImplementedError

    def prepare(self, request: HttpRequest) -> HttpRequest:
        """Last step before sending (SES signs here); the default returns it as is."""
        return request

    # -- the shell ----------------------------------------------------------------------

    def deliver(self, message: Message) -> SendResult:
        """Send *message* with one HTTP request; the provider's answer, classified."""
        request = self.prepare(self.build_request(message))
        response = self.client.request(
            request.method, self._url_of(request.url), headers=request.headers, content=request.body
        )
        result = self.parse_response(
            message, response.status_code, response.headers, response.content
        )
        return SendResult(result.message_id, self.alias, result.recipients, result.provider_id)

    def _url_of(self, url: str) -> httpx.URL | str:
        """*url* parsed once: a provider posts to one or two URLs, and httpx parses a str
        URL twice per request (a measurable share of a send)."""
        parsed = self._urls.get(url)
        if parsed is None:
            import httpx

            parsed = httpx.URL(url)
            if len(self._urls) < 64:
                self._urls[url] = parsed
        return parsed

    @property
    def client(self) -> httpx.Client:
        """The httpx client: the injected one, or this mailer's own pooled client."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self.make_client()
        return self._client

    def make_client(self) -> httpx.Client:
        """The pooled client this mailer owns when none is injected."""
        import httpx

        return httpx.Client(
            headers={"User-Agent": _user_agent()},
            timeout=httpx.Timeout(self.timeout),
            http2=self.http2,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
            follow_redirects=False,
        )

    def classify(self, error: Exception) -> DeliveryError:
        """httpx's errors: timeouts and network errors transient, anything else permanent
        (the cause is chained by the caller; the text never holds the request)."""
        import httpx

        what = f"{self.provider or type(self).__name__}: {type(error).__name__}: {error}"
        transient = (
            httpx.TimeoutException,
            httpx.NetworkError,
            httpx.RemoteProtocolError,
            TimeoutError,
            ConnectionError,
        )
        if isinstance(error, transient):
            return TransientDeliveryError(_short(what))
        return PermanentDeliveryError(_short(what))

    def close(self) -> None:
        """Close the client this mailer owns (an injected one is the caller's)."""
        with self._client_lock:
            if self._client is not None and self._owns_client:
                self._client.close()
                self._client = None
