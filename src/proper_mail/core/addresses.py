"""Email addresses: a strict parser, IDNA 2008 domains and ``prep_address``.

We never use ``email.utils.parseaddr``/``getaddresses``: on the Pythons we support they
accept ``alice@example.org)<bob@example.org>`` and may return bob (CVE-2023-27043).
The grammar accepted here is a strict subset of RFC 5322 / RFC 6532:

- ``local@domain``
- ``Display Name <local@domain>`` (an unquoted phrase: words, dots, spaces, any Unicode)
- ``"Any, Name \\"quoted\\"" <local@domain>``

No comments, no groups, no domain literals, no obsolete syntax. A string is ONE address:
a comma outside quotes is an error, so ``"a@x.com, b@y.com"`` is never two recipients.
No control character (TAB included) in a local part, no lone surrogate anywhere. A
domain's one trailing dot (``example.com.``, the DNS root) is dropped, so it names the
same recipient as ``example.com``.

An ``Address`` built by hand goes through ``check_address``, which writes it out and
parses it back: it passes exactly when a parsed address with the same fields would.
"""

from __future__ import annotations

import functools
import re

import attrs
import idna

from ..errors import InvalidAddress, InvalidHeader

__all__ = [
    "Address",
    "check_address",
    "check_header_text",
    "domain_to_ascii",
    "normalize_domain",
    "prep_address",
    "quote_local_part",
]

# RFC 5322 atext, plus any non-ASCII character (RFC 6532 utf8-non-ascii).
_ATEXT = r"A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff"
_DOT_ATOM = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
_ASCII_DOT_ATOM = re.compile(
    r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+(?:\.[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]+)*"
)
# An unquoted display name: words of atext, dots (obs-phrase) and single spaces/tabs.
_PHRASE = re.compile(rf"[{_ATEXT}.]+(?:[ \t]+[{_ATEXT}.]+)*")
# An LDH host name, already lower case: the fast path that needs no IDNA work.
_LDH_DOMAIN = re.compile(
    r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
# C0 controls except TAB, DEL, the characters str.splitlines() treats as line breaks, and
# lone surrogates (not Unicode text: no UTF-8 encoder takes them).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]")
_LINE_BREAK_OR_NUL = re.compile(r"[\r\n\x00]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")

MAX_LOCAL_OCTETS = 64
MAX_DOMAIN_OCTETS = 253
MAX_ADDR_SPEC_OCTETS = 254


def check_header_text(field: str, value: str) -> None:
    """Raise InvalidHeader when *value* holds CR, LF, NUL, another control character
    (TAB is allowed) or a lone surrogate."""
    if _CONTROL.search(value):
        if _LINE_BREAK_OR_NUL.search(value):
            reason = "CR, LF or NUL is not allowed in a header"
        elif _SURROGATE.search(value):
            reason = "a lone surrogate (not valid Unicode) is not allowed"
        else:
            reason = "a control character is not allowed in a header"
        raise InvalidHeader(field, value, reason)


@attrs.frozen(cache_hash=True)
class Address:
    """One mailbox: an optional display name and an addr-spec.

    Attributes:
        display_name: the human name, as Unicode ("" when there is none).
        local_part: the part before "@", unquoted (Unicode allowed, see ``prep_address``).
        domain: the domain, normalised: lower case, IDNs as UTS-46-mapped U-labels.
    """

    display_name: str
    local_part: str
    domain: str

    @classmethod
    def parse(cls, text: str, *, field: str = "address") -> Address:
        """Parse one address; raise InvalidAddress (or InvalidHeader) naming *field*."""
        return parse_address(text, field=field)

    @property
    def addr_spec(self) -> str:
        """``local@domain`` with the domain as stored (Unicode for IDNs)."""
        return f"{quote_local_part(self.local_part)}@{self.domain}"

    def __str__(self) -> str:
        """``Name <local@domain>`` (the name quoted when needed): parses back to self."""
        name = self.display_name
        if not name:
            return self.addr_spec
        if not _PHRASE.fullmatch(name):
            name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return f"{name} <{self.addr_spec}>"


def quote_local_part(local: str) -> str:
    """Return *local* as it is written in an addr-spec: a dot-atom, else a quoted string."""
    if _DOT_ATOM.fullmatch(local):
        return local
    escaped = local.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def check_address(address: Address, *, field: str = "address") -> Address:
    """Return *address* as the parser gives it back, or raise what the parser raises.

    For an ``Address`` built by hand: its fields are written out (``str(address)``) and
    parsed again, so a display name with CR/LF, a domain like ``x.com> NOTIFY=...`` or a
    TAB in a local part is refused exactly as in a str. The domain comes back
    normalised (lower case, UTS-46, no trailing dot). Cheap for addresses seen before
    (parsed ones included): the result is cached by value.
    """
    if _KNOWN.get(id(address)) is address:
        return address
    if not isinstance(address, Address):
        raise InvalidAddress(field, address, "expected an Address")
    try:
        return _known(_check_address(address))
    except TypeError:  # a field that cannot be hashed, so not a str
        raise InvalidAddress(field, address, _NOT_STR) from None
    except InvalidHeader as e:
        raise InvalidHeader(field, address, e.reason) from None
    except InvalidAddress as e:
        raise InvalidAddress(field, address, e.reason) from None


_NOT_STR = "an Address's display_name, local_part and domain must be str"

# Addresses our parser made (or checked), by identity: the records every message carries
# come from here, so checking them again costs one dict lookup. The dict holds them, so
# an id is never reused while it is in it; it is emptied when it grows past its bound.
_KNOWN: dict[int, Address] = {}
_KNOWN_MAX = 8192


def _known(address: Address) -> Address:
    if len(_KNOWN) >= _KNOWN_MAX:
        _KNOWN.clear()
    _KNOWN[id(address)] = address
    return address


@functools.lru_cache(maxsize=4096)
def _check_address(address: Address) -> Address:
    # Cached by value: an Address is frozen and the check is pure. Errors are not cached.
    parts = (address.display_name, address.local_part, address.domain)
    if not all(isinstance(part, str) for part in parts):
        raise InvalidAddress("address", address, _NOT_STR)
    normalize_domain(address.domain)  # first, for a reason that names the domain
    parsed = _parse_address(str(address), "address")
    if (parsed.display_name, parsed.local_part) != parts[:2]:  # never seen; a safety net
        raise InvalidAddress("address", address, "the address does not read back as itself")
    return parsed


def _unquote(quoted: str, *, field: str, text: str) -> str:
    """Return the content of a quoted-string (with its quotes), escapes resolved."""
    out: list[str] = []
    i, end = 1, len(quoted) - 1
    while i < end:
        ch = quoted[i]
        if ch == "\\":
            if i + 1 >= end:
                raise InvalidAddress(field, text, "a quoted string ends with a backslash")
            out.append(quoted[i + 1])
            i += 2
            continue
        if ch == '"':
            raise InvalidAddress(field, text, "an unescaped quote inside a quoted string")
        out.append(ch)
        i += 1
    return "".join(out)


def _find_closing_quote(text: str, start: int) -> int:
    """Return the index of the quote closing the one at *start*, or -1."""
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == '"':
            return i
        i += 1
    return -1


def parse_address(text: str, *, field: str = "address") -> Address:
    """Parse exactly one address (see the module docstring for the grammar)."""
    if not isinstance(text, str):
        raise InvalidAddress(field, text, "an address must be a str")
    if type(text) is not str:  # a str subclass (Markup ...) may leak into the fields
        return _parse_address.__wrapped__(text, field)
    return _parse_address(text, field)


@functools.lru_cache(maxsize=4096)
def _parse_address(text: str, field: str) -> Address:
    # Cached: parsing is pure, the same From and To strings come back message after
    # message, and an Address is frozen, so one record can serve every caller. An
    # invalid address raises every time (lru_cache does not keep exceptions).
    check_header_text(field, text)
    stripped = text.strip(" \t")
    if not stripped:
        raise InvalidAddress(field, text, "the address is empty")
    if stripped.endswith(">"):
        display, spec = _split_angle_addr(stripped, field=field, original=text)
    else:
        display, spec = "", stripped
    if _has_unquoted(spec, ","):
        raise InvalidAddress(
            field, text, "one string is one address; pass a list to send to several"
        )
    local, domain = _parse_addr_spec(spec, field=field, text=text)
    return _known(Address(display_name=display, local_part=local, domain=domain))


def _has_unquoted(text: str, char: str) -> bool:
    in_quotes = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\" and in_quotes:
            escaped = True
        elif ch == '"':
            in_quotes = not in_quotes
        elif ch == char and not in_quotes:
            return True
    return False


def _split_angle_addr(text: str, *, field: str, original: str) -> tuple[str, str]:
    # The "<" that opens the angle-addr is the last one outside a quoted string.
    open_at = -1
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == '"':
            close = _find_closing_quote(text, i)
            if close < 0:
                raise InvalidAddress(field, original, "a quoted string is not closed")
            i = close + 1
            continue
        if ch == "<":
            open_at = i
        i += 1
    if open_at < 0:
        raise InvalidAddress(field, original, "a '>' without a '<'")
    spec = text[open_at + 1 : -1]
    if "<" in spec or ">" in spec:
        raise InvalidAddress(field, original, "nested angle brackets")
    phrase = text[:open_at].strip(" \t")
    return _parse_display_name(phrase, field=field, text=original), spec


def _parse_display_name(phrase: str, *, field: str, text: str) -> str:
    if not phrase:
        return ""
    if phrase.startswith('"'):
        close = _find_closing_quote(phrase, 0)
        if close != len(phrase) - 1:
            raise InvalidAddress(
                field, text, "a display name is either one quoted string or plain words"
            )
        return _unquote(phrase, field=field, text=text)
    if _has_unquoted(phrase, ","):
        raise InvalidAddress(
            field,
            text,
            'one string is one address (quote a display name with a comma: "Doe, J" <j@x>);'
            " pass a list to send to several",
        )
    if not _PHRASE.fullmatch(phrase):
        raise InvalidAddress(field, text, "a display name with special characters must be quoted")
    return phrase


def _parse_addr_spec(spec: str, *, field: str, text: str) -> tuple[str, str]:
    at = spec.rfind("@")
    if at < 0:
        raise InvalidAddress(field, text, "an address needs an '@'")
    raw_local, raw_domain = spec[:at], spec[at + 1 :]
    if raw_local.startswith('"'):
        if _find_closing_quote(raw_local, 0) != len(raw_local) - 1:
            raise InvalidAddress(field, text, "a malformed quoted local part")
        local = _unquote(raw_local, field=field, text=text)
        if not local:
            raise InvalidAddress(field, text, "the local part is empty")
    elif _DOT_ATOM.fullmatch(raw_local):
        local = raw_local
    else:
        reason = "the local part is empty" if not raw_local else "an invalid local part"
        raise InvalidAddress(field, text, reason)
    if "\t" in local:  # the only control character check_header_text lets through
        raise InvalidAddress(field, text, "a control character (TAB) in the local part")
    if len(local.encode()) > MAX_LOCAL_OCTETS:
        raise InvalidAddress(field, text, f"the local part is over {MAX_LOCAL_OCTETS} octets")
    domain = normalize_domain(raw_domain, field=field, text=text)
    # The limit holds for the A-label form (7-bit) and for the UTF-8 form that an
    # SMTPUTF8 envelope carries (RFC 6531 counts octets).
    domain_octets = max(len(domain_to_ascii(domain)), len(domain.encode()))
    if len(quote_local_part(local).encode()) + 1 + domain_octets > MAX_ADDR_SPEC_OCTETS:
        raise InvalidAddress(field, text, f"the address is over {MAX_ADDR_SPEC_OCTETS} octets")
    return local, domain


def normalize_domain(domain: str, *, field: str = "domain", text: str | None = None) -> str:
    """Return *domain* lower-cased, IDNs as UTS-46-mapped U-labels; raise if invalid.

    One trailing dot (the DNS root: ``example.com.``) is dropped.
    """
    shown = domain if text is None else text
    if not isinstance(domain, str):
        raise InvalidAddress(field, shown, "a domain must be a str")
    lowered = domain.lower()
    if lowered.isascii() and _LDH_DOMAIN.fullmatch(lowered) and "--" not in lowered:
        if len(lowered) > MAX_DOMAIN_OCTETS:
            raise InvalidAddress(field, shown, f"the domain is over {MAX_DOMAIN_OCTETS} octets")
        if lowered.rsplit(".", 1)[-1].isdigit():
            raise InvalidAddress(field, shown, "an IP address is not a domain")
        return lowered
    try:
        return _normalize_idn(domain)
    except _BadDomainError as e:
        raise InvalidAddress(field, shown, str(e)) from None


class _BadDomainError(Exception):
    pass


@functools.lru_cache(maxsize=4096)
def _normalize_idn(domain: str) -> str:
    if not domain:
        raise _BadDomainError("the domain is empty")
    try:
        ascii_form = idna.encode(domain, uts46=True).decode("ascii")
        # One trailing dot (the root, also written "。" and mapped by UTS-46) names the
        # same domain: drop it, so b@example.com. and b@example.com are one recipient.
        if ascii_form.endswith("."):
            ascii_form = ascii_form[:-1]
            if not ascii_form or ascii_form.endswith("."):
                raise idna.IDNAError("Empty Label")
        unicode_form = idna.decode(ascii_form)
    except (idna.IDNAError, UnicodeError) as e:
        raise _BadDomainError(f"not a valid domain under IDNA 2008 ({e})") from None
    if len(ascii_form) > MAX_DOMAIN_OCTETS:
        raise _BadDomainError(f"the domain is over {MAX_DOMAIN_OCTETS} octets")
    if ascii_form.rsplit(".", 1)[-1].isdigit():
        raise _BadDomainError("an IP address is not a domain")
    # Keep A-labels the user wrote as A-labels: both forms name the same domain.
    return ascii_form if domain.isascii() else unicode_form


def mailbox_key(address: Address) -> tuple[str, str]:
    """What makes two addresses the same mailbox: the local part and the domain's
    A-label form (``münchen.de`` is ``xn--mnchen-3ya.de``); display names aside."""
    return address.local_part, domain_to_ascii(address.domain)


@functools.lru_cache(maxsize=4096)
def domain_to_ascii(domain: str) -> str:
    """Return the A-label form of a normalised *domain* (IDNA 2008 + UTS-46)."""
    if domain.isascii():
        return domain
    return idna.encode(domain, uts46=True).decode("ascii")


def prep_address(address: str | Address, force_ascii: bool = True) -> str:
    """Return the bare addr-spec of *address*, ready for the SMTP envelope.

    ``"Name <user@münchen.de>"`` gives ``"user@xn--mnchen-3ya.de"``. With
    ``force_ascii=True`` (the default) a non-ASCII local part is rejected, since only
    SMTPUTF8 servers accept one; with ``force_ascii=False`` it is kept, and so is a
    Unicode domain. Idempotent: ``prep_address(prep_address(a)) == prep_address(a)``.
    """
    parsed = check_address(address) if isinstance(address, Address) else parse_address(address)
    local = quote_local_part(parsed.local_part)
    if force_ascii:
        if not local.isascii():
            raise InvalidAddress(
                "address",
                str(address),
                "a non-ASCII local part needs SMTPUTF8 (prep_address(..., force_ascii=False))",
            )
        return f"{local}@{domain_to_ascii(parsed.domain)}"
    return f"{local}@{parsed.domain}"
