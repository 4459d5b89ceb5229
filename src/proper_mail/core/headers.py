"""Header rendering: RFC 2047 encoded words, RFC 2231 parameters, folding.

Written by hand because the stdlib's modern folder is slow (~1.4 ms a message) and, on
the Pythons we support, can drop a recipient when it folds an address list
(CVE-2025-1795). The rules here are few and simple, so that they can be proven:

- A header value is a list of *atoms* joined by single spaces. Folding only ever turns
  one of those spaces into CRLF + space, so unfolding gives back the exact value.
- Separators (``,`` between addresses, ``;`` between parameters) are never inside an
  encoded word, so a folded list re-parses to the same items.
- An atom is never longer than a line can hold; no line exceeds 998 octets.
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Iterable
from urllib.parse import quote

from ..errors import InvalidAddress, InvalidHeader
from .addresses import Address, domain_to_ascii, quote_local_part

__all__ = [
    "encode_words",
    "fold",
    "render_address_atoms",
    "render_param_atoms",
    "render_unstructured_atoms",
]

MAX_LINE = 998
_ENCODED_WORD_MAX = 75
# Characters a 'Q' encoded word may carry literally in every context (RFC 2047, 5(3)).
_Q_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_BYTE = {b: (chr(b) if b in _Q_SAFE else f"={b:02X}") for b in range(256)} | {32: "_"}
_Q_PIECES = [_Q_BYTE[b] for b in range(256)]
_Q_SAFE_OR_SPACE = bytes(sorted(_Q_SAFE | {32}))
# One character of UTF-8 text in Q form: a lead byte (a literal or =XX), then its
# continuation bytes, which are always 0x80-0xBF, so =8X, =9X, =AX or =BX.
_UTF8_Q_CHAR = re.compile(r"(?:=[0-9A-F]{2}|[^=])(?:=[89AB][0-9A-F])*")
# One character of UTF-8 bytes: a lead byte and its continuation bytes.
_UTF8_CHAR = re.compile(rb"[\x00-\x7f\xc0-\xff][\x80-\xbf]*")
# An ASCII phrase that needs no quoting: atext words separated by single spaces.
_ATOM_PHRASE = re.compile(r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*")
_UTF8_ATOM_PHRASE = re.compile(
    r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+"
    r"(?: [A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+)*"
)
# Unstructured text that can go on the wire as it is.
_PLAIN_TEXT = re.compile(r"[!-~]+(?: [!-~]+)*")
_LONG_QUOTED = 900
# ASCII that a reader would decode as an encoded word: it must be encoded to survive.
_ENCODED_WORD_LIKE = re.compile(r"=\?[^?\s]*\?[bBqQ]\?[^\s]*?\?=")


def encode_words(text: str, charset: str = "utf-8") -> list[str]:
    """Return *text* as RFC 2047 encoded words of at most 75 characters each.

    'Q' when most of the text is ASCII (readable in the raw source), else 'B'. A word
    never splits a character, so each word decodes on its own.
    """
    return list(_encode_words(text, charset))


@functools.lru_cache(maxsize=1024)
def _encode_words(text: str, charset: str) -> tuple[str, ...]:
    # Cached: the same subjects and display names come back message after message. A
    # tuple, so that no caller can change what the cache holds.
    data = text.encode(charset)
    unsafe = len(data.translate(None, _Q_SAFE_OR_SPACE))  # the bytes Q must write as =XX
    q = unsafe * 2 < len(data)
    prefix = f"=?{charset}?{'q' if q else 'b'}?"
    room = _ENCODED_WORD_MAX - len(prefix) - 2
    if charset != "utf-8":
        return _encode_words_by_char(text, charset, prefix, room)
    # UTF-8: encode the whole text at once (the same bytes as character by character),
    # and cut it into characters only when it needs more than one word.
    if q:
        encoded = "".join([_Q_PIECES[b] for b in data])
        if len(encoded) <= room:
            return (f"{prefix}{encoded}?=",)
        chars = _UTF8_Q_CHAR.findall(encoded)
        return tuple(f"{prefix}{''.join(chunk)}?=" for chunk in _pack(chars, room))
    max_bytes = room // 4 * 3
    if len(data) <= max_bytes:
        return (f"{prefix}{_b64(data)}?=",)
    raw_chars = _UTF8_CHAR.findall(data)
    return tuple(f"{prefix}{_b64(b''.join(chunk))}?=" for chunk in _pack(raw_chars, max_bytes))


def _pack[T: (str, bytes)](pieces: list[T], room: int) -> list[list[T]]:
    """Cut *pieces* greedily into runs of at most *room* in total length (at least one each)."""
    chunks: list[list[T]] = []
    chunk: list[T] = []
    size = 0
    for piece in pieces:
        if size + len(piece) > room and chunk:
            chunks.append(chunk)
            chunk, size = [], 0
        chunk.append(piece)
        size += len(piece)
    if chunk:
        chunks.append(chunk)
    return chunks


def _encode_words_by_char(text: str, charset: str, prefix: str, room: int) -> tuple[str, ...]:
    """Any other charset: encode character by character, as its encoder may keep state
    (ISO-2022-JP shifts) so that the whole text's bytes are not the characters' bytes."""
    words: list[str] = []
    chunk: list[str] = []
    size = 0
    if prefix[-2] == "q":
        for ch in text:
            piece = "".join(_Q_BYTE[b] for b in ch.encode(charset))
            if size + len(piece) > room and chunk:
                words.append(f"{prefix}{''.join(chunk)}?=")
                chunk, size = [], 0
            chunk.append(piece)
            size += len(piece)
    else:
        max_bytes = room // 4 * 3
        raw: list[bytes] = []
        for ch in text:
            piece_bytes = ch.encode(charset)
            if size + len(piece_bytes) > max_bytes and raw:
                words.append(f"{prefix}{_b64(b''.join(raw))}?=")
                raw, size = [], 0
            raw.append(piece_bytes)
            size += len(piece_bytes)
        chunk = [_b64(b"".join(raw))] if raw else []
    if chunk or not words:
        words.append(f"{prefix}{''.join(chunk)}?=")
    return tuple(words)


def _b64(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def render_unstructured_atoms(
    text: str, *, utf8: bool, charset: str = "utf-8", protect: bool = False
) -> list[str]:
    """Atoms for an unstructured value (Subject, custom headers).

    Plain printable ASCII goes as it is. Otherwise the whole value becomes encoded
    words (or raw UTF-8 under an SMTPUTF8 policy). With *protect*, ASCII that a reader
    would not give back unchanged (leading, trailing or repeated spaces, tabs, ``=?``)
    is encoded too, so that the value round-trips exactly. Without it, only ASCII that
    looks like an encoded word is, so structured custom headers (List-Unsubscribe ...)
    go as written.
    """
    if not text:
        return []
    if text.isascii():
        if not protect and not _ENCODED_WORD_LIKE.search(text):
            return text.split(" ")
        if _PLAIN_TEXT.fullmatch(text) and "=?" not in text:
            return text.split(" ")
    elif utf8 and (not protect or (_no_odd_space(text) and "=?" not in text)):
        return text.split(" ")
    return encode_words(text, charset if not text.isascii() else "utf-8")


def _no_odd_space(text: str) -> bool:
    return text == text.strip() and "  " not in text and "\t" not in text


def render_address_atoms(addresses: Iterable[Address], *, utf8: bool, field: str) -> list[str]:
    """Atoms for an address list: each mailbox, separated by ``,`` atoms-ends."""
    atoms: list[str] = []
    for address in addresses:
        if atoms:
            atoms[-1] += ","
        atoms.extend(_mailbox_atoms(address, utf8=utf8, field=field))
    return atoms


def _mailbox_atoms(address: Address, *, utf8: bool, field: str) -> list[str]:
    local = quote_local_part(address.local_part)
    if utf8:
        spec = f"{local}@{address.domain}"
    else:
        if not local.isascii():
            raise InvalidAddress(
                field,
                str(address),
                "a non-ASCII local part needs a mailer with an SMTPUTF8 policy",
            )
        spec = f"{local}@{domain_to_ascii(address.domain)}"
    name = address.display_name
    if not name:
        return [spec]
    return [*render_display_name_atoms(name, utf8=utf8), f"<{spec}>"]


def render_display_name_atoms(name: str, *, utf8: bool) -> list[str]:
    if "=?" not in name and (name.isascii() or utf8):
        if (_ATOM_PHRASE if name.isascii() else _UTF8_ATOM_PHRASE).fullmatch(name):
            return name.split(" ")
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if len(quoted) <= _LONG_QUOTED:
            return [quoted]
    return encode_words(name)


def render_param_atoms(name: str, value: str) -> list[str]:
    """Atoms for one MIME parameter; RFC 2231 (with continuations) when non-ASCII or long."""
    if value.isascii() and len(value) <= _LONG_QUOTED // 2:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        return [f'{name}="{escaped}"']
    encoded = quote(value, safe="!#$&+-.^_`|~", encoding="utf-8")
    if len(encoded) <= 60:
        return [f"{name}*=utf-8''{encoded}"]
    atoms = []
    segment_start = 0
    index = 0
    while segment_start < len(encoded):
        end = min(segment_start + 60, len(encoded))
        # Never split a %XX escape.
        if "%" in encoded[max(end - 2, segment_start) : end]:
            end = encoded.rindex("%", segment_start, end)
        lead = "utf-8''" if index == 0 else ""
        atoms.append(f"{name}*{index}*={lead}{encoded[segment_start:end]}")
        segment_start = end
        index += 1
    return atoms


def fold(name: str, atoms: list[str], width: int = 78) -> str:
    """Return ``Name: value`` CRLF-terminated, folded between atoms near *width*."""
    line = f"{name}:"
    lines: list[str] = []
    for atom in atoms:
        if atom and len(line) + 1 + len(atom) > width and len(line) > len(name) + 1:
            lines.append(line)
            line = f" {atom}"
        else:
            line = f"{line} {atom}"
    lines.append(line)
    if any(len(line) > MAX_LINE for line in lines):
        raise InvalidHeader(name, line[:80], f"a header line would exceed {MAX_LINE} octets")
    return "\r\n".join(lines) + "\r\n"
