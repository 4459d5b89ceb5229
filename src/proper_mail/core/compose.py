"""``compose()``: fields + defaults -> one validated, immutable ``Message``.

Pure: the Date and the Message-ID token come in through a ``Stamp`` made by the shell.
Every check that can fail happens here, at compose time, so a message that was composed
can always be rendered and sent (a worker never meets a malformed message).

The rules, beyond each field's own grammar:

- Where a list is expected, one str is one item: ``to="a@x.com"`` is one address,
  ``tags="welcome"`` one tag, ``envelope_to="a@x.com"`` one address. ``alternatives``
  and ``attachments`` must be lists. A wrong type is a MessageError naming the field.
- Header and metadata values are str, or int (written in decimal, for ids); bool,
  float, None and other objects are refused rather than written as their repr.
- ``Address`` records built by hand (in fields, lists or ``Defaults``) are checked as
  if parsed from a str (``check_address``), and come out normalised.
- No lone surrogate, and no control character except TAB, in any header text; TAB
  neither in a local part. Filenames lose control and bidi-override characters.
- What compose accepts, ``to_bytes``/``iter_bytes`` write under both the 7-bit policy
  (``email.policy.SMTP``) and ``email.policy.SMTPUTF8``, with lines of at most 998
  octets, and ``envelope_of`` gives its envelope. Two outcomes are by design, not
  checked here since they depend on the mailer: an address with a non-ASCII local part
  needs SMTPUTF8 (InvalidAddress from ``to_bytes``/``envelope_of`` under a 7-bit
  policy), and a message without any recipient has no envelope (MessageError from
  ``envelope_of``; previews compose such messages).
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import cast

import attrs

from ..errors import ConfigError, InvalidAddress, InvalidHeader, MessageError, shorten
from .addresses import (
    Address,
    check_address,
    check_header_text,
    domain_to_ascii,
    normalize_domain,
)
from .headers import MAX_LINE, check_unstructured
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
    "parse_headers",
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
# type/subtype, each a restricted-name of at most 127 characters (RFC 6838, 4.2).
_MIMETYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)
_CHARSET_NAME = re.compile(r"[A-Za-z0-9!#$%&'+\-^_`{}~]{1,40}")  # RFC 2978 mime-charset
_ID_PART = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*")
# Control characters, line breaks, and the bidi controls that make "exe.pdf" of
# "fdp.exe" (U+202E) or hide part of a name.
_FILENAME_CONTROL = re.compile(
    r"[\x00-\x1f\x7f\x85\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]"
)
_LINE_BREAK_OR_NUL = re.compile(r"[\r\n\x00]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_MAX_LINE = MAX_LINE
# "Message-ID: <...>" and "Content-ID: <...>" are never folded: the id fills the line.
_MAX_MESSAGE_ID = _MAX_LINE - len("Message-ID: ")
_MAX_CONTENT_ID = _MAX_LINE - len("Content-ID: <>")
# Header names and values at most this long always fit in folded lines: only longer ones
# are rendered at compose time to be sure (check_unstructured).
_SHORT_NAME = 76
_SHORT_VALUE = 200


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
    alternatives: Iterable[Alternative | tuple[str, str]] | None = (),
    attachments: Iterable[Attachment] | None = (),
    message_id: str | None = None,
    date: dt.datetime | None = None,
    tags: str | Iterable[str] | None = (),
    metadata: Mapping[str, object] | None = None,
    envelope_from: str | Address | None = None,
    envelope_to: str | Iterable[str] | None = (),
    expires: dt.datetime | None = None,
    provider_options: Mapping[str, Mapping[str, object]] | None = None,
) -> Message:
    """Return a validated Message from *fields*, filling gaps from *defaults*.

    A field given here wins; an empty one (None, "", []) falls back to *defaults*
    (MAILER_DEFAULT_OPTIONS); headers merge, this message's winning by name. The
    Message-ID is ``<stamp.token@domain>``, the domain being *message_id_domain* or the
    From domain. Each problem raises a MessageError subclass naming the field and value
    (see the module docstring for the rules).
    """
    if stamp is None and (message_id is None or date is None):
        raise TypeError("compose() needs a stamp= unless both message_id= and date= are given")
    if stamp is not None and not isinstance(stamp, Stamp):
        raise MessageError("stamp", stamp, "expected a Stamp (the Date and Message-ID token)")
    defaults = _checked_defaults(defaults)

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
        if message_id_domain is None or message_id_domain == "":
            id_domain = domain_to_ascii(sender.domain)
        else:
            id_domain = domain_to_ascii(
                normalize_domain(message_id_domain, field="message_id_domain")
            )
        message_id = _message_id(f"<{stamp.token}@{id_domain}>")
    else:
        message_id = _message_id(message_id)
    if date is None:
        assert stamp is not None
        date = stamp.date
    to_addresses = parse_addresses("to", to) or defaults.to
    cc_addresses = parse_addresses("cc", cc) or defaults.cc
    bcc_addresses = parse_addresses("bcc", bcc) or defaults.bcc

    return Message(
        from_email=sender,
        to=to_addresses,
        cc=cc_addresses,
        bcc=bcc_addresses,
        reply_to=parse_addresses("reply_to", reply_to) or defaults.reply_to,
        subject=subject_text,
        body=text_body,
        content_subtype=subtype,
        charset=charset,
        headers=merge_headers(defaults.headers, parse_headers(headers)),
        alternatives=_alternatives(alternatives, charset),
        attachments=_attachments(attachments),
        message_id=message_id,
        date=_date("date", date),
        tags=_tags(tags),
        metadata=_metadata(metadata),
        envelope_from=_one_address("envelope_from", envelope_from),
        envelope_to=_envelope_to(envelope_to, to_addresses, cc_addresses, bcc_addresses),
        expires=None if expires is None else _date("expires", expires),
        provider_options=_provider_options(provider_options),
    )


def defaults_from_options(options: Mapping[str, object] | None) -> Defaults:
    """Build Defaults from MAILER_DEFAULT_OPTIONS; raise ConfigError naming a bad key."""
    if not options:
        return NO_DEFAULTS
    if not isinstance(options, Mapping):
        raise ConfigError(f"MAILER_DEFAULT_OPTIONS must be a mapping, not {shorten(options)}")
    unknown = [key for key in options if key not in DEFAULT_OPTION_KEYS]
    if unknown:
        hint = " (did you mean 'from'?)" if unknown[0] == "from_email" else ""
        raise ConfigError(
            f"MAILER_DEFAULT_OPTIONS has an unknown key {unknown[0]!r}{hint}; "
            f"the accepted keys are: {', '.join(DEFAULT_OPTION_KEYS)}"
        )
    try:
        return Defaults(
            from_email=_one_address("from", options.get("from")),
            subject=_subject(options.get("subject")),
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


def _checked_defaults(defaults: object) -> Defaults:
    """*defaults* with every field checked as compose() checks its own (cached by value)."""
    if defaults is NO_DEFAULTS:
        return NO_DEFAULTS
    if not isinstance(defaults, Defaults):
        raise MessageError("defaults", defaults, "expected a Defaults (see defaults_from_options)")
    try:
        hash(defaults)
    except TypeError:  # lists inside a hand-built Defaults: check it every time
        return _check_defaults(defaults)
    return _check_defaults_cached(defaults)


def _check_defaults(defaults: Defaults) -> Defaults:
    return Defaults(
        from_email=_one_address("defaults.from_email", defaults.from_email),
        subject=_subject(defaults.subject, "defaults.subject"),
        to=parse_addresses("defaults.to", defaults.to),
        cc=parse_addresses("defaults.cc", defaults.cc),
        bcc=parse_addresses("defaults.bcc", defaults.bcc),
        reply_to=parse_addresses("defaults.reply_to", defaults.reply_to),
        headers=parse_headers(defaults.headers, field="defaults.headers"),
    )


# Defaults are few and frozen (the app's, each email class's): check each value once.
_check_defaults_cached = functools.lru_cache(maxsize=64)(_check_defaults)


def parse_addresses(field: str, value: AddressInput) -> tuple[Address, ...]:
    """Parse a str (exactly one address), an Address, or an iterable of them.

    An Address is checked as if it were parsed (``check_address``).
    """
    if value is None:
        return ()
    if isinstance(value, str | Address):
        return (_address(field, value),)
    items = _sequence(field, value, "expected a str or a list of str", InvalidAddress)
    return tuple(_address(f"{field}[{i}]", item) for i, item in enumerate(items))


def _sequence(
    field: str, value: object, expected: str, error: type[MessageError] = MessageError
) -> Sequence[object]:
    """*value* as a sequence of items: a list or tuple as it is, another iterable as a
    tuple; a str, bytes, a mapping or a non-iterable raises *error* saying *expected*."""
    if type(value) is list or type(value) is tuple:  # the common case, without ABC checks
        return value
    if isinstance(value, str | bytes | bytearray | Mapping) or not isinstance(value, Iterable):
        raise error(field, value, expected)
    return tuple(value)


def _address(field: str, value: object) -> Address:
    if isinstance(value, str):
        return Address.parse(value, field=field)
    if isinstance(value, Address):
        return check_address(value, field=field)
    raise InvalidAddress(field, value, "an address must be a str")


def _one_address(field: str, value: object) -> Address | None:
    if value is None or (isinstance(value, str) and not value):
        return None
    return _address(field, value)


def parse_headers(headers: HeadersInput, *, field: str = "headers") -> Headers:
    """Validate extra headers: a mapping or (name, value) pairs; values are str or int."""
    if headers is None:
        return ()
    given: object = headers  # any object may come in: check its type, not the annotation's
    items: Iterable[object]
    if type(given) is dict or isinstance(given, Mapping):
        items = given.items()
    else:
        items = _sequence(
            field,
            given,
            "expected a mapping of names to values, or (name, value) pairs",
            InvalidHeader,
        )
    result: list[tuple[str, str]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, tuple | list) or len(item) != 2:
            raise InvalidHeader(field, item, "expected a (name, value) pair")
        name, value = item
        if not isinstance(name, str):
            raise InvalidHeader(field, name, "a header name must be a str")
        check_header_text(field, name)
        if not _FIELD_NAME.fullmatch(name):
            raise InvalidHeader(field, name, "not a valid header name (RFC 5322 ftext)")
        reason = RESERVED_HEADERS.get(name.lower())
        if reason is not None:
            raise InvalidHeader(field, name, f"this header cannot be set here; {reason}")
        if name.lower() in seen:
            raise InvalidHeader(field, name, "the same header name is given twice")
        seen.add(name.lower())
        value_field = f"{field}[{name!r}]"
        # Readers strip the whitespace around a value: strip it here so what we store is
        # what the recipient gets.
        text = _str_or_int(value_field, value, InvalidHeader).strip(" \t")
        check_header_text(value_field, text)
        if len(name) > _SHORT_NAME or len(text) > _SHORT_VALUE:
            try:
                check_unstructured(name, text)
            except InvalidHeader:
                raise InvalidHeader(
                    value_field,
                    text,
                    f"a word, a run of spaces or the header name is too long to fold into "
                    f"lines of {_MAX_LINE} octets",
                ) from None
        result.append((name, text))
    return tuple(result)


def _str_or_int(field: str, value: object, error: type[MessageError]) -> str:
    """*value* as header text: a str as it is, an int in decimal; anything else refused."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            return str(int(value))
        except ValueError:  # over sys.get_int_max_str_digits()
            raise error(field, value, "the int is too large") from None
    raise error(field, value, "expected a str (or an int)")


def merge_headers(defaults: Headers, own: Headers) -> Headers:
    """Return *defaults* then *own*; a name in *own* replaces that name's defaults."""
    if not defaults:
        return own
    names = {name.lower() for name, _ in own}
    return (*((n, v) for n, v in defaults if n.lower() not in names), *own)


def _subject(subject: object, field: str = "subject") -> str:
    if subject is None:
        return ""
    if not isinstance(subject, str):
        raise InvalidHeader(field, subject, "the subject must be a str")
    check_header_text(field, subject)
    if len(subject) > _SHORT_VALUE:  # written as encoded words when too long: a safety net
        try:
            check_unstructured("Subject", subject, protect=True)
        except InvalidHeader as e:
            raise InvalidHeader(field, subject, e.reason) from None
    return subject


def _content_subtype(value: object) -> ContentSubtype:
    if value is None or (isinstance(value, str) and value == "plain"):
        return "plain"
    if isinstance(value, str) and value == "html":
        return "html"
    raise MessageError("content_subtype", value, "must be 'plain' or 'html'")


def _charset(value: object) -> str:
    if value is None:
        return "utf-8"
    if not isinstance(value, str) or not _CHARSET_NAME.fullmatch(value):
        raise MessageError("charset", value, "not a charset name")
    try:
        codecs.lookup(value)
        ascii_compatible = "ab\r\n=".encode(value) == b"ab\r\n="
    except (LookupError, UnicodeError, ValueError):
        raise MessageError("charset", value, "unknown charset") from None
    if not ascii_compatible:
        raise MessageError("charset", value, "the charset is not ASCII-compatible")
    return value.lower()


def _text(field: str, value: object, charset: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MessageError(field, value, "must be a str")
    try:
        value.encode(charset)
    except UnicodeEncodeError as e:
        shown = value[max(0, e.start - 10) : e.end + 10]
        if _SURROGATE.match(value, e.start):
            raise MessageError(field, shown, "a lone surrogate (not valid Unicode)") from None
        raise MessageError(field, shown, f"not encodable in {charset}") from None
    return value


def _alternatives(value: object, charset: str) -> tuple[Alternative, ...]:
    if value is None:
        return ()
    items = _sequence(
        "alternatives", value, "expected a list of Alternative or (content, mimetype) pairs"
    )
    return tuple(_alternative(f"alternatives[{i}]", item, charset) for i, item in enumerate(items))


def _alternative(field: str, value: object, charset: str) -> Alternative:
    if isinstance(value, Alternative):
        content, mimetype = value.content, value.mimetype
    elif isinstance(value, tuple | list) and len(value) == 2:
        content, mimetype = value
    else:
        raise MessageError(field, value, "expected an Alternative or a (content, mimetype) pair")
    if not isinstance(mimetype, str) or not _MIMETYPE.fullmatch(mimetype):
        raise MessageError(f"{field}.mimetype", mimetype, "not a MIME type")
    mimetype = mimetype.lower()
    if not mimetype.startswith("text/"):
        raise MessageError(f"{field}.mimetype", mimetype, "an alternative body must be text/*")
    return Alternative(content=_text(f"{field}.content", content, charset), mimetype=mimetype)


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
    """Return the base name of *name* without control or bidi-control characters.

    Never a path. U+202E and the other bidi overrides (U+200E/F, U+061C, U+202A-U+202E,
    U+2066-U+2069) are removed: they make ``invoice\u202efdp.exe`` show as
    ``invoiceexe.pdf``.
    """
    base = re.split(r"[/\\]", name)[-1]
    return _FILENAME_CONTROL.sub("", base).strip()


def _attachments(value: object) -> tuple[Attachment, ...]:
    if value is None:
        return ()
    items = _sequence("attachments", value, "expected a list of Attachment")
    return tuple(_attachment(f"attachments[{i}]", item) for i, item in enumerate(items))


def _attachment(field: str, att: object) -> Attachment:
    if not isinstance(att, Attachment):
        raise MessageError(field, att, "expected an Attachment")
    if not isinstance(att.filename, str):
        raise MessageError(f"{field}.filename", att.filename, "a filename must be a str")
    if _LINE_BREAK_OR_NUL.search(att.filename):
        raise InvalidHeader(f"{field}.filename", att.filename, "CR, LF or NUL in a filename")
    if _SURROGATE.search(att.filename):
        raise InvalidHeader(
            f"{field}.filename", att.filename, "a lone surrogate (not valid Unicode)"
        )
    if not isinstance(att.content, bytes):
        raise MessageError(f"{field}.content", att.content, "content must be bytes")
    mimetype = att.mimetype.lower() if isinstance(att.mimetype, str) else ""
    if not _MIMETYPE.fullmatch(mimetype):
        raise MessageError(f"{field}.mimetype", att.mimetype, "not a MIME type")
    if mimetype.startswith("multipart/"):
        raise MessageError(f"{field}.mimetype", att.mimetype, "cannot attach a multipart")
    if not isinstance(att.disposition, str) or att.disposition not in ("attachment", "inline"):
        raise MessageError(
            f"{field}.disposition", att.disposition, "must be 'attachment' or 'inline'"
        )
    content_id = att.content_id
    if content_id is not None:
        if not isinstance(content_id, str):
            raise InvalidHeader(f"{field}.content_id", content_id, "must be a str")
        check_header_text(f"{field}.content_id", content_id)
        content_id = content_id.removeprefix("<").removesuffix(">")
        if not _ID_PART.fullmatch(content_id.replace("@", ".")):
            raise InvalidHeader(f"{field}.content_id", att.content_id, "not a valid Content-ID")
        if len(content_id) > _MAX_CONTENT_ID:
            raise InvalidHeader(
                f"{field}.content_id",
                att.content_id,
                f"over {_MAX_CONTENT_ID} characters (a Content-ID is one line)",
            )
    if mimetype.startswith("message/") and not _is_7bit_text(att.content):
        raise MessageError(
            field,
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


def _date(field: str, value: object) -> dt.datetime:
    offset = value.utcoffset() if isinstance(value, dt.datetime) else None
    if offset is None:
        raise MessageError(field, value, "must be a timezone-aware datetime")
    if offset.seconds % 60 or offset.microseconds:
        raise MessageError(field, value, "the UTC offset must be whole minutes (RFC 5322)")
    assert isinstance(value, dt.datetime)
    return value


def _message_id(value: object) -> str:
    if not isinstance(value, str):
        raise InvalidHeader("message_id", value, "must be a str")
    check_header_text("message_id", value)
    inner = value.strip().removeprefix("<").removesuffix(">")
    left, at, right = inner.partition("@")
    if not (at and _ID_PART.fullmatch(left) and _ID_PART.fullmatch(right)):
        raise InvalidHeader("message_id", value, "not a valid Message-ID (<left@right>)")
    if len(inner) + 2 > _MAX_MESSAGE_ID:
        raise InvalidHeader(
            "message_id",
            value,
            f"over {_MAX_MESSAGE_ID} characters (a Message-ID is one line)",
        )
    return f"<{inner}>"


def _tags(tags: object) -> tuple[str, ...]:
    if tags is None:
        return ()
    if isinstance(tags, str):  # one str is one tag, as one str is one address
        return (_tag("tags", tags),)
    items = _sequence("tags", tags, "expected a str or a list of str")
    return tuple(_tag(f"tags[{i}]", tag) for i, tag in enumerate(items))


def _tag(field: str, tag: object) -> str:
    if not isinstance(tag, str) or not tag:
        raise MessageError(field, tag, "a tag must be a non-empty str")
    check_header_text(field, tag)
    return tag


def _metadata(metadata: object) -> tuple[tuple[str, str], ...]:
    if metadata is None:
        return ()
    if type(metadata) is not dict and not isinstance(metadata, Mapping):
        raise MessageError(
            "metadata", metadata, "expected a mapping of str keys to str (or int) values"
        )
    result = []
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise MessageError("metadata", key, "a metadata key must be a non-empty str")
        check_header_text("metadata", key)
        field = f"metadata[{key!r}]"
        text = _str_or_int(field, value, MessageError)
        check_header_text(field, text)
        result.append((key, text))
    return tuple(result)


def _provider_options(value: object) -> tuple[tuple[str, str], ...]:
    """``{provider: {option: JSON value}}`` as ``(provider, JSON text)`` pairs."""
    if value is None:
        return ()
    if not isinstance(value, Mapping):
        raise MessageError(
            "provider_options",
            value,
            "expected a mapping of provider names to option mappings, "
            'e.g. {"postmark": {"MessageStream": "broadcast"}}',
        )
    result = []
    for provider, options in value.items():
        if not isinstance(provider, str) or not _PROVIDER_NAME.fullmatch(provider):
            raise MessageError(
                "provider_options", provider, "a provider name is lowercase letters and digits"
            )
        field = f"provider_options[{provider!r}]"
        if not isinstance(options, Mapping):
            raise MessageError(field, options, "expected a mapping of option names to values")
        for key in options:
            if not isinstance(key, str) or not key:
                raise MessageError(field, key, "an option name must be a non-empty str")
        try:
            text = json.dumps(dict(options), ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise MessageError(field, options, f"not JSON data ({e})") from None
        result.append((provider, text))
    return tuple(result)


_PROVIDER_NAME = re.compile(r"[a-z][a-z0-9_]*")


def _envelope_to(value: object, *recipients: tuple[Address, ...]) -> tuple[str, ...]:
    """The addr-specs of *value*, each one of *recipients* (envelope_to narrows, never adds)."""
    if value is None or (type(value) is tuple and not value):
        return ()
    if isinstance(value, str | Address):
        items: Sequence[object] = (value,)
    else:
        items = _sequence("envelope_to", value, "expected a str or a list of str", InvalidAddress)
    known = {(a.local_part, domain_to_ascii(a.domain)) for group in recipients for a in group}
    result = []
    for i, item in enumerate(items):
        address = _address(f"envelope_to[{i}]", item)
        if (address.local_part, domain_to_ascii(address.domain)) not in known:
            raise InvalidAddress(
                f"envelope_to[{i}]", item, "not one of the message's recipients (to, cc, bcc)"
            )
        result.append(address.addr_spec)
    return tuple(result)
