"""Mailgun through its Messages API: ``MailgunMailer``.

One request per message, ``multipart/form-data`` with HTTP Basic auth (user ``api``,
password the API key), to one of two endpoints:

- ``POST {base_url}/v3/{domain}/messages``, the form API: Mailgun builds the MIME from
  fields (from, to, cc, bcc, subject, text, html, attachment, inline, ``h:`` headers);
- ``POST {base_url}/v3/{domain}/messages.mime``: our own MIME (``to_bytes``, the same
  bytes SMTPMailer sends) as the ``message`` file, and the envelope recipients as ``to``.

Mailgun answers ``200 {"id": "<...>", "message": "Queued. Thank you."}``. The EU region
is ``base_url="https://api.eu.mailgun.net"`` (``MAILGUN_EU_URL``).

API reference (fields, responses, limits):
https://documentation.mailgun.com/docs/mailgun/api-reference/send/mailgun/messages
https://documentation.mailgun.com/docs/mailgun/user-manual/sending-messages/send-attachments
https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/track-tagging
https://documentation.mailgun.com/docs/mailgun/quickstart-guide/responses

Which endpoint (the ``mime`` option): ``None``, the default, uses the form API unless the
message needs what only the MIME endpoint expresses faithfully (``form_problem``): a
retry to a subset of its recipients (``envelope_to``: the form's to/cc are both header and
envelope), an inline part whose Content-ID differs from its filename (Mailgun uses the
filename as the Content-ID), a file without a name, text parts other than one text/plain
and one text/html, or no text at all. ``True`` always sends our MIME. ``False`` always
uses the form API: an inline part is then renamed to its Content-ID (so ``cid:``
references still resolve; its file name is what changes) and the rest of that list
raises UnsupportedFeature.

How a Message becomes the request (form API; the MIME endpoint gets the same ``o:`` and
``h:X-Mailgun-Variables`` fields beside the MIME):

==========================  ===============================================================
Message field               Mailgun field
==========================  ===============================================================
from_email                  ``from`` ("Name <addr>", domain as A-labels)
to, cc, bcc                 ``to`` / ``cc`` / ``bcc``, one field per address
reply_to                    ``h:Reply-To``
subject                     ``subject``
body, alternatives          ``text`` and ``html`` (empty ones left out)
attachments                 ``attachment`` files; inline parts ``inline`` files
headers                     ``h:<Name>`` (non-ASCII values as RFC 2047 encoded words)
message_id                  ``h:Message-Id`` (Mailgun has no idempotency key)
tags                        ``o:tag``, one field each (at most 3, ASCII, 128 characters)
metadata                    ``h:X-Mailgun-Variables``, one JSON object of strings (``v:``
                            fields would be read as JSON: "123" would become a number);
                            the key ``proper_mail_id`` is reserved (UnsupportedFeature)
message_id (echo)           ``proper_mail_id`` in ``h:X-Mailgun-Variables`` too, without
                            angle brackets: events echo user variables
                            (``user-variables``), not custom headers (``echo.py``); left
                            out if it alone would pass the 16 KB limit of o:/h:/v:/t:
envelope_to                 the MIME endpoint, whose ``to`` is the envelope
envelope_from               UnsupportedFeature unless it is the From address (Mailgun sets
                            the bounce address itself)
date, charset, expires      not sent on the form API (Mailgun dates and encodes what it
                            builds); in our MIME on the MIME endpoint
test_mode=True              ``o:testmode=yes``
provider_options            form fields (``"o:tracking": "no"``), replacing ours of the
                            same name: a list is one field per item, True/False are
                            yes/no, an object is JSON text, None removes the field
==========================  ===============================================================
"""

from __future__ import annotations

import base64
import json
import random
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Final

import attrs

from ..core.addresses import Address, domain_to_ascii, normalize_domain
from ..core.headers import encode_words
from ..core.mime import envelope_of, to_bytes
from ..core.records import Attachment, Message, SendResult
from ..errors import ConfigError, MessageError, PermanentDeliveryError
from .echo import ECHO_KEY, check_reserved, echo_value
from .http import (
    HttpMailer,
    HttpRequest,
    Secret,
    all_accepted,
    ascii_mailbox,
    check_envelope_from,
    decode_json,
    merged_options,
    status_error,
    unsupported,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "MAILGUN_EU_URL",
    "MAILGUN_URL",
    "FormPart",
    "MailgunMailer",
    "MailgunOptions",
    "build_request",
    "encode_form",
    "form_problem",
    "parse_response",
]

PROVIDER = "mailgun"
#: Request fields built from the message: provider_options may not replace them.
RESERVED: Final = frozenset(
    {
        "from",
        "to",
        "cc",
        "bcc",
        "text",
        "html",
        "attachment",
        "inline",
        "message",
        "h:reply-to",
        "h:message-id",
        "h:x-mailgun-variables",
    }
)
MAILGUN_URL = "https://api.mailgun.net"
MAILGUN_EU_URL = "https://api.eu.mailgun.net"

MAX_RECIPIENTS = 1000
MAX_TAGS = 3
MAX_TAG_LENGTH = 128
#: Fields starting with o:, h:, v: or t: may hold this many bytes in total.
MAX_OPTIONS_BYTES = 16 * 1024

_OPTION_PREFIXES = ("o:", "h:", "v:", "t:")
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,./:=?-]{1,70}")  # RFC 2046 bchars, no space
# "... try again after 120 seconds" (a 429's message, when it has no Retry-After).
_TRY_AGAIN_AFTER = re.compile(r"try again after (\d+) seconds?")


@attrs.frozen
class FormPart:
    """One field of a multipart/form-data body: text, or a file when it has a filename."""

    name: str
    value: str | bytes = attrs.field(repr=lambda v: f"<{len(v)}>")
    filename: str | None = None
    content_type: str | None = None


@attrs.frozen
class MailgunOptions:
    """What a MailgunMailer sends with: its credentials and settings.

    Attributes:
        api_key: the API key (Basic auth password, user ``api``).
        domain: the sending domain registered at Mailgun (``mg.example.com``).
        base_url: the API root: ``MAILGUN_URL``, ``MAILGUN_EU_URL`` or a test server.
        test_mode: ``o:testmode``: Mailgun accepts the message and does not deliver it.
        mime: the endpoint: None (the form API unless the message needs the MIME
            endpoint), True (always MIME), False (always the form API).
        provider_options: form fields added to every request (a message's own
            ``provider_options["mailgun"]`` win).
    """

    api_key: Secret
    domain: str
    base_url: str = MAILGUN_URL
    test_mode: bool = False
    mime: bool | None = None
    provider_options: Mapping[str, Any] = attrs.field(factory=dict, hash=False)


def build_request(message: Message, options: MailgunOptions, *, boundary: str) -> HttpRequest:
    """The Messages request for *message* (pure: the multipart *boundary* is drawn by the
    caller); UnsupportedFeature for what Mailgun cannot express."""
    _check_addresses(message)
    check_envelope_from(
        PROVIDER, message, "Mailgun sets the bounce address itself (no per-message envelope sender)"
    )
    if options.mime is False:
        message = _inline_renamed(message)
        problem = form_problem(message)
        if problem is not None:
            raise unsupported(PROVIDER, *problem)
        use_mime = False
    else:
        use_mime = options.mime is True or form_problem(message) is not None
    base = _mime_parts(message) if use_mime else _form_parts(message)
    extra = merged_options(message, PROVIDER, options.provider_options, RESERVED)
    parts = _with_options([*base, *_send_options(message, options, echo=True)], extra)
    if _options_size(parts) > MAX_OPTIONS_BYTES:  # our Message-ID never refuses a message
        parts = _with_options([*base, *_send_options(message, options, echo=False)], extra)
        _check_options_size(parts)
    endpoint = "messages.mime" if use_mime else "messages"
    credentials = base64.b64encode(f"api:{options.api_key.reveal()}".encode()).decode("ascii")
    return HttpRequest(
        method="POST",
        url=f"{options.base_url}/v3/{options.domain}/{endpoint}",
        headers=(
            ("Authorization", f"Basic {credentials}"),
            ("Content-Type", f"multipart/form-data; boundary={boundary}"),
            ("Accept", "application/json"),
        ),
        body=encode_form(parts, boundary),
    )


def parse_response(
    message: Message, status: int, headers: Mapping[str, str], body: bytes
) -> SendResult:
    """The SendResult for Mailgun's answer (every recipient queued, ``provider_id`` its
    ``id``), or the classified error with Mailgun's ``message`` raised (pure)."""
    data = decode_json(body)
    if 200 <= status < 300:
        provider_id = data.get("id") if isinstance(data, dict) else None
        return all_accepted(
            message,
            provider_id if isinstance(provider_id, str) else None,
            state="queued",
            code=status,
        )
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        detail = data["message"]
    elif isinstance(data, str):
        detail = data
    else:
        detail = body[:500].decode("utf-8", "replace")
    if status == 429 and not any(k.lower() == "retry-after" for k in headers):
        wait = _TRY_AGAIN_AFTER.search(detail)
        if wait is not None:
            headers = {**headers, "Retry-After": wait[1]}
    raise status_error(PROVIDER, status, headers, detail)


class MailgunMailer(HttpMailer):
    """Sends through Mailgun's Messages API (see the module for the field mapping).

    Options (keyword-only, from MAILERS): ``api_key`` and ``domain`` (required),
    ``test_mode`` (``o:testmode``), ``mime`` (None, True or False: which endpoint, see
    the module), ``base_url`` (``MAILGUN_EU_URL`` for the EU region), and those of every
    HTTP mailer: ``timeout``, ``http2``, ``provider_options``, ``client``,
    ``fail_silently``.
    """

    provider: ClassVar[str] = PROVIDER
    default_base_url: ClassVar[str] = MAILGUN_URL

    def __init__(
        self,
        *,
        api_key: str | Secret,
        domain: str,
        test_mode: bool = False,
        mime: bool | None = None,
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
        if not isinstance(test_mode, bool):
            raise ConfigError(f"test_mode must be True or False, not {test_mode!r}")
        if mime is not None and not isinstance(mime, bool):
            raise ConfigError(f"mime must be None, True or False, not {mime!r}")
        self.options = MailgunOptions(
            api_key=Secret.of("api_key", api_key),
            domain=_check_domain(domain),
            base_url=self.base_url,
            test_mode=test_mode,
            mime=mime,
            provider_options=self.provider_options,
        )

    def build_request(self, message: Message) -> HttpRequest:
        """The Messages request for *message*, with a fresh multipart boundary."""
        # 128 random bits (not a secret: uniqueness is all a boundary needs, and
        # random avoids a syscall per message); encode_form refuses a boundary found in a
        # part, so one more draw settles the (astronomically unlikely) clash.
        for _ in range(3):
            try:
                return build_request(
                    message, self.options, boundary=f"pm-{random.getrandbits(128):032x}"
                )
            except BoundaryClashError:
                continue
        raise PermanentDeliveryError("mailgun: no multipart boundary fits this message")

    def parse_response(
        self, message: Message, status: int, headers: Mapping[str, str], body: bytes
    ) -> SendResult:
        """Mailgun's answer as a SendResult, or the classified error."""
        return parse_response(message, status, headers, body)


def _check_domain(domain: object) -> str:
    if not isinstance(domain, str) or not domain.strip():
        raise ConfigError(
            f"domain must be your Mailgun sending domain (a str), not {type(domain).__name__}"
        )
    try:
        return domain_to_ascii(normalize_domain(domain.strip(), field="domain"))
    except MessageError as e:
        raise ConfigError(f"domain: {e.reason}: {domain!r}") from None


# -- which endpoint -------------------------------------------------------------------


def form_problem(message: Message) -> tuple[str, object, str] | None:
    """Why the form API cannot send *message* faithfully, as (field, value, reason), or
    None when it can."""
    if message.envelope_to and len(envelope_of(message).recipients) < len(
        envelope_of(attrs.evolve(message, envelope_to=())).recipients
    ):
        return (
            "envelope_to",
            message.envelope_to,
            "the form API sends to every address it shows (to, cc): a retry to some of "
            "them needs the MIME endpoint (mime=None or True)",
        )
    if not message.to:
        return ("to", (), "the form API needs a To address (Cc or Bcc only needs MIME)")
    texts = [(f"text/{message.content_subtype}", message.body)]
    texts.extend((alt.mimetype, alt.content) for alt in message.alternatives)
    types = [mimetype for mimetype, _ in texts]
    for mimetype in types:
        if mimetype not in ("text/plain", "text/html") or types.count(mimetype) > 1:
            return (
                "alternatives",
                mimetype,
                "the form API takes one text/plain and one text/html body",
            )
    if not any(text for _, text in texts):
        return ("body", "", "the form API needs a text or html body")
    for i, att in enumerate(message.attachments):
        if not att.filename:
            return (f"attachments[{i}].filename", "", "the form API sends a file by its name")
        if att.disposition == "inline" and att.content_id and att.content_id != att.filename:
            return (
                f"attachments[{i}].content_id",
                att.content_id,
                "the form API uses an inline file's name as its Content-ID",
            )
    return None


def _inline_renamed(message: Message) -> Message:
    """*message* with each inline part named after its Content-ID (the form API's rule)."""
    if not any(a.disposition == "inline" and a.content_id for a in message.attachments):
        return message
    return attrs.evolve(
        message,
        attachments=tuple(
            attrs.evolve(a, filename=a.content_id)
            if a.disposition == "inline" and a.content_id
            else a
            for a in message.attachments
        ),
    )


# -- the fields -----------------------------------------------------------------------


def _form_parts(message: Message) -> list[FormPart]:
    parts = [FormPart("from", _mailbox(message.from_email))]
    for field, addresses in (("to", message.to), ("cc", message.cc), ("bcc", message.bcc)):
        parts.extend(FormPart(field, _mailbox(address)) for address in addresses)
    parts.append(FormPart("subject", message.subject))
    texts: list[tuple[str, str]] = [(message.content_subtype, message.body)]
    texts.extend((alt.mimetype.removeprefix("text/"), alt.content) for alt in message.alternatives)
    for subtype in ("plain", "html"):
        for kind, text in texts:
            if kind == subtype and text:
                parts.append(FormPart("text" if subtype == "plain" else "html", text))
    if message.reply_to:
        parts.append(FormPart("h:Reply-To", ", ".join(_mailbox(a) for a in message.reply_to)))
    parts.extend(FormPart(f"h:{name}", _header_text(value)) for name, value in message.headers)
    parts.append(FormPart("h:Message-Id", message.message_id))
    parts.extend(_file(att) for att in message.attachments)
    return parts


def _file(att: Attachment) -> FormPart:
    name = "inline" if att.disposition == "inline" else "attachment"
    return FormPart(name, att.content, att.filename, att.mimetype)


def _mime_parts(message: Message) -> list[FormPart]:
    parts = [FormPart("to", address) for address in envelope_of(message).recipients]
    parts.append(FormPart("message", to_bytes(message), "message.mime", "message/rfc822"))
    return parts


def _send_options(message: Message, options: MailgunOptions, *, echo: bool) -> list[FormPart]:
    """Tags, user variables (the metadata, and our Message-ID when *echo*) and test mode."""
    tags = list(dict.fromkeys(tag.lower() for tag in message.tags))  # case-insensitive
    if len(tags) > MAX_TAGS:
        raise unsupported(
            PROVIDER, "tags", message.tags, f"Mailgun takes at most {MAX_TAGS} tags per message"
        )
    for tag in message.tags:
        if not tag.isascii() or len(tag) > MAX_TAG_LENGTH:
            raise unsupported(
                PROVIDER,
                "tags",
                tag,
                f"a Mailgun tag is ASCII, at most {MAX_TAG_LENGTH} characters",
            )
    parts = [FormPart("o:tag", tag) for tag in dict.fromkeys(message.tags)]
    check_reserved(PROVIDER, "metadata", (key for key, _ in message.metadata))
    variables = dict(message.metadata)
    if echo:
        variables[ECHO_KEY] = echo_value(message.message_id)
    if variables:
        text = json.dumps(variables, ensure_ascii=False)
        parts.append(FormPart("h:X-Mailgun-Variables", text))
    if options.test_mode:
        parts.append(FormPart("o:testmode", "yes"))
    return parts


def _with_options(parts: list[FormPart], extra: Mapping[str, Any]) -> list[FormPart]:
    """*parts* with the provider options as fields, each replacing ours of its name."""
    if not extra:
        return parts
    result = [part for part in parts if part.name not in extra]
    for name, value in extra.items():
        if any(c in name for c in '\r\n"\\'):
            raise unsupported(PROVIDER, "provider_options", name, "not a form field name")
        values = value if isinstance(value, list) else [value]
        result.extend(FormPart(name, _option_text(item)) for item in values if item is not None)
    return result


def _option_text(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _options_size(parts: list[FormPart]) -> int:
    return sum(
        _octets(part.name) + _octets(part.value)
        for part in parts
        if part.name.startswith(_OPTION_PREFIXES)
    )


def _octets(value: str | bytes) -> int:
    """The UTF-8 size of *value* (without encoding ASCII, the usual case)."""
    if isinstance(value, bytes) or value.isascii():
        return len(value)
    return len(value.encode())


def _check_options_size(parts: list[FormPart]) -> None:
    size = _options_size(parts)
    if size > MAX_OPTIONS_BYTES:
        raise unsupported(
            PROVIDER,
            "headers",
            f"{size} bytes of headers, tags and metadata",
            f"Mailgun limits o:, h:, v: and t: fields to {MAX_OPTIONS_BYTES // 1024} KB in total",
        )


def _check_addresses(message: Message) -> None:
    for field, addresses in (
        ("from_email", (message.from_email,)),
        ("to", message.to),
        ("cc", message.cc),
        ("bcc", message.bcc),
        ("reply_to", message.reply_to),
    ):
        for address in addresses:
            if not address.local_part.isascii():
                raise unsupported(
                    PROVIDER,
                    field,
                    str(address),
                    "Mailgun does not accept a non-ASCII local part (SMTPUTF8)",
                )
    # The envelope (deduplicated) is never longer than the recipient fields: build it
    # only when those are over the limit.
    count = len(message.recipients)
    if count > MAX_RECIPIENTS:
        count = len(envelope_of(message).recipients)
    if count > MAX_RECIPIENTS:
        raise unsupported(
            PROVIDER,
            "to",
            f"{count} recipients",
            f"Mailgun takes at most {MAX_RECIPIENTS} recipients per message",
        )


def _mailbox(address: Address) -> str:
    """``Name <local@domain>``, the name quoted when needed, the domain as A-labels."""
    return ascii_mailbox(address)


def _header_text(value: str) -> str:
    """*value* as Mailgun passes it through, unencoded: ASCII, non-ASCII text as RFC 2047
    encoded words."""
    return value if value.isascii() else " ".join(encode_words(value))


# -- multipart/form-data --------------------------------------------------------------


class BoundaryClashError(ValueError):
    """The multipart boundary occurs inside a part: draw another."""


def encode_form(parts: Sequence[FormPart], boundary: str) -> bytes:
    """*parts* as a multipart/form-data body (RFC 7578) delimited by *boundary*.

    Names and filenames are quoted strings (UTF-8, ``"`` and ``\\`` escaped with a
    backslash, as Go's and Python's parsers read them). ValueError for a bad boundary,
    or one that occurs in a part (draw another).
    """
    if not _BOUNDARY.fullmatch(boundary):
        raise ValueError(f"not a multipart boundary: {boundary!r}")
    delimiter = b"--" + boundary.encode("ascii")
    chunks: list[bytes] = []
    for part in parts:
        value = _bytes(part.value)
        if delimiter in value:
            raise BoundaryClashError("the multipart boundary occurs in a part: draw another")
        head = f'Content-Disposition: form-data; name="{_quoted(part.name)}"'
        if part.filename is not None:
            head += f'; filename="{_quoted(part.filename)}"'
        if part.content_type is not None:
            head += f"\r\nContent-Type: {part.content_type}"
        chunks.extend((delimiter, b"\r\n", head.encode("utf-8"), b"\r\n\r\n", value, b"\r\n"))
    chunks.extend((delimiter, b"--\r\n"))
    return b"".join(chunks)


def _bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def _quoted(text: str) -> str:
    if '"' not in text and "\\" not in text:
        return text
    return text.replace("\\", "\\\\").replace('"', '\\"')
