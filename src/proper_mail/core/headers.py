"""Header rendering: RFC 2047 encoded words, RFC 2231 parameters, folding.

Written by hand because the stdlib's modern folder is slow (~1.4 ms a message) and, on
the Pythons we support, can drop a recipient when it folds an address list
(CVE-2025-1795). The rules here are few and simple, so that they can be proven:

- A header value is a list of *atoms* joined by single spaces; an atom that starts with
  a TAB is joined without one (the TAB is its whitespace). Folding only ever puts CRLF
  before one of those spaces or TABs, so unfolding gives back the exact value; it never
  leaves a line of whitespace only.
- Separators (``,`` between addresses, ``;`` between parameters) are never inside an
  encoded word, so a folded list re-parses to the same items.
- Lengths are counted in octets (UTF-8 under an SMTPUTF8 policy). An atom written as it
  is holds at most 900 octets; a longer word of a Subject, a display name or non-ASCII
  text goes as RFC 2047 encoded words instead (75 characters each), so no line exceeds
  998 octets. Only an ASCII custom header can hold a word that cannot be folded:
  ``compose()`` refuses it (``check_unstructured``).
"""

from __future__ import annotations

import binascii
import functools
import re
from collections.abc import Iterable
from typing import NoReturn
from urllib.parse import quote

from ..errors import InvalidAddress, InvalidHeader
from .addresses import Address, domain_to_ascii, quote_local_part

__all__ = [
    "MAX_LINE",
    "check_unstructured",
    "encode_words",
    "fold",
    "render_address_atoms",
    "render_display_name_atoms",
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
# The longest atom (in octets) written as it is: with a header name of up to 96
# characters, "Name: " + atom still fits a 998-octet line.
_LONGEST_ATOM = 900
_BEFORE_TAB = re.compile(r"(?=\t)")
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
    go as written, folded at their spaces and TABs. Text with a word too long for a
    line is encoded, except unprotected ASCII (see ``check_unstructured``).
    """
    if not text:
        return []
    if text.isascii():
        if not protect and not _ENCODED_WORD_LIKE.search(text):
            return _raw_atoms(text)
        if _PLAIN_TEXT.fullmatch(text) and "=?" not in text:
            atoms = text.split(" ")
            if _fit(text, atoms):
                return atoms
    elif utf8 and (not protect or (_no_odd_space(text) and "=?" not in text)):
        atoms = _raw_atoms(text)
        if _fit(text, atoms):
            return atoms
    return encode_words(text, charset if not text.isascii() else "utf-8")


def check_unstructured(name: str, text: str, *, protect: bool = False) -> None:
    """Raise InvalidHeader unless ``Name: text`` can be written under both a 7-bit and an
    SMTPUTF8 policy (a word or a run of spaces too long to fold, a name too long)."""
    for utf8 in (False, True):
        fold(name, render_unstructured_atoms(text, utf8=utf8, protect=protect))


def _raw_atoms(text: str) -> list[str]:
    """*text* as atoms: split at spaces, and before each TAB (which stays in its atom)."""
    if "\t" not in text:
        return text.split(" ")
    atoms: list[str] = []
    for piece in text.split(" "):
        atoms.extend(_BEFORE_TAB.split(piece))
    return atoms


def _fit(text: str, atoms: list[str]) -> bool:
    """True when no atom is longer than ``_LONGEST_ATOM`` octets."""
    if len(text) * 4 <= _LONGEST_ATOM:  # the common case: no need to look at each
        return True
    return all(_octets(atom) <= _LONGEST_ATOM for atom in atoms)


def _octets(text: str) -> int:
    """The UTF-8 length of *text* (its length when it is ASCII)."""
    return len(text) if text.isascii() else len(text.encode())


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
    """Atoms for a display name: its words, one quoted string, or RFC 2047 encoded words
    (non-ASCII under a 7-bit policy, text that looks encoded, or too long to quote)."""
    if "=?" not in name and (name.isascii() or utf8):
        if (_ATOM_PHRASE if name.isascii() else _UTF8_ATOM_PHRASE).fullmatch(name):
            atoms = name.split(" ")
            if _fit(name, atoms):
                return atoms
        quoted = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if _octets(quoted) <= _LONGEST_ATOM:
            return [quoted]
    return encode_words(name)


def render_param_atoms(name: str, value: str) -> list[str]:
    """Atoms for one MIME parameter; RFC 2231 (with continuations) when non-ASCII or long.

    Also RFC 2231 for a value holding ``=?``: readers (the stdlib among them, and many
    mail clients) decode RFC 2047 encoded words in a quoted filename, against RFC 2047,
    section 5, so the name would not read back as itself.
    """
    if value.isascii() and len(value) <= _LONGEST_ATOM // 2 and "=?" not in value:
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
    """Return ``Name: value`` CRLF-terminated, folded between atoms near *width* octets.

    Atoms are joined by single spaces, except one starting with a TAB, which is joined
    as it is. A fold goes before an atom, once its line holds more than whitespace;
    InvalidHeader names a line that would exceed 998 octets.
    """
    line = f"{name}:"
    size = len(line)
    breakable = False  # whether a fold may end this line (it holds an atom / some text)
    lines: list[str] = []
    for atom in atoms:
        piece = atom if atom[:1] == "\t" else f" {atom}"
        n = len(piece) if piece.isascii() else len(piece.encode())
        if breakable and atom and size + n > width:
            if size > MAX_LINE:
                _too_long(name, line)
            lines.append(line)
            line, size = piece, n
            breakable = bool(atom.strip(" \t"))
        else:
            line += piece
            size += n
            breakable = breakable or not lines or bool(atom.strip(" \t"))
    if size > MAX_LINE:
        _too_long(name, line)
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _too_long(name: str, line: str) -> NoReturn:
    raise InvalidHeader(name, line, f"a header line would exceed {MAX_LINE} octets")
