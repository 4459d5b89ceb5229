"""SendGrid (Twilio SendGrid) through its v3 Mail Send API: ``SendGridMailer``.

One request per message: ``POST {base_url}/v3/mail/send`` with ``Authorization: Bearer
<api_key>`` and a JSON body; SendGrid answers ``202 Accepted`` with an empty body and
its message id in the ``X-Message-Id`` header. The EU region is ``base_url=
"https://api.eu.sendgrid.com"`` (``SENDGRID_EU_URL``).

API reference (request body, limits, errors):
https://www.twilio.com/docs/sendgrid/api-reference/mail-send/mail-send
https://www.twilio.com/docs/sendgrid/api-reference/mail-send/errors

How a Message becomes the request body:

==========================  ===============================================================
Message field               SendGrid field
==========================  ===============================================================
from_email                  ``from`` ``{email, name}``
to, cc, bcc                 ``personalizations[0].to / cc / bcc`` ``[{email, name}]``; a
                            name with ``,`` or ``;`` is sent in double quotes (SendGrid
                            splits such names otherwise, see its Limitations)
reply_to                    ``reply_to`` (one address) or ``reply_to_list`` (several)
subject                     ``subject`` (SendGrid refuses an empty one: UnsupportedFeature)
body, alternatives          ``content [{type, value}]``: text/plain first, then text/html,
                            then other text types; empty parts are left out
attachments                 ``attachments [{content (base64), type, filename,
                            disposition, content_id}]``
headers                     ``headers {name: value}`` (non-ASCII values as RFC 2047
                            encoded words); SendGrid's reserved names: UnsupportedFeature
message_id                  ``headers["Message-ID"]`` (SendGrid has no idempotency key)
tags                        ``categories`` (at most 10, ASCII, 255 characters each)
metadata                    ``custom_args`` (string values, under 10,000 bytes); the key
                            ``proper_mail_id`` is reserved (UnsupportedFeature)
message_id (echo)           ``custom_args["proper_mail_id"]``, without angle brackets:
                            events echo custom args, not headers (``echo.py``); left out
                            when it would take custom_args to 10,000 bytes
envelope_to                 the personalization lists only the recipients of this request
envelope_from               UnsupportedFeature unless it is the From address (SendGrid
                            sets the bounce address itself)
date, charset, expires      not sent: SendGrid dates and encodes the message it sends;
                            ``expires`` is enforced before a message reaches a mailer
sandbox=True                ``mail_settings.sandbox_mode.enable``
provider_options            merged into the body last, objects key by key (so
                            ``{"mail_settings": {"footer": ...}}`` keeps the sandbox
                            setting); a message's option replaces the mailer's of its name
==========================  ===============================================================

Recipients: SendGrid refuses an address listed twice in a request, so an address given
in both to and cc (say) is sent once, where it first appears, as the SMTP envelope would
(``envelope_of``). SendGrid builds the To and Cc headers from the personalization, so a
retry to a subset of the recipients (``envelope_to``) shows only that subset; when none
of them was in To, each gets a copy of its own with itself in To (SendGrid requires a
To), so no Bcc recipient ever sees another address.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from ..core.addresses import Address, prep_address
from ..core.headers import encode_words
from ..core.mime import envelope_of
from ..core.records import Attachment, Message, RecipientStatus, SendResult
from ..errors import ConfigError
from .echo import ECHO_KEY, check_reserved, echo_value
from .http import (
    HttpMailer,
    HttpRequest,
    Secret,
    all_accepted,
    check_envelope_from,
    decode_json,
    json_request,
    merged_options,
    status_error,
    unsupported,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "SENDGRID_EU_URL",
    "SENDGRID_URL",
    "SendGridMailer",
    "SendGridOptions",
    "build_request",
    "parse_response",
    "personalizations_of",
]

PROVIDER = "sendgrid"
#: Request fields built from the message: provider_options may not replace them.
RESERVED: Final = frozenset(
    {
        "personalizations",
        "from",
        "reply_to",
        "reply_to_list",
        "content",
        "attachments",
        "headers",
        "custom_args",
    }
)
SENDGRID_URL = "https://api.sendgrid.com"
SENDGRID_EU_URL = "https://api.eu.sendgrid.com"

#: Header names the Mail Send API refuses in ``headers`` (its errors page, "Headers").
RESERVED_HEADERS = frozenset(
    {
        "x-sg-id",
        "x-sg-eid",
        "received",
        "dkim-signature",
        "content-type",
        "content-transfer-encoding",
        "to",
        "from",
        "subject",
        "reply-to",
        "cc",
        "bcc",
    }
)
MAX_RECIPIENTS = 1000  # to + cc + bcc, per request
MAX_CATEGORIES = 10
MAX_CATEGORY_LENGTH = 255
MAX_CUSTOM_ARGS_BYTES = 10_000

_CONTENT_RANK = {"text/plain": 0, "text/html": 1}
# "personalizations.0.to.1.email": the recipient a 400 is about.
_RECIPIENT_FIELD = re.compile(r"personalizations\.(\d+)\.(to|cc|bcc)\.(\d+)")


@attrs.frozen
class SendGridOptions:
    """What a SendGridMailer sends with: its credentials and settings.

    Attributes:
        api_key: the API key (Mail Send permission), sent as a Bearer token.
        base_url: the API root: ``SENDGRID_URL``, ``SENDGRID_EU_URL`` or a test server.
        sandbox: ask SendGrid to validate each request without delivering it.
        provider_options: request fields merged into every body (a message's own
            ``provider_options["sendgrid"]`` win).
    """

    api_key: Secret
    base_url: str = SENDGRID_URL
    sandbox: bool = False
    provider_options: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


def build_request(message: Message, options: SendGridOptions) -> HttpRequest:
    """The Mail Send request for *message* (pure); UnsupportedFeature for what SendGrid
    cannot express."""
    payload: dict[str, Any] = {
        "personalizations": personalizations_of(message),
        "from": _mailbox(message.from_email, "from_email"),
    }
    reply_to: dict[str, dict[str, str]] = {}
    for address in message.reply_to:  # SendGrid refuses a repeated address: each once
        mailbox = _mailbox(address, "reply_to")
        reply_to.setdefault(mailbox["email"].lower(), mailbox)
    if len(reply_to) == 1:
        payload["reply_to"] = next(iter(reply_to.values()))
    elif reply_to:
        payload["reply_to_list"] = list(reply_to.values())
    if not message.subject:
        raise unsupported(PROVIDER, "subject", "", "SendGrid refuses a message without a subject")
    payload["subject"] = message.subject
    payload["content"] = _content(message)
    if message.attachments:
        payload["attachments"] = [_attachment(i, a) for i, a in enumerate(message.attachments)]
    payload["headers"] = _headers(message)
    if message.tags:
        payload["categories"] = _categories(message.tags)
    custom_args = _custom_args(message)
    if custom_args:
        payload["custom_args"] = custom_args
    check_envelope_from(
        PROVIDER,
        message,
        "SendGrid sets the bounce address itself (no per-message envelope sender)",
    )
    if options.sandbox:
        payload["mail_settings"] = {"sandbox_mode": {"enable": True}}
    extra = merged_options(message, PROVIDER, options.provider_options, RESERVED)
    return json_request(
        "POST",
        f"{options.base_url}/v3/mail/send",
        _merge(payload, extra),
        (("Authorization", f"Bearer {options.api_key.reveal()}"),),
    )


def parse_response(
    message: Message, status: int, headers: Mapping[str, str], body: bytes
) -> SendResult:
    """The SendResult for SendGrid's answer, or the classified error raised (pure).

    202: every recipient queued, ``provider_id`` from ``X-Message-Id``. 200: sandbox mode,
    the request was valid and nothing was delivered. Errors carry SendGrid's
    ``errors[].message`` (and field); a 400 about one recipient marks it rejected.
    """
    if 200 <= status < 300:
        provider_id = _header(headers, "x-message-id")
        if status != 200:
            return all_accepted(message, provider_id, state="queued", code=status)
        result = all_accepted(message, provider_id, state="sent", code=status)
        detail = "sandbox mode: validated, not delivered"
        return attrs.evolve(
            result, recipients=tuple(attrs.evolve(r, detail=detail) for r in result.recipients)
        )
    errors = _errors_of(body)
    detail = "; ".join(_error_text(e) for e in errors) if errors else _text_of(body)
    recipients = _rejected(message, status, errors) if status == 400 else ()
    raise status_error(PROVIDER, status, headers, detail, recipients=recipients)


class SendGridMailer(HttpMailer):
    """Sends through SendGrid's v3 Mail Send API (see the module for the field mapping).

    Options (keyword-only, from MAILERS): ``api_key`` (required), ``sandbox`` (validate
    without delivering), ``base_url`` (``SENDGRID_EU_URL`` for the EU region), and those
    of every HTTP mailer: ``timeout``, ``http2``, ``provider_options``, ``client``,
    ``fail_silently``.
    """

    provider: ClassVar[str] = PROVIDER
    default_base_url: ClassVar[str] = SENDGRID_URL

    def __init__(
        self,
        *,
        api_key: str | Secret,
        sandbox: bool = False,
        base_url: str | None = None,
        timeout: float = 30.0,
        http2: bool = False,
        provider_options: Mapping[str, Any] | None = None,
        client: httpx.Client | None = None,
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
        if not isinstance(sandbox, bool):
            raise ConfigError(f"sandbox must be True or False, not {sandbox!r}")
        self.options = SendGridOptions(
            api_key=Secret.of("api_key", api_key),
            base_url=self.base_url,
            sandbox=sandbox,
            provider_options=self.provider_options,
        )

    def build_request(self, message: Message) -> HttpRequest:
        """The Mail Send request for *message*."""
        return build_request(message, self.options)

    def parse_response(
        self, message: Message, status: int, headers: Mapping[str, str], body: bytes
    ) -> SendResult:
        """SendGrid's answer as a SendResult, or the classified error."""
        return parse_response(message, status, headers, body)


# -- the request ----------------------------------------------------------------------


def personalizations_of(message: Message) -> list[dict[str, Any]]:
    """The ``personalizations`` of *message*: its envelope recipients, each once, in
    their own field (see the module docstring for duplicates and ``envelope_to``)."""
    listed = [
        (field, address, _email(address, field))
        for field, addresses in (("to", message.to), ("cc", message.cc), ("bcc", message.bcc))
        for address in addresses
    ]
    wanted = set(envelope_of(message).recipients) if message.envelope_to else None
    seen: set[str] = set()
    fields: dict[str, list[dict[str, str]]] = {"to": [], "cc": [], "bcc": []}
    for field, address, email in listed:
        if (wanted is not None and email not in wanted) or email.lower() in seen:
            continue
        seen.add(email.lower())
        fields[field].append(_recipient(address, email))
    if len(seen) > MAX_RECIPIENTS:
        raise unsupported(
            PROVIDER,
            "to",
            f"{len(seen)} recipients",
            f"SendGrid takes at most {MAX_RECIPIENTS} recipients (to + cc + bcc) per message",
        )
    if fields["to"]:
        return [{name: value for name, value in fields.items() if value}]
    return [{"to": [recipient]} for recipient in (*fields["cc"], *fields["bcc"])]


def _email(address: Address, field: str) -> str:
    """The addr-spec SendGrid gets: ASCII, the domain as A-labels."""
    if not address.local_part.isascii():
        raise unsupported(
            PROVIDER,
            field,
            str(address),
            "SendGrid does not accept a non-ASCII local part (SMTPUTF8)",
        )
    return prep_address(address)


def _mailbox(address: Address, field: str) -> dict[str, str]:
    mailbox = {"email": _email(address, field)}
    if address.display_name:
        mailbox["name"] = address.display_name
    return mailbox


def _recipient(address: Address, email: str) -> dict[str, str]:
    """A to/cc/bcc entry. SendGrid puts these names in the header without quoting them,
    so a name with "," or ";" would be split into two addresses: quote it ourselves."""
    recipient = {"email": email}
    name = address.display_name
    if name:
        if "," in name or ";" in name:
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        recipient["name"] = name
    return recipient


def _content(message: Message) -> list[dict[str, str]]:
    parts = [(f"text/{message.content_subtype}", message.body)]
    parts.extend((alt.mimetype, alt.content) for alt in message.alternatives)
    # SendGrid refuses an empty value; an empty part carries nothing, so it is left out.
    parts = [(mimetype, text) for mimetype, text in parts if text]
    if not parts:
        raise unsupported(PROVIDER, "body", "", "SendGrid refuses a message without any text")
    types = [mimetype for mimetype, _ in parts]
    for mimetype in types:
        if types.count(mimetype) > 1:
            raise unsupported(
                PROVIDER, "alternatives", mimetype, "SendGrid takes one content part per type"
            )
    parts.sort(key=lambda part: _CONTENT_RANK.get(part[0], 2))  # stable: plain, html, others
    return [{"type": mimetype, "value": text} for mimetype, text in parts]


def _attachment(index: int, att: Attachment) -> dict[str, str]:
    field = f"attachments[{index}]"
    if not att.filename:
        raise unsupported(
            PROVIDER, f"{field}.filename", "", "SendGrid requires a filename for every file"
        )
    if not att.content:
        raise unsupported(PROVIDER, f"{field}.content", b"", "SendGrid refuses an empty file")
    item = {
        "content": base64.b64encode(att.content).decode("ascii"),
        "type": att.mimetype,
        "filename": att.filename,
        "disposition": att.disposition,
    }
    if att.content_id:
        item["content_id"] = att.content_id
    return item


def _headers(message: Message) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value in message.headers:
        if name.lower() in RESERVED_HEADERS:
            raise unsupported(PROVIDER, "headers", name, "SendGrid reserves this header")
        if any(name.lower() == other.lower() for other in headers):
            raise unsupported(PROVIDER, "headers", name, "SendGrid takes each header once")
        headers[name] = _header_text(value)
    headers["Message-ID"] = message.message_id
    return headers


def _header_text(value: str) -> str:
    """*value* as SendGrid passes it through, unencoded: ASCII, non-ASCII text as RFC 2047
    encoded words."""
    return value if value.isascii() else " ".join(encode_words(value))


def _categories(tags: tuple[str, ...]) -> list[str]:
    categories = list(dict.fromkeys(tags))  # SendGrid refuses a repeated category
    if len(categories) > MAX_CATEGORIES:
        raise unsupported(
            PROVIDER, "tags", tags, f"SendGrid takes at most {MAX_CATEGORIES} categories"
        )
    for tag in categories:
        if not tag.isascii() or len(tag) > MAX_CATEGORY_LENGTH:
            raise unsupported(
                PROVIDER,
                "tags",
                tag,
                f"a SendGrid category is ASCII, at most {MAX_CATEGORY_LENGTH} characters",
            )
    return categories


def _custom_args(message: Message) -> dict[str, str]:
    """The metadata, then our Message-ID (which SendGrid echoes in every event) when it
    keeps custom_args under SendGrid's limit."""
    check_reserved(PROVIDER, "metadata", (key for key, _ in message.metadata))
    custom_args = dict(message.metadata)
    size = _size(custom_args)
    if size >= MAX_CUSTOM_ARGS_BYTES:
        raise unsupported(
            PROVIDER,
            "metadata",
            f"{size} bytes",
            f"SendGrid's custom_args must stay under {MAX_CUSTOM_ARGS_BYTES:,} bytes",
        )
    with_echo = {**custom_args, ECHO_KEY: echo_value(message.message_id)}
    return with_echo if _size(with_echo) < MAX_CUSTOM_ARGS_BYTES else custom_args


def _size(custom_args: dict[str, str]) -> int:
    return len(json.dumps(custom_args, ensure_ascii=False).encode("utf-8"))


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """*base* with *extra* merged in: objects key by key, anything else replaced."""
    merged = dict(base)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, dict):
            merged[key] = _merge(current, value)
        else:
            merged[key] = value
    return merged


# -- the response ---------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), None)
    return value


def _errors_of(body: bytes) -> list[dict[str, Any]]:
    data = decode_json(body)
    errors = data.get("errors") if isinstance(data, dict) else None
    if not isinstance(errors, list):
        return []
    return [e for e in errors if isinstance(e, dict)]


def _error_text(error: Mapping[str, Any]) -> str:
    message = str(error.get("message") or "no message")
    field = error.get("field")
    return f"{field}: {message}" if field and field != "null" else message


def _text_of(body: bytes) -> str:
    return body[:500].decode("utf-8", "replace")


def _rejected(
    message: Message, status: int, errors: list[dict[str, Any]]
) -> tuple[RecipientStatus, ...]:
    """Per-recipient statuses when SendGrid names recipients (``personalizations.0.to.1
    .email``): those rejected, every other one failed with the request; () otherwise."""
    layout = personalizations_of(message)
    named: dict[str, str] = {}
    for error in errors:
        match = _RECIPIENT_FIELD.match(str(error.get("field") or ""))
        if match is None:
            continue
        index, field, position = int(match[1]), match[2], int(match[3])
        entries = layout[index].get(field, []) if index < len(layout) else []
        if position < len(entries):
            named.setdefault(entries[position]["email"].lower(), _error_text(error))
    if not named:
        return ()
    statuses = []
    for address in envelope_of(message).recipients:
        reason = named.get(address.lower())
        if reason is not None:
            statuses.append(RecipientStatus(address, "rejected", status, reason))
        else:
            statuses.append(
                RecipientStatus(address, "failed", status, "not sent: the request was refused")
            )
    return tuple(statuses)
