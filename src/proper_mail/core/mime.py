"""MIME assembly: ``Message`` record -> wire bytes, or a stdlib ``EmailMessage``.

``to_bytes`` is the one writer: hand-written, because the stdlib's modern API spends
~1.4 ms per message folding headers and, on our Pythons, can lose a recipient doing it.
``to_mime`` parses those same bytes into an ``email.message.EmailMessage`` for code that
wants the stdlib object (outboxes, ``BaseMailer.render``), so both always agree.

Structure (the guide's 4.1)::

    body only                      text/plain or text/html
    body + alternatives            multipart/alternative: text/plain first, text/html last
    inline parts with a cid        multipart/related around the text/html part
    files                          multipart/mixed: the body first, then each file

Output is CRLF only, no line over 998 octets, and 7-bit clean: text goes as 7bit,
quoted-printable or base64 (whichever fits), files always as base64. Under a policy with
``utf8=True`` (``email.policy.SMTPUTF8``) headers and addresses stay raw UTF-8.
Boundaries derive from the Message-ID, so the output is a pure function of the record.

For large attachments, ``iter_bytes`` yields the same bytes in chunks, encoding each file
slice by slice, so the message never exists whole in memory; ``wire_size`` gives its
length without encoding the files (for the SMTP SIZE parameter).
"""

from __future__ import annotations

import binascii
import email.message
import email.parser
import email.policy
import email.utils
import hashlib
import io
from collections.abc import Iterator
from email.policy import Policy

import attrs

from ..errors import MessageError
from .addresses import Address, mailbox_key, prep_address
from .headers import (
    fold,
    render_address_atoms,
    render_param_atoms,
    render_unstructured_atoms,
)
from .records import Attachment, Envelope, Message

__all__ = [
    "CHUNK_INPUT_BYTES",
    "DEFAULT_POLICY",
    "encode_text",
    "envelope_of",
    "iter_bytes",
    "recipients_of",
    "to_bytes",
    "to_mime",
    "wire_size",
]

#: The default policy: SMTP line endings, 7-bit headers (IDNs as A-labels).
DEFAULT_POLICY: Policy = email.policy.SMTP
#: The attachment bytes ``iter_bytes`` encodes per chunk: 1,024 base64 lines of 76
#: characters (57 bytes each), so a chunk is 79,872 bytes on the wire.
CHUNK_INPUT_BYTES = 57 * 1024
_MAX_LINE = 998
#: Files larger than this in all are written into one growing buffer by to_bytes.
_BUFFER_OVER = 1 << 20
_ASCII_BYTES = bytes(range(128))
_MIME_RANK = {"text/plain": 0, "text/html": 2}


@attrs.frozen
class _Base64:
    """A file's content, to be written as base64 lines when (and as) it is needed."""

    content: bytes


# The wire bytes as a list of pieces: bytes as they are, or a file to encode. Every piece
# ends with CRLF (or is empty), so any run of them is whole lines.
_Piece = bytes | _Base64


@attrs.frozen
class _Leaf:
    headers: tuple[str, ...]
    body: _Piece


@attrs.frozen
class _Multipart:
    subtype: str
    parts: tuple[_Leaf | _Multipart, ...]
    params: tuple[str, ...] = ()


def to_bytes(message: Message, policy: Policy = DEFAULT_POLICY) -> bytes:
    """Return the RFC 5322 bytes of *message* (CRLF line endings, Bcc left out).

    A message with large files is written chunk by chunk into one buffer, which becomes
    the result without a copy: its peak is the files plus their base64, not twice that.
    """
    pieces = _pieces(message, policy)
    if sum(len(p.content) for p in pieces if type(p) is _Base64) < _BUFFER_OVER:
        out: list[bytes] = []
        for piece in pieces:
            if type(piece) is bytes:
                out.append(piece)
            else:
                assert isinstance(piece, _Base64)
                out.extend(_base64_chunks(piece.content))
        return b"".join(out)
    buffer = io.BytesIO()
    for piece in pieces:
        if type(piece) is bytes:
            buffer.write(piece)
        else:
            assert isinstance(piece, _Base64)
            for chunk in _base64_chunks(piece.content):
                buffer.write(chunk)
    return buffer.getvalue()


def iter_bytes(message: Message, policy: Policy = DEFAULT_POLICY) -> Iterator[bytes]:
    """Yield the bytes of ``to_bytes(message, policy)`` in chunks, whole lines each.

    Headers and text parts come whole (several in one chunk); each file is base64-encoded
    ``CHUNK_INPUT_BYTES`` at a time, so memory stays near the size of the attachments
    themselves. Every chunk is non-empty and ends with CRLF, so a client can dot-stuff
    (RFC 5321, 4.5.2) chunk by chunk. Raises what ``to_bytes`` raises, before the first
    chunk.
    """
    pending: list[bytes] = []
    for piece in _pieces(message, policy):
        if type(piece) is bytes and len(piece) < CHUNK_INPUT_BYTES:
            if piece:
                pending.append(piece)
            continue
        if pending:
            yield b"".join(pending)
            pending = []
        if isinstance(piece, _Base64):
            yield from _base64_chunks(piece.content)
        else:
            yield piece  # a large text part: as it is, not copied into a join
    if pending:
        yield b"".join(pending)


def wire_size(message: Message, policy: Policy = DEFAULT_POLICY) -> int:
    """Return ``len(to_bytes(message, policy))`` without encoding the attachments.

    Headers and text parts are rendered (they decide the boundaries); a file's base64
    length is arithmetic. Raises what ``to_bytes`` raises.
    """
    size = 0
    for piece in _pieces(message, policy):
        size += len(piece) if isinstance(piece, bytes) else _base64_size(len(piece.content))
    return size


def _pieces(message: Message, policy: Policy) -> list[_Piece]:
    """The wire bytes of *message* as pieces (files not yet encoded)."""
    utf8 = bool(getattr(policy, "utf8", False))
    width = min(policy.max_line_length or 78, _MAX_LINE)
    top = _top_headers(message, utf8=utf8, width=width)
    root = _structure(message)
    head = top.encode("utf-8" if utf8 else "ascii") + b"MIME-Version: 1.0\r\n"
    return [head, *_node_pieces(root, message.message_id, [0], width)]


def to_mime(
    message: Message,
    policy: Policy = DEFAULT_POLICY,
    message_class: type[email.message.EmailMessage] = email.message.EmailMessage,
) -> email.message.EmailMessage:
    """Return *message* as a stdlib ``EmailMessage``, parsed from ``to_bytes``.

    The object uses LF internally like any stdlib-built message; ``as_bytes()`` under
    an SMTP policy gives CRLF again. *message_class* may be an EmailMessage subclass.
    """
    data = to_bytes(message, policy).replace(b"\r\n", b"\n")
    parsed = email.parser.BytesParser(_class=message_class, policy=policy).parsebytes(data)
    assert isinstance(parsed, message_class)
    return parsed


def envelope_of(message: Message, policy: Policy = DEFAULT_POLICY) -> Envelope:
    """Return the SMTP envelope: the sender and every recipient (to, cc, bcc), deduplicated.

    Addresses are prepared with ``prep_address``: ASCII (A-label domains) unless the
    policy is SMTPUTF8. Two addresses are the same recipient when their local parts are
    equal and their domains are the same domain (``münchen.de`` is
    ``xn--mnchen-3ya.de``); the first one given is kept. ``envelope_to``, when set,
    narrows the recipients to those. A message without recipients raises MessageError.
    """
    force_ascii = not getattr(policy, "utf8", False)
    sender = prep_address(message.envelope_from or message.from_email, force_ascii)
    wanted = {mailbox_key(Address.parse(a)) for a in message.envelope_to}
    seen: dict[tuple[str, str], str] = {}
    for address in message.recipients:
        key = mailbox_key(address)
        if key not in seen and (not wanted or key in wanted):
            seen[key] = prep_address(address, force_ascii)
    if not seen:
        raise MessageError("to", (), "the message has no recipients (to, cc and bcc are empty)")
    return Envelope(sender=sender, recipients=tuple(seen.values()))


def recipients_of(
    message: Message,
) -> tuple[tuple[Address, ...], tuple[Address, ...], tuple[Address, ...]]:
    """To, Cc and Bcc, narrowed to ``envelope_to`` when it is set (a retry's subset):
    for providers whose recipient fields are the envelope."""
    if not message.envelope_to:
        return message.to, message.cc, message.bcc
    wanted = {mailbox_key(Address.parse(a)) for a in message.envelope_to}

    def kept(addresses: tuple[Address, ...]) -> tuple[Address, ...]:
        return tuple(a for a in addresses if mailbox_key(a) in wanted)

    return kept(message.to), kept(message.cc), kept(message.bcc)


def _top_headers(message: Message, *, utf8: bool, width: int) -> str:
    parts = [
        fold(
            "Subject",
            render_unstructured_atoms(message.subject, utf8=utf8, protect=True),
            width,
        ),
        fold(
            "From",
            render_address_atoms((message.from_email,), utf8=utf8, field="from_email"),
            width,
        ),
    ]
    for name, field, addresses in (
        ("To", "to", message.to),
        ("Cc", "cc", message.cc),
        ("Reply-To", "reply_to", message.reply_to),
    ):
        if addresses:
            parts.append(fold(name, render_address_atoms(addresses, utf8=utf8, field=field), width))
    parts.append(f"Date: {email.utils.format_datetime(message.date)}\r\n")
    parts.append(f"Message-ID: {message.message_id}\r\n")
    for name, value in message.headers:
        parts.append(fold(name, render_unstructured_atoms(value, utf8=utf8), width))
    return "".join(parts)


def _structure(message: Message) -> _Leaf | _Multipart:
    texts = [(f"text/{message.content_subtype}", message.body)]
    texts.extend((alt.mimetype, alt.content) for alt in message.alternatives)
    texts.sort(key=lambda t: _MIME_RANK.get(t[0], 1))  # stable: plain, others, html
    leaves: list[_Leaf | _Multipart] = [_text_leaf(m, c, message.charset) for m, c in texts]

    inline = [a for a in message.attachments if a.disposition == "inline" and a.content_id]
    files = [a for a in message.attachments if not (a.disposition == "inline" and a.content_id)]
    html_at = max((i for i, (m, _) in enumerate(texts) if m == "text/html"), default=None)
    if inline and html_at is not None:
        leaves[html_at] = _Multipart(
            "related",
            (leaves[html_at], *(_file_leaf(a) for a in inline)),
            ('type="text/html"',),
        )
    else:
        files = [*inline, *files]

    body: _Leaf | _Multipart = (
        leaves[0] if len(leaves) == 1 else _Multipart("alternative", tuple(leaves))
    )
    if not files:
        return body
    return _Multipart("mixed", (body, *(_file_leaf(a) for a in files)))


def _text_leaf(mimetype: str, text: str, charset: str) -> _Leaf:
    cte, payload = encode_text(text, charset)
    return _Leaf(
        (
            f'Content-Type: {mimetype}; charset="{charset}"\r\n',
            f"Content-Transfer-Encoding: {cte}\r\n",
        ),
        payload,
    )


def encode_text(text: str, charset: str) -> tuple[str, bytes]:
    """Return (Content-Transfer-Encoding, CRLF payload) for a text part: 7bit, QP or base64.

    Line endings become CRLF and the text ends with one, as MIME text must; that is the
    only change a text body goes through.
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.endswith("\n"):
        text += "\n"
    data = text.encode(charset)
    if data.isascii() and b"\x00" not in data and _max_line(data) <= _MAX_LINE:
        return "7bit", data.replace(b"\n", b"\r\n")
    high = len(data.translate(None, _ASCII_BYTES))
    if high * 6 < len(data):
        return "quoted-printable", binascii.b2a_qp(data, istext=True).replace(b"\n", b"\r\n")
    return "base64", _base64(data)


def _max_line(data: bytes) -> int:
    if len(data) <= _MAX_LINE:
        return len(data)
    return max(map(len, data.split(b"\n")))


def _base64(data: bytes | memoryview) -> bytes:
    """*data* as base64 lines of 76 characters, each ending with CRLF."""
    encoded = binascii.b2a_base64(data, newline=False)
    lines = [encoded[i : i + 76] for i in range(0, len(encoded), 76)]
    lines.append(b"")
    return b"\r\n".join(lines)


def _base64_chunks(data: bytes) -> Iterator[bytes]:
    """``_base64(data)`` in pieces of ``CHUNK_INPUT_BYTES`` input bytes (whole lines);
    nothing for no data."""
    if len(data) <= CHUNK_INPUT_BYTES:
        if data:
            yield _base64(data)
        return
    view = memoryview(data)
    for start in range(0, len(data), CHUNK_INPUT_BYTES):
        yield _base64(view[start : start + CHUNK_INPUT_BYTES])


def _base64_size(n: int) -> int:
    """``len(_base64(data))`` for *n* bytes of data."""
    encoded = (n + 2) // 3 * 4
    return encoded + 2 * ((encoded + 75) // 76)


def _file_leaf(att: Attachment) -> _Leaf:
    content_type: list[str] = [att.mimetype]
    disposition: list[str] = [att.disposition]
    if att.filename:
        content_type[-1] += ";"
        content_type.extend(_params("name", att.filename))
        disposition[-1] += ";"
        disposition.extend(_params("filename", att.filename))
    headers = [fold("Content-Type", content_type), fold("Content-Disposition", disposition)]
    if att.content_id:
        headers.append(f"Content-ID: <{att.content_id}>\r\n")
    if att.mimetype.startswith("message/"):
        # RFC 2046 forbids encoding message/*; compose() made sure the content is 7-bit.
        payload = att.content.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        headers.append("Content-Transfer-Encoding: 7bit\r\n")
        return _Leaf(tuple(headers), payload if payload.endswith(b"\r\n") else payload + b"\r\n")
    headers.append("Content-Transfer-Encoding: base64\r\n")
    return _Leaf(tuple(headers), _Base64(att.content))


def _params(name: str, value: str) -> list[str]:
    atoms = render_param_atoms(name, value)
    return [f"{a};" for a in atoms[:-1]] + atoms[-1:]


def _node_pieces(
    node: _Leaf | _Multipart, seed: str, counter: list[int], width: int
) -> list[_Piece]:
    """The pieces of one part: its headers, blank line and body, or a multipart's
    Content-Type, then each part between boundary delimiters."""
    if isinstance(node, _Leaf):
        return ["".join(node.headers).encode("ascii") + b"\r\n", node.body]
    children = [_node_pieces(part, seed, counter, width) for part in node.parts]
    boundary = _boundary(seed, counter, children)
    params = [f'boundary="{boundary}"', *node.params]
    atoms = [f"multipart/{node.subtype};", *(f"{p};" for p in params[:-1]), params[-1]]
    # Each part's payload ends with CRLF; the CRLF before a delimiter belongs to the
    # delimiter (RFC 2046), so a part's last line break survives parsing.
    delimiter = f"\r\n--{boundary}\r\n".encode("ascii")
    out: list[_Piece] = [fold("Content-Type", atoms, width).encode("ascii") + delimiter]
    for i, child in enumerate(children):
        if i:
            out.append(delimiter)
        out.extend(child)
    out.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return out


def _boundary(seed: str, counter: list[int], children: list[list[_Piece]]) -> str:
    """A boundary derived from the Message-ID, unique per part, absent from the content.

    Base64 lines cannot hold one ("-", "_" are not in its alphabet), so only the bytes
    between files are searched: the same text the whole parts would show.
    """
    contents: list[bytes] = []
    for child in children:
        run: list[bytes] = []
        for piece in child:
            if type(piece) is bytes:
                run.append(piece)
            elif run:
                contents.append(b"".join(run))
                run = []
        if run:
            contents.append(b"".join(run))
    while True:
        counter[0] += 1
        digest = hashlib.sha256(f"{seed}/{counter[0]}".encode()).hexdigest()[:24]
        boundary = f"=_{digest}"
        marker = f"--{boundary}".encode("ascii")
        if not any(marker in c for c in contents):
            return boundary
