"""``compose()``: fields + defaults -> one validated, immutable ``Message``.

Pure: the Date and the Message-ID token come in through a ``Stamp`` made by the shell.
Every check that can fail happens here, at compose time, so a message that was composed
can always be rendered and sent (a worker never meets a malformed message).
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import re
from collections.abc import Iterable, Mapping
from typing import cast

import attrs

from ..errors import ConfigError, InvalidAddress, InvalidHeader, MessageError, shorten
from .addresses import Address, check_header_text, domain_to_ascii, normalize_domain
from .records import Alternative, Attachment, ContentSubtype, Defaults, Headers, Message, Stamp

__all__ = [
    "DEFAULT_OPTION_KEYS",
    "NO_DEFAULTS",
    "RESERVED_HEADERS",
    "AddressInput",
    "HeadersInput",
    "clean_filename",
    "compose",
    "defaults_from_options",
    "inline_part",
    "layer_defaults",
    "merge_headers",
    "parse_addresses",
]

AddressInput = str | Address | Iterable[str | Address] | None
HeadersInput = Mapping[str, object] | Iterable[tuple[str, object]] | None

NO_DEFAULTS = Defaults()
DEFAULT_OPTION_KEYS = ("from", "subject", "to", "bcc", "cc", "reply_to", "headers")

# Header names that a field sets, or that the MIME structure owns.
RESERVED_HEADERS: Mapping[str, str] = {
    "from": "pass from_email=",
    "to": "pass to=",
    "cc": "pass cc=",
    "bcc": "pass bcc= (Bcc is never a header)",
    "reply-to": "pass reply_to=",
    "subject": "pass subject=",
    "date": "pass date=",
    "message-id": "pass message_id=",
    "mime-version": "it is set from the message's structure",
    "content-type": "it is set from the message's structure",
    "content-transfer-encoding": "it is set from the message's structure",
    "content-disposition": "it is set from the message's structure",
    "content-id": "it is set from the message's structure",
}

_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 ftext: printable ASCII except ":"
_MIMETYPE = re.compile(r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*")
_ID_PART = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*")
_FILENAME_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_LINE_BREAK_OR_NUL = re.compile(r"[\r\n\x00]")
_MAX_LINE = 998


def compose(
    *,
    stamp: Stamp | None = None,
    defaults: Defaults = NO_DEFAULTS,
    message_id_domain: str | None = None,
    from_email: str | Address | None = None,
    to: AddressInput = None,
    cc: AddressInput = None,
    bcc: AddressInput = None,
    reply_to: AddressInput = None,
    subject: str | None = None,
    body: str | None = None,
    content_subtype: str | None = None,
    charset: str | None = None,
    headers: HeadersInput = None,
    alternatives: Iterable[Alternative | tuple[str, str]] = (),
    attachments: Iterable[Attachment] = (),
    message_id: str | None = None,
    date: dt.datetime | None = None,
    tags: Iterable[str] = (),
    metadata: Mapping[str, object] | None = None,
    envelope_from: str | Address | None = None,
    envelope_to: Iterable[str] = (),
    expires: dt.datetime | None = None,
) -> Message:
    """Return a validated Message from *fields*, filling gaps from *defaults*.

    A field given here wins; an empty one (None, "", []) falls back to *defaults*
    (MAILER_DEFAULT_OPTIONS); headers merge, this message's winning by name. The
    Message-ID is ``<stamp.token@domain>``, the domain being *message_id_domain* or the
    From domain. Each problem raises a MessageError subclass naming the field and value.
    """
    if stamp is None and (message_id is None or date is None):
        raise TypeError("compose() needs a stamp= unless both message_id= and date= are given")

    sender = _one_address("from_email", from_email) or defaults.from_email
    if sender is None:
        raise InvalidAddress(
            "from_email",
            from_email,
            "no From address: pass from_email= or set MAILER_DEFAULT_OPTIONS['from']",
        )
    subtype = _content_subtype(content_subtype)
    charset = _charset(charset)
    text_body = _text("body", body, charset)
    subject_text = _subject(subject) or defaults.subject

    if message_id is None:
        assert stamp is not None
        id_domain = (
            domain_to_ascii(normalize_domain(message_id_domain, field="message_id_domain"))
            if message_id_domain
            else domain_to_ascii(sender.domain)
        )
        message_id = _message_id(f"<{stamp.token}@{id_domain}>")
    else:
        message_id = _message_id(message_id)
    if date is None:
        assert stamp is not None
        date = stamp.date
    if not isinstance(date, dt.datetime) or date.utcoffset() is None:
        raise MessageError("date", date, "the Date must be a timezone-aware datetime")

    return Message(
        from_email=sender,
        to=parse_addresses("to", to) or defaults.to,
        cc=parse_addresses("cc", cc) or defaults.cc,
        bcc=parse_addresses("bcc", bcc) or defaults.bcc,
        reply_to=parse_addresses("reply_to", reply_to) or defaults.reply_to,
        subject=subject_text,
        body=text_body,
        content_subtype=subtype,
        charset=charset,
        headers=merge_headers(defaults.headers, parse_headers(headers)),
        alternatives=tuple(_alternative(a, charset) for a in alternatives),
        attachments=tuple(_attachment(a) for a in attachments),
        message_id=message_id,
        date=date,
        tags=tuple(_tag(t) for t in tags),
        metadata=_metadata(metadata),
        envelope_from=_one_address("envelope_from", envelope_from),
        envelope_to=tuple(_address("envelope_to", a).addr_spec for a in envelope_to),
        expires=_expires(expires),
    )


def defaults_from_options(options: Mapping[str, object] | None) -> Defaults:
    """Build Defaults from MAILER_DEFAULT_OPTIONS; raise ConfigError naming a bad key."""
    if not options:
        return NO_DEFAULTS
    unknown = [key for key in options if key not in DEFAULT_OPTION_KEYS]
    if unknown:
        hint = " (did you mean 'from'?)" if unknown[0] == "from_email" else ""
        raise ConfigError(
            f"MAILER_DEFAULT_OPTIONS has an unknown key {unknown[0]!r}{hint}; "
            f"the accepted keys are: {', '.join(DEFAULT_OPTION_KEYS)}"
        )
    try:
        subject = options.get("subject") or ""
        return Defaults(
            from_email=_one_address("from", cast("str | None", options.get("from"))),
            subject=_subject(cast("str", subject)),
            to=parse_addresses("to", cast("AddressInput", options.get("to"))),
            cc=parse_addresses("cc", cast("AddressInput", options.get("cc"))),
            bcc=parse_addresses("bcc", cast("AddressInput", options.get("bcc"))),
            reply_to=parse_addresses("reply_to", cast("AddressInput", options.get("reply_to"))),
            headers=parse_headers(cast("HeadersInput", options.get("headers"))),
        )
    except MessageError as e:
        raise ConfigError(
            f"MAILER_DEFAULT_OPTIONS[{e.field!r}]: {e.reason}: {shorten(e.value)}"
        ) from e


def layer_defaults(over: Defaults, under: Defaults) -> Defaults:
    """Return *over* with gaps filled from *under* (class-level defaults over app-wide ones).

    Headers merge; *over* wins by name.
    """
    return Defaults(
        from_email=over.from_email or under.from_email,
        subject=over.subject or under.subject,
        to=over.to or under.to,
        cc=over.cc or under.cc,
        bcc=over.bcc or under.bcc,
        reply_to=over.reply_to or under.reply_to,
        headers=merge_headers(under.headers, over.headers),
    )


def parse_addresses(field: str, value: AddressInput) -> tuple[Address, ...]:
    """Parse a str (exactly one address), an Address, or an iterable of them."""
    if value is None:
        return ()
    if isinstance(value, str | Address):
        return (_address(field, value),)
    if isinstance(value, bytes | Mapping):
        raise InvalidAddress(field, value, "expected a str or a list of str")
    return tuple(_address(f"{field}[{i}]", item) for i, item in enumerate(value))


def _address(field: str, value: object) -> Address:
    if isinstance(value, Address):
        return value
    if not isinstance(value, str):
        raise InvalidAddress(field, value, "an address must be a str")
    return Address.parse(value, field=field)


def _one_address(field: str, value: str | Address | None) -> Address | None:
    if value is None or value == "":
        return None
    return _address(field, value)


def parse_headers(headers: HeadersInput) -> Headers:
    """Validate extra headers; values that are not str are converted with str()."""
    if not headers:
        return ()
    items = headers.items() if isinstance(headers, Mapping) else headers
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in items:
        name, value = item
        if not isinstance(name, str):
            raise InvalidHeader("headers", name, "a header name must be a str")
        check_header_text("headers", name)
        if not _FIELD_NAME.fullmatch(name):
            raise InvalidHeader("headers", name, "not a valid header name (RFC 5322 ftext)")
        reason = RESERVED_HEADERS.get(name.lower())
        if reason is not None:
            raise InvalidHeader("headers", name, f"this header cannot be set here; {reason}")
        if name.lower() in seen:
            raise InvalidHeader("headers", name, "the same header name is given twice")
        seen.add(name.lower())
        # Readers strip the whitespace around a value: strip it here so what we store is
        # what the recipient gets.
        text = (value if isinstance(value, str) else str(value)).strip(" \t")
        field = f"headers[{name!r}]"
        check_header_text(field, text)
        if text.isascii() and any(len(word) + len(name) + 2 > _MAX_LINE for word in text.split()):
            raise InvalidHeader(field, text, f"a word too long to fold under {_MAX_LINE} octets")
        result.append((name, text))
    return tuple(result)


def merge_headers(defaults: Headers, own: Headers) -> Headers:
    """Return *defaults* then *own*; a name in *own* replaces that name's defaults."""
    if not defaults:
        return own
    names = {name.lower() for name, _ in own}
    return (*((n, v) for n, v in defaults if n.lower() not in names), *own)


def _subject(subject: str | None) -> str:
    if subject is None:
        return ""
    if not isinstance(subject, str):
        raise InvalidHeader("subject", subject, "the subject must be a str")
    check_header_text("subject", subject)
    return subject


def _content_subtype(value: str | None) -> ContentSubtype:
    if value is None or value == "plain":
        return "plain"
    if value == "html":
        return "html"
    raise MessageError("content_subtype", value, "must be 'plain' or 'html'")


def _charset(value: str | None) -> str:
    if value is None:
        return "utf-8"
    if not isinstance(value, str) or not value.isascii():
        raise MessageError("charset", value, "not a charset name")
    try:
        codecs.lookup(value)
        ascii_compatible = "ab\r\n=".encode(value) == b"ab\r\n="
    except (LookupError, UnicodeError):
        raise MessageError("charset", value, "unknown charset") from None
    if not ascii_compatible:
        raise MessageError("charset", value, "the charset is not ASCII-compatible")
    return value.lower()


def _text(field: str, value: str | None, charset: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MessageError(field, value, "must be a str")
    try:
        value.encode(charset)
    except UnicodeEncodeError as e:
        raise MessageError(
            field, value[max(0, e.start - 10) : e.end + 10], f"not encodable in {charset}"
        ) from None
    return value


def _alternative(value: Alternative | tuple[str, str], charset: str) -> Alternative:
    alt = value if isinstance(value, Alternative) else Alternative(*value)
    mimetype = alt.mimetype.lower() if isinstance(alt.mimetype, str) else alt.mimetype
    if not isinstance(mimetype, str) or not _MIMETYPE.fullmatch(mimetype):
        raise MessageError("alternatives", alt.mimetype, "not a MIME type")
    if not mimetype.startswith("text/"):
        raise MessageError("alternatives", alt.mimetype, "an alternative body must be text/*")
    return Alternative(content=_text("alternatives", alt.content, charset), mimetype=mimetype)


def inline_part(filename: str, content: bytes, mimetype: str) -> Attachment:
    """An inline Attachment whose Content-ID derives from its name and bytes.

    The same file always gets the same id, so ``<img src="cid:...">`` is stable and a
    file attached twice while rendering is recognised.
    """
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", clean_filename(filename).rsplit(".", 1)[0])
    stem = stem.strip(".-") or "part"
    content_id = f"{stem}.{hashlib.sha256(content).hexdigest()[:12]}@proper-mail"
    return Attachment(clean_filename(filename), content, mimetype, "inline", content_id)


def clean_filename(name: str) -> str:
    """Return the base name of *name* with control characters removed (never a path)."""
    base = re.split(r"[/\\]", name)[-1]
    return _FILENAME_CONTROL.sub("", base).strip()


def _attachment(att: Attachment) -> Attachment:
    if not isinstance(att, Attachment):
        raise MessageError("attachments", att, "expected an Attachment")
    if not isinstance(att.filename, str):
        raise MessageError("attachments", att.filename, "a filename must be a str")
    if _LINE_BREAK_OR_NUL.search(att.filename):
        raise InvalidHeader("attachments.filename", att.filename, "CR, LF or NUL in a filename")
    if not isinstance(att.content, bytes):
        raise MessageError("attachments", att.filename, "content must be bytes")
    mimetype = att.mimetype.lower() if isinstance(att.mimetype, str) else ""
    if not _MIMETYPE.fullmatch(mimetype):
        raise MessageError("attachments.mimetype", att.mimetype, "not a MIME type")
    if mimetype.startswith("multipart/"):
        raise MessageError("attachments.mimetype", att.mimetype, "cannot attach a multipart")
    if att.disposition not in ("attachment", "inline"):
        raise MessageError(
            "attachments.disposition", att.disposition, "must be 'attachment' or 'inline'"
        )
    content_id = att.content_id
    if content_id is not None:
        if not isinstance(content_id, str):
            raise InvalidHeader("attachments.content_id", content_id, "must be a str")
        check_header_text("attachments.content_id", content_id)
        content_id = content_id.removeprefix("<").removesuffix(">")
        if not _ID_PART.fullmatch(content_id.replace("@", ".")):
            raise InvalidHeader("attachments.content_id", att.content_id, "not a valid Content-ID")
    if mimetype.startswith("message/") and not _is_7bit_text(att.content):
        raise MessageError(
            "attachments",
            att.filename,
            "a message/* part must be 7-bit text; attach it as application/octet-stream",
        )
    return attrs.evolve(
        att, filename=clean_filename(att.filename), mimetype=mimetype, content_id=content_id
    )


def _is_7bit_text(content: bytes) -> bool:
    if not content.isascii() or b"\x00" in content:
        return False
    return all(len(line) <= _MAX_LINE for line in content.splitlines())


def _expires(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and (not isinstance(value, dt.datetime) or value.utcoffset() is None):
        raise MessageError("expires", value, "must be a timezone-aware datetime")
    return value


def _message_id(value: str) -> str:
    if not isinstance(value, str):
        raise InvalidHeader("message_id", value, "must be a str")
    check_header_text("message_id", value)
    inner = value.strip().removeprefix("<").removesuffix(">")
    left, at, right = inner.partition("@")
    if not (at and _ID_PART.fullmatch(left) and _ID_PART.fullmatch(right)):
        raise InvalidHeader("message_id", value, "not a valid Message-ID (<left@right>)")
    return f"<{inner}>"


def _tag(tag: str) -> str:
    if not isinstance(tag, str) or not tag:
        raise MessageError("tags", tag, "a tag must be a non-empty str")
    check_header_text("tags", tag)
    return tag


def _metadata(metadata: Mapping[str, object] | None) -> tuple[tuple[str, str], ...]:
    if not metadata:
        return ()
    result = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise MessageError("metadata", key, "a metadata key must be a non-empty str")
        text = value if isinstance(value, str) else str(value)
        check_header_text(f"metadata[{key!r}]", text)
        result.append((key, text))
    return tuple(result)
