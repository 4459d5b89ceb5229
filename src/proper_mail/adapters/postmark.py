"""Postmark: a Message as one ``POST /email`` request, and Postmark's answer as a result.

The API is documented at https://postmarkapp.com/developer/api/email-api (request and
response), https://postmarkapp.com/developer/api/overview (auth, status codes, the
``ErrorCode`` table and the ``POSTMARK_API_TEST`` token) and the support articles cited
beside each rule below. The mapping:

- ``From``, ``To``, ``Cc``, ``Bcc``, ``ReplyTo``: ``Name <local@domain>`` strings,
  comma-separated, display names kept (quoted when they need it), domains as A-labels.
  Postmark takes no SMTPUTF8 mailbox: a non-ASCII local part is ``UnsupportedFeature``.
- At most 50 recipients in To, Cc and Bcc together (Postmark's limit): more is
  ``UnsupportedFeature``, not a split. Split sends would each show a different header
  set or send To and Cc again, and one Message-ID would get several Postmark ids and
  partial failures; the caller chooses how to divide such a mailing.
- ``TextBody`` / ``HtmlBody``: the body and its ``text/plain`` / ``text/html`` twin; a
  second part of a kind, another text type, or no body at all is ``UnsupportedFeature``;
  so is a ``charset`` other than UTF-8 (or ASCII): bodies go as JSON text.
- ``Headers``: the message's headers, then our ``Message-ID``, so that Postmark's
  records of the message carry it.
- ``Tag``: Postmark takes one tag of at most 1000 characters; two or more tags are
  ``UnsupportedFeature``. ``Metadata``: the message's metadata; two keys that differ
  only in case are ``UnsupportedFeature`` (Postmark refuses them:
  https://postmarkapp.com/support/article/1125-custom-metadata-faq). Its other limits
  are Postmark's to enforce (a 422 with its words).
- ``Metadata["proper_mail_id"]``: our Message-ID without angle brackets, because
  Postmark's webhooks echo metadata and not custom headers (``echo.py``). Postmark
  takes at most 10 metadata fields, names of 20 characters and values of 80 (its 422:
  "Field names are limited to 20 characters and field values are limited to 80
  characters", https://github.com/anymail/django-anymail/issues/238): a Message-ID
  over 80 characters, or a message with 10 metadata fields of its own, is sent
  without it (the header only; its webhook events then carry no ``message_id``). A
  metadata key ``proper_mail_id`` of the caller's is ``UnsupportedFeature``.
- ``Attachments``: ``Name``, base64 ``Content``, ``ContentType``, and for an inline part
  ``ContentID`` = ``cid:<content_id>``. Postmark makes every part with a ContentID
  inline and has no inline part without one: an attachment with a content_id, or an
  inline part without one, is ``UnsupportedFeature``.
- ``MessageStream`` (mailer option, default ``outbound``), ``TrackOpens`` and
  ``TrackLinks`` (mailer options; unset leaves the server's setting).
- ``envelope_from``: Postmark sets the Return-Path per domain, not per message, so a
  different envelope sender is ``UnsupportedFeature``.
- ``envelope_to`` (a retry to some recipients): Postmark has no envelope apart from the
  headers, so the retry goes to those recipients only, each in the field it was in
  (To, Cc or Bcc), and the others are not shown in that copy's headers.
- No idempotency key: Postmark has none. The Message-ID header is what ties a copy to
  our records.
- ``provider_options`` (the mailer's, then the message's ``{"postmark": {...}}``) are
  merged last into the top level of the JSON body, so they can set any field
  (``{"MessageStream": "broadcast"}``, ``{"TrackLinks": "HtmlOnly"}``) or replace one.
- A request over Postmark's 10 MB limit is refused before it is sent (``MessageTooLarge``;
  https://postmarkapp.com/support/article/1056-what-are-the-attachment-and-email-size-limits).

Answers: 200 with ``ErrorCode`` 0 is sent, except recipients Postmark names as inactive
("Message OK, but will not deliver to these inactive addresses: ..."), which are
rejected. Errors are classified by ``ErrorCode`` first (429 rate limit and 100
maintenance transient; 406 inactive recipients and 300 invalid request permanent, with
the recipients Postmark names reported as rejected), then by HTTP status (429 and 5xx
transient with Retry-After honoured, 413 too large, 401 and other 4xx permanent). A 200
with a non-zero ``ErrorCode`` is a failure too.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from ..core.addresses import Address
from ..core.mime import envelope_of, recipients_of
from ..core.records import Attachment, Message, RecipientStatus, SendResult
from ..errors import (
    ConfigError,
    DeliveryError,
    MessageTooLarge,
    RateLimited,
    TransientDeliveryError,
)
from .echo import ECHO_KEY, check_reserved, echo_value
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
    "TEST_TOKEN",
    "PostmarkMailer",
    "PostmarkOptions",
    "build_request",
    "parse_response",
]

PROVIDER: Final = "postmark"
#: Request fields built from the message: provider_options may not replace them.
RESERVED: Final = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "replyto",
        "htmlbody",
        "textbody",
        "headers",
        "attachments",
        "metadata",
    }
)
DEFAULT_BASE_URL: Final = "https://api.postmarkapp.com"
#: The server token Postmark documents for test sends: checked, answered, never delivered.
TEST_TOKEN: Final = "POSTMARK_API_TEST"  # noqa: S105 (public, documented, sends nothing)
MAX_RECIPIENTS: Final = 50
MAX_TAG_LENGTH: Final = 1000
MAX_METADATA_FIELDS: Final = 10
MAX_METADATA_VALUE: Final = 80
#: "Total message size, including attachments, can be 10 MB" (after base64); the larger
#: reading of MB, so that nothing Postmark would take is refused here.
MAX_REQUEST_BYTES: Final = 10 * 1024 * 1024
#: Charsets whose text the provider's UTF-8 carries exactly; another one cannot be honoured.
TRACK_LINKS: Final = ("None", "HtmlAndText", "HtmlOnly", "TextOnly")

# ErrorCode values from https://postmarkapp.com/developer/api/overview#error-codes. Only
# a rate limit (429) and maintenance (100) clear by themselves: the others (10 bad token,
# 400/401 sender signature, 405 not allowed to send, 412 account pending, 413 account may
# not send, 411 forbidden attachment type ...) need someone to act, so they are permanent.
MAINTENANCE: Final = 100
INVALID_REQUEST: Final = 300
INACTIVE_RECIPIENT: Final = 406
RATE_LIMIT: Final = 429

_INACTIVE = re.compile(r"inactive addresses:\s*(.*?)\.\s*Inactive recipients", re.DOTALL)
_BAD_RECIPIENT = re.compile(r"(?:Invalid|Error\s+parsing)\s+'(?:To|Cc|Bcc)'", re.IGNORECASE)
_QUOTED_ADDRESS = re.compile(r"address:?\s*'([^']*)'")


@attrs.frozen
class PostmarkOptions:
    """What a PostmarkMailer sends with: its server token and request defaults.

    Attributes:
        server_token: the server's API token (X-Postmark-Server-Token); None only in
            test mode.
        base_url: the API root, without a trailing slash.
        message_stream: the ``MessageStream`` of every message (``outbound`` is the
            default transactional stream).
        track_opens: ``TrackOpens``; None leaves the server's setting.
        track_links: ``TrackLinks`` (``None``, ``HtmlAndText``, ``HtmlOnly``,
            ``TextOnly``); None leaves the server's setting.
        test_mode: send with Postmark's ``POSTMARK_API_TEST`` token: the request is
            validated and answered, and nothing is delivered.
        provider_options: fields merged into every request body (a message's own
            ``provider_options["postmark"]`` win).
    """

    server_token: Secret | None
    base_url: str = DEFAULT_BASE_URL
    message_stream: str = "outbound"
    track_opens: bool | None = None
    track_links: str | None = None
    test_mode: bool = False
    provider_options: Mapping[str, Any] = attrs.field(factory=dict)


def build_request(message: Message, options: PostmarkOptions) -> HttpRequest:
    """The ``POST /email`` request that sends *message* (pure).

    Raises UnsupportedFeature for what Postmark cannot express, MessageTooLarge for a
    request over Postmark's 10 MB limit.
    """
    to, cc, bcc = recipients_of(message)
    count = len(to) + len(cc) + len(bcc)
    if count > MAX_RECIPIENTS:
        raise unsupported(
            PROVIDER,
            "to",
            count,
            f"Postmark takes at most {MAX_RECIPIENTS} recipients (To, Cc and Bcc together); "
            "send several messages",
        )
    check_envelope_from(
        PROVIDER, message, "Postmark sets the Return-Path per sending domain, not per message"
    )

    payload: dict[str, Any] = {"From": _address(message.from_email, "from_email")}
    for key, field, addresses in (("To", "to", to), ("Cc", "cc", cc), ("Bcc", "bcc", bcc)):
        if addresses:
            payload[key] = ", ".join(_address(a, field) for a in addresses)
    if message.reply_to:
        payload["ReplyTo"] = ", ".join(_address(a, "reply_to") for a in message.reply_to)
    payload["Subject"] = message.subject
    text, html = _bodies(message)
    if text:
        payload["TextBody"] = text
    if html:
        payload["HtmlBody"] = html
    payload["Headers"] = [
        *({"Name": name, "Value": value} for name, value in message.headers),
        {"Name": "Message-ID", "Value": message.message_id},
    ]
    tag = _tag(message.tags)
    if tag is not None:
        payload["Tag"] = tag
    metadata = _metadata(message)
    if metadata:
        payload["Metadata"] = metadata
    if message.attachments:
        payload["Attachments"] = [
            _attachment(f"attachments[{i}]", a) for i, a in enumerate(message.attachments)
        ]
    payload["MessageStream"] = options.message_stream
    if options.track_opens is not None:
        payload["TrackOpens"] = options.track_opens
    if options.track_links is not None:
        payload["TrackLinks"] = options.track_links
    payload.update(merged_options(message, PROVIDER, options.provider_options, RESERVED))
    if not payload.get("TextBody") and not payload.get("HtmlBody"):
        raise unsupported(
            PROVIDER, "body", "", "Postmark needs a text or an HTML body (ErrorCode 300)"
        )

    request = json_request(
        "POST",
        f"{options.base_url}/email",
        payload,
        (("X-Postmark-Server-Token", _token(options)),),
    )
    if len(request.body) > MAX_REQUEST_BYTES:
        raise MessageTooLarge(
            f"postmark: the request is {len(request.body)} bytes, over Postmark's 10 MB "
            "limit (attachments count base64-encoded)",
            code=None,
            size=len(request.body),
            limit=MAX_REQUEST_BYTES,
        )
    return request


def parse_response(
    message: Message, status: int, headers: Mapping[str, str], body: bytes
) -> SendResult:
    """The SendResult of Postmark's answer to *message*, or the classified error raised
    (pure)."""
    data = decode_json(body)
    fields: Mapping[str, Any] = data if isinstance(data, dict) else {}
    error_code = fields.get("ErrorCode")
    text = fields.get("Message")
    text = text if isinstance(text, str) else ""
    if 200 <= status < 300 and error_code in (0, None):
        provider_id = fields.get("MessageID")
        inactive = _named(_INACTIVE, text, message)
        rejected = {
            address: RecipientStatus(
                address, "rejected", INACTIVE_RECIPIENT, "Postmark: inactive recipient"
            )
            for address in inactive
        }
        return all_accepted(
            message, provider_id if isinstance(provider_id, str) else None, rejected=rejected
        )
    raise _error(message, status, headers, error_code, text, body)


def _error(
    message: Message,
    status: int,
    headers: Mapping[str, str],
    error_code: object,
    text: str,
    body: bytes,
) -> DeliveryError:
    if isinstance(error_code, int):
        detail = f"ErrorCode {error_code}: {text}"
    else:  # not Postmark's JSON (a proxy's HTML page): its first words
        detail = text or body[:200].decode("utf-8", "replace")
    recipients: tuple[RecipientStatus, ...] = ()
    if error_code == INACTIVE_RECIPIENT:
        recipients = _statuses(message, _named(_INACTIVE, text, message), error_code, text)
    elif error_code == INVALID_REQUEST and _BAD_RECIPIENT.match(text):
        recipients = _statuses(message, _named(_QUOTED_ADDRESS, text, message), error_code, text)
    error = status_error(PROVIDER, status, headers, detail, recipients=recipients)
    if error_code == RATE_LIMIT and not isinstance(error, RateLimited):
        return _retyped(error, RateLimited, headers)
    if error_code == MAINTENANCE and not isinstance(error, TransientDeliveryError):
        return _retyped(error, TransientDeliveryError, headers)
    return error


def _retyped(
    error: DeliveryError, cls: type[DeliveryError], headers: Mapping[str, str]
) -> DeliveryError:
    """*error* as a *cls* (a transient one waits as Retry-After says)."""
    return cls(
        error.detail,
        code=error.code,
        recipients=error.recipients,
        retry_after=retry_after_of(headers),
    )


def _statuses(
    message: Message, named: tuple[str, ...], error_code: int, text: str
) -> tuple[RecipientStatus, ...]:
    """Every envelope recipient: those Postmark named rejected, the others failed (the
    message was not sent to anyone)."""
    detail = f"Postmark ErrorCode {error_code}"
    return tuple(
        RecipientStatus(address, "rejected", error_code, detail)
        if address in named
        else RecipientStatus(address, "failed", error_code, f"{detail}: not sent")
        for address in envelope_of(message).recipients
    )


def _named(pattern: re.Pattern[str], text: str, message: Message) -> tuple[str, ...]:
    """The envelope recipients whose addresses Postmark lists in *text* (it writes them
    in lower case, comma-separated)."""
    match = pattern.search(text)
    if match is None:
        return ()
    listed = {item.strip().lower() for item in match.group(1).split(",")}
    return tuple(a for a in envelope_of(message).recipients if a.lower() in listed)


def _token(options: PostmarkOptions) -> str:
    if options.test_mode:
        return TEST_TOKEN
    if options.server_token is None:
        raise ConfigError("server_token is missing (or set test_mode=True)")
    return options.server_token.reveal()


def _address(address: Address, field: str) -> str:
    """``Name <local@a-label.domain>`` (the name quoted when it needs it)."""
    return ascii_mailbox_of(
        PROVIDER,
        address,
        field,
        "Postmark does not send to or from a non-ASCII local part (SMTPUTF8)",
    )


def _bodies(message: Message) -> tuple[str | None, str | None]:
    """The text and the HTML body: the body and its alternatives, one of each at most."""
    return text_and_html(PROVIDER, message)


def _tag(tags: tuple[str, ...]) -> str | None:
    if not tags:
        return None
    if len(tags) > 1:
        raise unsupported(PROVIDER, "tags", tags, "Postmark takes one tag per message")
    if len(tags[0]) > MAX_TAG_LENGTH:
        raise unsupported(
            PROVIDER, "tags[0]", tags[0], f"Postmark tags have at most {MAX_TAG_LENGTH} characters"
        )
    return tags[0]


def _metadata(message: Message) -> dict[str, str]:
    """The message's metadata, then our Message-ID when Postmark's limits leave room."""
    check_reserved(PROVIDER, "metadata", (key for key, _ in message.metadata))
    seen: dict[str, str] = {}
    for key, _ in message.metadata:
        other = seen.get(key.lower())
        if other is not None:
            raise unsupported(
                PROVIDER,
                "metadata",
                key,
                f"Postmark refuses metadata keys that differ only in case ({other!r})",
            )
        seen[key.lower()] = key
    metadata = dict(message.metadata)
    echo = echo_value(message.message_id)
    if len(metadata) < MAX_METADATA_FIELDS and len(echo) <= MAX_METADATA_VALUE:
        metadata[ECHO_KEY] = echo
    return metadata


def _attachment(field: str, attachment: Attachment) -> dict[str, str]:
    inline = attachment.disposition == "inline"
    if inline and not attachment.content_id:
        raise unsupported(
            PROVIDER,
            f"{field}.disposition",
            "inline",
            "Postmark inlines a part only by its ContentID: give it a content_id",
        )
    if attachment.content_id and not inline:
        raise unsupported(
            PROVIDER,
            f"{field}.content_id",
            attachment.content_id,
            "Postmark inlines every part that has a ContentID: make it disposition='inline'",
        )
    item = {
        "Name": attachment.filename,
        "Content": base64.b64encode(attachment.content).decode("ascii"),
        "ContentType": attachment.mimetype,
    }
    if attachment.content_id:
        item["ContentID"] = f"cid:{attachment.content_id}"
    return item


class PostmarkMailer(HttpMailer):
    """Sends through Postmark's email API (``POST /email``), one request per message.

    Options (keyword-only, from MAILERS): ``server_token`` (required unless
    ``test_mode``), ``message_stream`` (default ``"outbound"``), ``track_opens``
    (True/False; unset: the server's setting), ``track_links`` (``"None"``,
    ``"HtmlAndText"``, ``"HtmlOnly"``, ``"TextOnly"``; unset: the server's setting),
    ``test_mode`` (send with Postmark's ``POSTMARK_API_TEST`` token: checked and
    answered, never delivered), and those of every HTTP mailer: ``base_url``,
    ``timeout``, ``http2``, ``provider_options``, ``client``, ``fail_silently``.
    See this module's docstring for how each message field is sent.
    """

    provider: ClassVar[str] = PROVIDER
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL

    def __init__(
        self,
        *,
        server_token: str | Secret | None = None,
        message_stream: str = "outbound",
        track_opens: bool | None = None,
        track_links: str | None = None,
        test_mode: bool = False,
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
        if not isinstance(test_mode, bool):
            raise ConfigError(f"test_mode must be True or False, not {test_mode!r}")
        if server_token is None and not test_mode:
            raise ConfigError(
                "server_token is required (the server's API token, e.g. "
                "os.environ['POSTMARK_SERVER_TOKEN']), or set test_mode=True"
            )
        token = None if server_token is None else Secret.of("server_token", server_token)
        if not isinstance(message_stream, str) or not re.fullmatch(r"[!-~]+", message_stream):
            raise ConfigError(
                f"message_stream must be a stream id such as 'outbound', not {message_stream!r}"
            )
        if track_opens is not None and not isinstance(track_opens, bool):
            raise ConfigError(f"track_opens must be True, False or None, not {track_opens!r}")
        if track_links is not None and track_links not in TRACK_LINKS:
            raise ConfigError(
                f"track_links must be one of {', '.join(TRACK_LINKS)} (or None), "
                f"not {track_links!r}"
            )
        self.options = PostmarkOptions(
            server_token=token,
            base_url=self.base_url,
            message_stream=message_stream,
            track_opens=track_opens,
            track_links=track_links,
            test_mode=test_mode,
            provider_options=self.provider_options,
        )

    def build_request(self, message: Message) -> HttpRequest:
        """The request that sends *message* (``build_request`` with this mailer's options)."""
        return build_request(message, self.options)

    def parse_response(
        self, message: Message, status: int, headers: Mapping[str, str], body: bytes
    ) -> SendResult:
        """Postmark's answer as a SendResult, or the classified error raised."""
        return parse_response(message, status, headers, body)
