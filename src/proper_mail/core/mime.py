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
"""

from __future__ import annotations

import binascii
import email.message
import email.parser
import email.policy
import email.utils
import hashlib
from collections.abc import Iterable
from email.policy import Policy

import attrs

from ..errors import MessageError
from .addresses import Address, prep_address
from .headers import (
    fold,
    render_address_atoms,
    render_param_atoms,
    render_unstructured_atoms,
)
from .records import Attachment, Envelope, Message

__all__ = ["DEFAULT_POLICY", "envelope_of", "to_bytes", "to_mime"]

#: The default policy: SMTP line endings, 7-bit headers (IDNs as A-labels).
DEFAULT_POLICY: Policy = email.policy.SMTP
_MAX_LINE = 998
_ASCII_BYTES = bytes(range(128))
_MIME_RANK = {"text/plain": 0, "text/html": 2}


@attrs.frozen
class _Leaf:
    headers: tuple[str, ...]
    body: bytes


@attrs.frozen
class _Multipart:
    subtype: str
    parts: tuple[_Leaf | _Multipart, ...]
    params: tuple[str, ...] = ()


def to_bytes(message: Message, policy: Policy = DEFAULT_POLICY) -> bytes:
    """Return the RFC 5322 bytes of *message* (CRLF line endings, Bcc left out)."""
    utf8 = bool(getattr(policy, "utf8", False))
    width = policy.max_line_length or 78
    top = _top_headers(message, utf8=utf8, width=width)
    root = _structure(message)
    out: list[bytes] = [top.encode("utf-8" if utf8 else "ascii"), b"MIME-Version: 1.0\r\n"]
    _write(root, out, message.message_id, [0], width)
    return b"".join(out)


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
    policy is SMTPUTF8. ``envelope_to``, when set, narrows the recipients to those. A
    message without recipients raises MessageError.
    """
    force_ascii = not getattr(policy, "utf8", False)
    sender = prep_address(message.envelope_from or message.from_email, force_ascii)
    seen: dict[str, None] = {}
    for address in message.recipients:
        seen.setdefault(prep_address(address, force_ascii), None)
    if message.envelope_to:
        wanted = {prep_address(Address.parse(a), force_ascii) for a in message.envelope_to}
        seen = {a: None for a in seen if a in wanted}
    if not seen:
        raise MessageError("to", (), "the message has no recipients (to, cc and bcc are empty)")
    return Envelope(sender=sender, recipients=tuple(seen))


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


def _base64(data: bytes) -> bytes:
    encoded = binascii.b2a_base64(data, newline=False)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


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
    return _Leaf(tuple(headers), _base64(att.content))


def _params(name: str, value: str) -> list[str]:
    atoms = render_param_atoms(name, value)
    return [f"{a};" for a in atoms[:-1]] + atoms[-1:]


def _write(
    node: _Leaf | _Multipart, out: list[bytes], seed: str, counter: list[int], width: int
) -> None:
    if isinstance(node, _Leaf):
        out.extend(h.encode("ascii") for h in node.headers)
        out.append(b"\r\n")
        out.append(node.body)
        return
    children: list[bytes] = []
    for part in node.parts:
        chunk: list[bytes] = []
        _write(part, chunk, seed, counter, width)
        children.append(b"".join(chunk))
    boundary = _boundary(seed, counter, children)
    params = [f'boundary="{boundary}"', *node.params]
    atoms = [f"multipart/{node.subtype};", *(f"{p};" for p in params[:-1]), params[-1]]
    out.append(fold("Content-Type", atoms, width).encode("ascii"))
    # Each part's payload ends with CRLF; the CRLF before a delimiter belongs to the
    # delimiter (RFC 2046), so a part's last line break survives parsing.
    out.append(f"\r\n--{boundary}\r\n".encode("ascii"))
    out.append(f"\r\n--{boundary}\r\n".encode("ascii").join(children))
    out.append(f"\r\n--{boundary}--\r\n".encode("ascii"))


def _boundary(seed: str, counter: list[int], children: Iterable[bytes]) -> str:
    """A boundary derived from the Message-ID, unique per part, absent from the content."""
    contents = list(children)
    while True:
        counter[0] += 1
        digest = hashlib.sha256(f"{seed}/{counter[0]}".encode()).hexdigest()[:24]
        boundary = f"=_{digest}"
        marker = f"--{boundary}".encode("ascii")
        if not any(marker in c for c in contents):
            return boundary
