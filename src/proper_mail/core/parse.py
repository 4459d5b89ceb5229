"""``parse_mime()``: a hand-built stdlib message -> one validated ``Message`` record.

The guide's 5.3 (workaround 3) assembles a message with the stdlib ``email`` package and
sends it through ``mailer.send_now()``. Mailers take records only, so such a message is
turned into a record here, at the edge, and then goes through ``compose()`` like any
other: every header is checked by our rules, never the stdlib's (Python 3.12.1 lets a
compat32 ``Subject: "Hi\\n\\nInjected"`` through, CVE-2024-6923).

Pure: the Date and Message-ID of a message that has none come from a ``Stamp``.

What maps where:

- From, To, Cc, Bcc, Reply-To: parsed one address at a time with our strict parser
  (RFC 2047 display names decoded); Sender becomes the envelope sender.
- Subject, Date, Message-ID: their fields; any other header is kept as it is.
- The first text/plain or text/html part that is not an attachment is the body; the
  other text parts of the same multipart/alternative are alternatives; a part with a
  Content-ID inside multipart/related is an inline part; every other part is a file.
"""

from __future__ import annotations

import datetime as dt
import email.errors
import email.header
import email.headerregistry
import email.message
import email.utils
import re
from collections.abc import Iterator

from ..errors import InvalidHeader, MessageError
from .addresses import Address
from .compose import compose
from .records import Alternative, Attachment, Message, Stamp

__all__ = ["parse_mime"]

_FOLD = re.compile(r"\r?\n(?=[ \t])")
_ADDRESS_FIELDS = {
    "from": "from_email",
    "to": "to",
    "cc": "cc",
    "bcc": "bcc",
    "reply-to": "reply_to",
}
_STRUCTURE = {"mime-version", "content-type", "content-transfer-encoding", "content-disposition"}
_EMPTY_GROUP = re.compile(r"[^:;,<>\"]*:\s*;")


def parse_mime(message: email.message.Message, *, stamp: Stamp) -> Message:
    """Return *message* (a stdlib ``Message``/``EmailMessage``) as a validated record.

    Raises a MessageError naming the header or part at fault: a header value with a line
    break that is not a fold (header injection), an address our parser refuses, a text
    part that does not decode in its charset ...
    """
    fields: dict[str, object] = {}
    addresses: dict[str, list[Address]] = {}
    headers: list[tuple[str, str]] = []
    envelope_from: Address | None = None
    for name, value in message.raw_items():
        lowered = name.lower()
        if lowered in _STRUCTURE:
            continue
        text = header_text(name, value)
        if lowered in _ADDRESS_FIELDS:
            addresses.setdefault(_ADDRESS_FIELDS[lowered], []).extend(
                parse_address_list(_ADDRESS_FIELDS[lowered], text)
            )
        elif lowered == "sender":
            envelope_from = next(iter(parse_address_list("sender", text)), None)
            headers.append((name, text))
        elif lowered == "subject":
            fields["subject"] = text
        elif lowered == "date":
            fields["date"] = _date(text)
        elif lowered == "message-id":
            fields["message_id"] = text.strip()
        else:
            headers.append((name, text))
    senders = addresses.pop("from_email", [])
    if len(senders) != 1:
        raise MessageError(
            "from_email", [str(a) for a in senders], "a message needs exactly one From address"
        )
    body, subtype, alternatives, attachments = _parts(message)
    return compose(
        stamp=stamp,
        from_email=senders[0],
        to=addresses.get("to"),
        cc=addresses.get("cc"),
        bcc=addresses.get("bcc"),
        reply_to=addresses.get("reply_to"),
        body=body,
        content_subtype=subtype,
        headers=headers,
        alternatives=alternatives,
        attachments=attachments,
        envelope_from=envelope_from,
        **fields,  # type: ignore[arg-type]
    )


def header_text(name: str, value: object) -> str:
    """The Unicode text of one stored header value: folds undone, RFC 2047 decoded.

    A line break that is not a fold (CR or LF not followed by a space or tab) is header
    injection and raises InvalidHeader, whichever policy built the message.
    """
    raw = str(value)
    text = _FOLD.sub("", raw)
    if "\r" in text or "\n" in text:
        raise InvalidHeader(name, raw, "a line break inside a header value (header injection)")
    if isinstance(value, email.headerregistry.BaseHeader) or "=?" not in text:
        return text  # a modern policy's header object is decoded already
    try:
        return str(email.header.make_header(email.header.decode_header(text)))
    except (LookupError, UnicodeError, email.errors.HeaderParseError) as e:
        raise InvalidHeader(name, raw, f"an RFC 2047 encoded word does not decode ({e})") from None


def parse_address_list(field: str, text: str) -> list[Address]:
    """Each address of a header's address list, parsed by our strict parser."""
    found = []
    for item in _split_addresses(_EMPTY_GROUP.sub("", text)):
        address = Address.parse(item, field=field)
        if "=?" in address.display_name:
            name = header_text(field, address.display_name)
            address = Address.parse(str(Address(name, address.local_part, address.domain)))
        found.append(address)
    return found


def _split_addresses(text: str) -> Iterator[str]:
    """Split on commas outside quoted strings and angle brackets; drop empty items."""
    start, depth, quoted, escaped = 0, 0, False, False
    for i, ch in enumerate(text):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth = max(0, depth - 1)
        elif not quoted and depth == 0 and ch == ",":
            if text[start:i].strip():
                yield text[start:i].strip()
            start = i + 1
    if text[start:].strip():
        yield text[start:].strip()


def _date(text: str) -> dt.datetime:
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise MessageError("date", text, "not an RFC 5322 date") from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


def _parts(
    message: email.message.Message,
) -> tuple[str, str, list[Alternative], list[Attachment]]:
    """The body, its subtype, the alternatives and the files of *message*."""
    body: str | None = None
    subtype = "plain"
    body_alternative: email.message.Message | None = None
    alternatives: list[Alternative] = []
    attachments: list[Attachment] = []
    for part, ancestors in _leaves(message, ()):
        ctype = part.get_content_type()
        parent = ancestors[-1] if ancestors else None
        in_related = parent is not None and parent.get_content_type() == "multipart/related"
        related_root = in_related and parent is not None and parent.get_payload(0) is part
        is_text = ctype.startswith("text/") and part.get_content_disposition() != "attachment"
        alternative = _nearest_alternative(ancestors)
        if is_text and (not in_related or related_root):
            if body is None and ctype in ("text/plain", "text/html"):
                body, subtype, body_alternative = _text_of(part), ctype[5:], alternative
                continue
            if alternative is not None and alternative is body_alternative:
                alternatives.append(Alternative(_text_of(part), ctype))
                continue
        attachments.append(_attachment_of(part, in_related and not related_root))
    return body or "", subtype, alternatives, attachments


def _leaves(
    part: email.message.Message, ancestors: tuple[email.message.Message, ...]
) -> Iterator[tuple[email.message.Message, tuple[email.message.Message, ...]]]:
    """Every leaf part with its multipart ancestors, in order (message/* are leaves)."""
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        for child in part.get_payload():
            assert isinstance(child, email.message.Message)
            yield from _leaves(child, (*ancestors, part))
    else:
        yield part, ancestors


def _nearest_alternative(
    ancestors: tuple[email.message.Message, ...],
) -> email.message.Message | None:
    for ancestor in reversed(ancestors):
        if ancestor.get_content_type() == "multipart/alternative":
            return ancestor
    return None


def _text_of(part: email.message.Message) -> str:
    payload = part.get_payload(decode=True)
    data = payload if isinstance(payload, bytes) else b""
    charset = part.get_content_charset("us-ascii")
    try:
        return data.decode(charset)
    except (LookupError, UnicodeDecodeError) as e:
        raise MessageError(
            "body", part.get_content_type(), f"a text part does not decode as {charset} ({e})"
        ) from None


def _attachment_of(part: email.message.Message, related: bool) -> Attachment:
    if part.is_multipart():  # message/rfc822 and friends: the enclosed message's bytes
        inner = part.get_payload(0)
        assert isinstance(inner, email.message.Message)
        content = inner.as_bytes()
    else:
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
    filename = part.get_filename() or ""
    content_id = part.get("Content-ID")
    cid = header_text("Content-ID", content_id) if content_id is not None else None
    inline = related or (cid is not None and part.get_content_disposition() == "inline")
    return Attachment(
        filename=header_text("filename", filename) if filename else "",
        content=content,
        mimetype=part.get_content_type(),
        disposition="inline" if inline else "attachment",
        content_id=cid.strip() if cid and inline else None,
    )
