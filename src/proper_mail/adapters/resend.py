"""Resend: a Message as one ``POST /emails`` request, and Resend's answer as a result.

The API is documented at https://resend.com/docs/api-reference/emails/send-email (request
and response), https://resend.com/docs/api-reference/errors (the error names),
https://resend.com/docs/dashboard/emails/idempotency-keys,
https://resend.com/docs/dashboard/emails/embed-inline-images and
https://resend.com/docs/api-reference/rate-limit. The mapping:

- ``from``, ``to``, ``cc``, ``bcc``, ``reply_to``: ``Name <local@domain>`` strings (in
  arrays), display names kept (quoted when they need it), domains as A-labels. A
  non-ASCII local part (SMTPUTF8) is ``UnsupportedFeature``: Resend does not document
  them, and a result could not report such a recipient under a 7-bit envelope. ``to``
  takes at most 50 addresses and at least one (Resend requires it): outside that,
  ``UnsupportedFeature`` (see postmark.py for why not a split).
- ``text`` / ``html``: the body and its ``text/plain`` / ``text/html`` twin; a second part
  of a kind or another text type is ``UnsupportedFeature``. An HTML-only message is sent
  HTML-only: ``text`` is ``""``, which opts out of the text part Resend would otherwise
  generate (a message says what it contains). Bodies go as JSON text, so a ``charset``
  other than UTF-8 (or ASCII) is ``UnsupportedFeature``.
- ``headers``: the message's headers, then our ``Message-ID``.
- ``tags``: Resend's tags are ``{name, value}`` pairs whose name and value hold only
  ASCII letters, digits, ``_`` and ``-`` (at most 256 characters). Each metadata item
  becomes ``{name: key, value: value}``; each tag becomes ``{name: tag}`` (a tag without a
  value; so does a metadata item with an empty value). A key, value or tag outside that
  alphabet, or a tag that is also a metadata key, is ``UnsupportedFeature`` (nothing is
  rewritten behind the caller's back).
- ``tags`` ``{"name": "proper_mail_id", "value": ...}``: our Message-ID, because
  Resend's webhook events echo tags and not custom headers
  (https://resend.com/docs/dashboard/webhooks/body-parameters). The tag alphabet holds
  no ``<``, ``@`` or ``.``, so the value is the Message-ID without angle brackets as
  unpadded base64url (``echo.py``); the webhook parser decodes it. A Message-ID over
  192 characters (256 once encoded) is sent without it (the header only; its events
  then carry no ``message_id``). A metadata key or tag ``proper_mail_id`` of the
  caller's is ``UnsupportedFeature``.
- ``attachments``: ``filename``, base64 ``content``, ``content_type``, and for an inline
  part its ``content_id`` (under 128 characters). Resend makes every part with a
  content_id inline and has no inline part without one: an attachment with a
  content_id, or an inline part without one, is ``UnsupportedFeature``.
- ``Idempotency-Key`` header: our Message-ID without its angle brackets (a retry to some
  recipients, ``envelope_to``, adds a digest of them: it is another request). A key
  over Resend's 256 characters becomes ``sha256:<hex digest>`` of it.
- ``envelope_from``: Resend has no per-message envelope sender: ``UnsupportedFeature``.
- ``envelope_to``: as for Postmark, the retry goes to those recipients only, each in its
  field, and the others are not shown in that copy's headers.
- ``provider_options`` (the mailer's, then the message's ``{"resend": {...}}``) are
  merged last into the top level of the JSON body (``{"scheduled_at": "in 1 hour"}``,
  ``{"topic_id": ...}``), replacing a field of the same name.
- A request over Resend's 40 MB limit is refused before it is sent (``MessageTooLarge``).

Answers: 200 ``{"id"}`` is sent. Errors (``{"statusCode", "name", "message"}``) are
classified by name, then status:

- ``rate_limit_exceeded`` and ``daily_quota_exceeded`` (429): ``RateLimited``, waiting
  ``retry-after`` (else ``ratelimit-reset``). A daily quota clears by itself within a
  day, so it is transient: a failover mailer takes over, a queued message waits.
- ``monthly_quota_exceeded`` (429): permanent. It needs a plan change (or weeks).
- ``concurrent_idempotent_requests`` (409): transient. The first request with this
  key is still being processed; the retry gets its answer (its id, nothing sent twice).
- ``invalid_idempotent_request`` (409): permanent. This Message-ID was sent to these
  recipients with another payload in the last 24 hours (the mailer's options changed
  between attempts). Resend will not say whether that first request was delivered, and
  a new key could send the message twice, so it is reported, not retried.
- 5xx (``application_error``, ``internal_server_error``) transient; 413 too large; other
  4xx (validation errors, a bad key, ``security_error`` 451) permanent.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from ..core.addresses import Address
from ..core.mime import envelope_of, recipients_of
from ..core.records import Attachment, Message, SendResult
from ..errors import (
    DeliveryError,
    MessageTooLarge,
    PermanentDeliveryError,
    RateLimited,
    TransientDeliveryError,
)
from .echo import ECHO_KEY, check_reserved, echo_tag
from .http import (
    HttpMailer,
    HttpRequest,
    Secret,
    all_accepted,
    ascii_mailbox_of,
    check_envelope_from,
    decode_json,
    json_request,
    merged_options,
    retry_after_of,
    status_error,
    text_and_html,
    unsupported,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DEFAULT_BASE_URL",
    "ResendMailer",
    "ResendOptions",
    "build_request",
    "idempotency_key_of",
    "parse_response",
]

PROVIDER: Final = "resend"
#: Request fields built from the message: provider_options may not replace them.
RESERVED: Final = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "html",
        "text",
        "headers",
        "attachments",
        "tags",
    }
)
DEFAULT_BASE_URL: Final = "https://api.resend.com"
MAX_TO: Final = 50
MAX_IDEMPOTENCY_KEY: Final = 256
MAX_CONTENT_ID: Final = 127  # "must be less than 128 characters"
#: "Emails can be no larger than 40MB (including attachments after Base64 encoding)".
MAX_REQUEST_BYTES: Final = 40 * 1024 * 1024
#: Charsets whose text the provider's UTF-8 carries exactly; another one cannot be honoured.

_TAG_TEXT = re.compile(r"[A-Za-z0-9_-]{1,256}")
_KEY_TEXT = re.compile(r"[!-~]+")  # printable ASCII: a valid header value as it is
_TRANSIENT_NAMES: Final = frozenset({"concurrent_idempotent_requests"})
_RATE_LIMIT_NAMES: Final = frozenset({"rate_limit_exceeded", "daily_quota_exceeded"})
_PERMANENT_NAMES: Final = frozenset({"monthly_quota_exceeded", "invalid_idempotent_request"})


@attrs.frozen
class ResendOptions:
    """What a ResendMailer sends with.

    Attributes:
        api_key: the API key (``Authorization: Bearer ...``).
        base_url: the API root, without a trailing slash.
        provider_options: fields merged into every request body (a message's own
            ``provider_options["resend"]`` win).
    """

    api_key: Secret
    base_url: str = DEFAULT_BASE_URL
    provider_options: Mapping[str, Any] = attrs.field(factory=dict)


def idempotency_key_of(message: Message) -> str:
    """The ``Idempotency-Key`` of *message* (pure): the same for every retry of it.

    Our Message-ID without angle brackets; with ``envelope_to`` (a retry to some
    recipients, a different request) a digest of those recipients is added. A key
    longer than Resend's 256 characters, or not printable ASCII, is replaced by
    ``sha256:`` and its hex digest.
    """
    key = message.message_id.removeprefix("<").removesuffix(">")
    if message.envelope_to:
        recipients = "\n".join(sorted(envelope_of(message).recipients))
        key = f"{key}/{hashlib.sha256(recipients.encode()).hexdigest()[:16]}"
    if len(key) > MAX_IDEMPOTENCY_KEY or not _KEY_TEXT.fullmatch(key):
        key = f"sha256:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"
    return key


def build_request(message: Message, options: ResendOptions) -> HttpRequest:
    """The ``POST /emails`` request that sends *message* (pure).

    Raises UnsupportedFeature for what Resend cannot express, MessageTooLarge for a
    request over Resend's 40 MB limit.
    """
    to, cc, bcc = recipients_of(message)
    if not to or len(to) > MAX_TO:
        raise unsupported(
            PROVIDER,
            "to",
            len(to),
            f"Resend needs 1 to {MAX_TO} To recipients in each request"
            + ("" if to else " (this copy has none: Cc or Bcc only)"),
        )
    check_envelope_from(
        PROVIDER, message, "Resend sets the envelope sender itself, not per message"
    )

    payload: dict[str, Any] = {
        "from": _address(message.from_email, "from_email"),
        "to": [_address(a, "to") for a in to],
    }
    if cc:
        payload["cc"] = [_address(a, "cc") for a in cc]
    if bcc:
        payload["bcc"] = [_address(a, "bcc") for a in bcc]
    if message.reply_to:
        payload["reply_to"] = [_address(a, "reply_to") for a in message.reply_to]
    payload["subject"] = message.subject
    text, html = _bodies(message)
    if html is not None:
        payload["html"] = html
        payload["text"] = text or ""  # "" opts out of the text part Resend would generate
    elif text is not None:
        payload["text"] = text
    payload["headers"] = {**dict(message.headers), "Message-ID": message.message_id}
    tags = _tags(message)
    if tags:
        payload["tags"] = tags
    if message.attachments:
        payload["attachments"] = [
            _attachment(f"attachments[{i}]", a) for i, a in enumerate(message.attachments)
        ]
    payload.update(merged_options(message, PROVIDER, options.provider_options, RESERVED))

    request = json_request(
        "POST",
        f"{options.base_url}/emails",
        payload,
        (
            ("Authorization", f"Bearer {options.api_key.reveal()}"),
            ("Idempotency-Key", idempotency_key_of(message)),
        ),
    )
    if len(request.body) > MAX_REQUEST_BYTES:
        raise MessageTooLarge(
            f"resend: the request is {len(request.body)} bytes, over Resend's 40 MB limit "
            "(attachments count base64-encoded)",
            code=None,
            size=len(request.body),
            limit=MAX_REQUEST_BYTES,
        )
    return request


def parse_response(
    message: Message, status: int, headers: Mapping[str, str], body: bytes
) -> SendResult:
    """The SendResult of Resend's answer to *message*, or the classified error raised
    (pure)."""
    data = decode_json(body)
    fields: Mapping[str, Any] = data if isinstance(data, dict) else {}
    if 200 <= status < 300:
        provider_id = fields.get("id")
        return all_accepted(message, provider_id if isinstance(provider_id, str) else None)
    raise _error(status, headers, fields, body)


def _error(
    status: int, headers: Mapping[str, str], fields: Mapping[str, Any], body: bytes
) -> DeliveryError:
    name = fields.get("name")
    text = fields.get("message")
    if isinstance(name, str):
        detail = f"{name}: {text}" if isinstance(text, str) else name
    else:  # not Resend's JSON (a proxy's HTML page): its first words
        detail = text if isinstance(text, str) else body[:200].decode("utf-8", "replace")
        name = ""
    if name == "invalid_idempotent_request":
        detail += (
            " (this Message-ID went to these recipients with another payload within 24 "
            "hours; not retried, as a new key could send it twice)"
        )
    error = status_error(PROVIDER, status, headers, detail)
    cls: type[DeliveryError] = type(error)
    if name in _RATE_LIMIT_NAMES:
        cls = RateLimited
    elif name in _TRANSIENT_NAMES:
        cls = TransientDeliveryError
    elif name in _PERMANENT_NAMES:
        cls = PermanentDeliveryError
    if not issubclass(cls, TransientDeliveryError):
        return error if cls is type(error) else cls(error.detail, code=error.code)
    retry_after = retry_after_of(headers)
    if retry_after is None:
        retry_after = _reset_of(headers)
    return cls(error.detail, code=error.code, retry_after=retry_after)


def _reset_of(headers: Mapping[str, str]) -> float | None:
    """Seconds until the rate-limit window resets (``ratelimit-reset``), if given."""
    for name, value in headers.items():
        if name.lower() == "ratelimit-reset":
            try:
                seconds = float(value)
            except ValueError:
                return None
            return max(seconds, 0.0) if seconds == seconds else None  # NaN
    return None


def _address(address: Address, field: str) -> str:
    """``Name <local@a-label.domain>`` (the name quoted when it needs it)."""
    return ascii_mailbox_of(
        PROVIDER,
        address,
        field,
        "Resend does not document SMTPUTF8 mailboxes, and a result could not report one",
    )


def _bodies(message: Message) -> tuple[str | None, str | None]:
    """The text and the HTML body: the body and its alternatives, one of each at most."""
    return text_and_html(PROVIDER, message)


def _tags(message: Message) -> list[dict[str, str]]:
    """Resend tags: one ``{name, value}`` per metadata item, one ``{name}`` per tag, then
    our Message-ID's (when it fits)."""
    check_reserved(PROVIDER, "metadata", (key for key, _ in message.metadata))
    check_reserved(PROVIDER, "tags", message.tags)
    tags: list[dict[str, str]] = []
    names: set[str] = set()
    for key, value in message.metadata:
        field = f"metadata[{key!r}]"
        _check_tag_text(field, key, "a metadata key")
        if value:
            _check_tag_text(field, value, "a metadata value")
            tags.append({"name": key, "value": value})
        else:  # an empty value: a tag without one
            tags.append({"name": key})
        names.add(key)
    for i, tag in enumerate(message.tags):
        _check_tag_text(f"tags[{i}]", tag, "a tag")
        if tag in names:
            if any(t == {"name": tag} for t in tags):
                continue  # the same tag twice: once is enough
            raise unsupported(
                PROVIDER,
                f"tags[{i}]",
                tag,
                "Resend tag names are unique, and this tag is also a metadata key",
            )
        tags.append({"name": tag})
        names.add(tag)
    echo = echo_tag(message.message_id)
    if _TAG_TEXT.fullmatch(echo):  # at most 256 characters
        tags.append({"name": ECHO_KEY, "value": echo})
    return tags


def _check_tag_text(field: str, text: str, what: str) -> None:
    if not _TAG_TEXT.fullmatch(text):
        raise unsupported(
            PROVIDER,
            field,
            text,
            f"{what} sent as a Resend tag may hold only ASCII letters, digits, '_' and '-' "
            "(1 to 256 of them)",
        )


def _attachment(field: str, attachment: Attachment) -> dict[str, str]:
    inline = attachment.disposition == "inline"
    if inline and not attachment.content_id:
        raise unsupported(
            PROVIDER,
            f"{field}.disposition",
            "inline",
            "Resend inlines a part only by its content_id: give it one",
        )
    if attachment.content_id and not inline:
        raise unsupported(
            PROVIDER,
            f"{field}.content_id",
            attachment.content_id,
            "Resend inlines every part that has a content_id: make it disposition='inline'",
        )
    item = {
        "content": base64.b64encode(attachment.content).decode("ascii"),
        "content_type": attachment.mimetype,
    }
    if attachment.filename:
        item["filename"] = attachment.filename
    if attachment.content_id:
        if len(attachment.content_id) > MAX_CONTENT_ID:
            raise unsupported(
                PROVIDER,
                f"{field}.content_id",
                attachment.content_id,
                "Resend's content_id must be less than 128 characters",
            )
        item["content_id"] = attachment.content_id
    return item


class ResendMailer(HttpMailer):
    """Sends through Resend's email API (``POST /emails``), one request per message,
    with the message's idempotency key.

    Options (keyword-only, from MAILERS): ``api_key`` (required), and those of every
    HTTP mailer: ``base_url``, ``timeout``, ``http2``, ``provider_options``, ``client``,
    ``fail_silently``. Resend has no test mode; send to its test addresses
    (``delivered@resend.dev``, ``bounced@resend.dev`` ...) instead. See this module's
    docstring for how each message field is sent.
    """

    provider: ClassVar[str] = PROVIDER
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL

    def __init__(
        self,
        *,
        api_key: str | Secret,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout: float = 30.0,
        http2: bool = False,
        provider_options: Mapping[str, Any] | None = None,
        fail_silently: bool = False,
    ) -> None:
        super().__init__(
            client=client,
            base_url=base_url,
            timeout=timeout,
            http2=http2,
            provider_options=provider_options,
            fail_silently=fail_silently,
        )
        self.options = ResendOptions(
            api_key=Secret.of("api_key", api_key),
            base_url=self.base_url,
            provider_options=self.provider_options,
        )

    def build_request(self, message: Message) -> HttpRequest:
        """The request that sends *message* (``build_request`` with this mailer's options)."""
        return build_request(message, self.options)

    def parse_response(
        self, message: Message, status: int, headers: Mapping[str, str], body: bytes
    ) -> SendResult:
        """Resend's answer as a SendResult, or the classified error raised."""
        return parse_response(message, status, headers, body)
