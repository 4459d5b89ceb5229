"""Hypothesis strategies shared by the tests: addresses, names, header text, messages."""

from __future__ import annotations

import functools
import re

from hypothesis import strategies as st

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
IDN_LABELS = ["münchen", "faß", "例子", "bücher", "ελληνικά", "παράδειγμα", "xn--mnchen-3ya"]
# Text that may appear in a header: no controls, no lone surrogates.
HEADER_CHARS = st.characters(
    exclude_categories=["Cc", "Cs"],
    exclude_characters="\x85\u2028\u2029",
)


LDH = "abcdefghijklmnopqrstuvwxyz0123456789"


def ldh_labels() -> st.SearchStrategy[str]:
    """One LDH host label, 1-20 characters, lower case (text, not from_regex: 10x faster)."""
    return st.builds(
        lambda first, middle, last: first + middle + last if middle else first,
        st.sampled_from(LDH),
        st.text(LDH + "-", max_size=18),
        st.sampled_from(LDH),
    ).filter(
        lambda label: label[2:4] != "--"  # reserved (RFC 5891 4.2.3.1): only xn-- is valid
    )


@st.composite
def domains(draw: st.DrawFn) -> str:
    """A valid domain: LDH labels, sometimes an IDN label, never an all-digit TLD."""
    labels = draw(st.lists(st.one_of(ldh_labels(), st.sampled_from(IDN_LABELS)), max_size=3))
    tld = draw(
        st.one_of(
            st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6),
            st.sampled_from(IDN_LABELS),
        )
    )
    return ".".join([*labels, tld])


@st.composite
def local_parts(draw: st.DrawFn) -> str:
    """A dot-atom local part: ASCII mostly, sometimes with non-ASCII letters."""
    alphabet = st.one_of(st.sampled_from(ATEXT), st.sampled_from("éüßø用户"))
    atoms = draw(st.lists(st.text(alphabet, min_size=1, max_size=8), min_size=1, max_size=3))
    return ".".join(atoms)


@st.composite
def addr_specs(draw: st.DrawFn) -> str:
    """``local@domain`` within the RFC 5321 length limits."""
    spec = f"{draw(local_parts())}@{draw(domains())}"
    return spec if len(spec.encode()) <= 200 else "x@example.com"


def display_names() -> st.SearchStrategy[str]:
    """Any display name: empty, ASCII with specials, or Unicode."""
    return st.one_of(
        st.just(""),
        st.text(HEADER_CHARS, max_size=40),
        st.sampled_from(["Zoë Müller", '"Doe, John"', "a\\b", "=?utf-8?q?x?=", "José, Núñez"]),
    )


def ascii_addr_specs() -> st.SearchStrategy[str]:
    """Addr-specs with an ASCII local part (sendable without SMTPUTF8)."""
    return addr_specs().filter(lambda s: s.rsplit("@", 1)[0].isascii())


def header_text(max_size: int = 60) -> st.SearchStrategy[str]:
    """Any header text without control characters (tabs included)."""
    return st.text(st.one_of(HEADER_CHARS, st.just("\t")), max_size=max_size)


@st.composite
def mailboxes(draw: st.DrawFn, *, ascii_local: bool = True) -> str:
    """One address string as a user writes it, with an optional display name."""
    from proper_mail.core.addresses import Address

    spec = draw(ascii_addr_specs() if ascii_local else addr_specs())
    name = draw(display_names())
    parsed = Address.parse(spec)
    return str(Address(name, parsed.local_part, parsed.domain))


def body_text() -> st.SearchStrategy[str]:
    """A body: any text, with every kind of line ending, long lines sometimes."""
    chars = st.characters(exclude_categories=["Cs"])
    return st.one_of(
        st.text(chars, max_size=300),
        st.builds(
            lambda w, n: (w + " ") * n,
            st.text("abcé€", min_size=1, max_size=9),
            st.integers(0, 400),
        ),
        st.lists(
            st.sampled_from(["line", "\r\n", "\n", "\r", ".", "From x", "=", " ", "\t"]),
            max_size=40,
        ).map("".join),
    )


@st.composite
def attachments(draw: st.DrawFn) -> list[object]:
    """0-3 attachments with arbitrary bytes and names."""
    from proper_mail.core.records import Attachment

    result: list[object] = []
    for i in range(draw(st.integers(0, 3))):
        name = draw(
            st.text(HEADER_CHARS, min_size=1, max_size=80).filter(lambda s: s.strip("/\\ "))
        )
        content = draw(st.binary(max_size=300))
        inline = draw(st.booleans())
        result.append(
            Attachment(
                name,
                content,
                draw(
                    st.sampled_from(
                        ["application/pdf", "image/png", "text/csv", "application/octet-stream"]
                    )
                ),
                "inline" if inline else "attachment",
                f"part{i}@example.com" if inline else None,
            )
        )
    return result


@st.composite
def compose_fields(draw: st.DrawFn) -> dict[str, object]:
    """Keyword arguments for compose(): every field, drawn broadly."""
    subtype = draw(st.sampled_from(["plain", "html"]))
    alternatives = []
    if draw(st.booleans()):
        alternatives.append((draw(body_text()), "text/plain" if subtype == "html" else "text/html"))
    return {
        "from_email": draw(mailboxes()),
        "to": draw(st.lists(mailboxes(), min_size=1, max_size=6)),
        "cc": draw(st.lists(mailboxes(), max_size=4)),
        "bcc": draw(st.lists(mailboxes(), max_size=2)),
        "reply_to": draw(st.lists(mailboxes(), max_size=2)),
        "subject": draw(header_text(200)),
        "body": draw(body_text()),
        "content_subtype": subtype,
        "alternatives": alternatives,
        "attachments": draw(attachments()),
        "headers": draw(
            st.dictionaries(
                st.text(LDH + "-", min_size=1, max_size=20).map(lambda name: f"X-{name}"),
                header_text(100).map(lambda s: s.strip(" \t")),
                max_size=3,
            )
        ),
    }


# The whole input space of compose(): any Unicode (lone surrogates included), the
# characters that separate things in headers and addresses, long runs, Address records
# built by hand, and values of the wrong type.
SEPARATORS = [
    "\r", "\n", "\r\n", "\x00", "\u2028", "\u2029", "\x85", "\t", " ", "  ", ",", ";", ":",
    "<", ">", '"', "\\", "@", ".", "=?", "?=", "\ud800", "\udfff", "\u202e", "é", "€", "用",
]  # fmt: skip
SURROGATES = ["\ud800", "\udbff", "\udc80", "\udfff"]
# Drawn as lists of pieces joined: st.text() over such an alphabet merges it into code
# point ranges, which drops the surrogates and makes the separators rare.
HOSTILE_PIECES = st.one_of(
    st.characters(exclude_categories=()),
    st.sampled_from(SEPARATORS),
    st.sampled_from(ATEXT),
)
_CONTROL_OR_SURROGATE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]")
WRONG_TYPES: list[object] = [5, 1.5, True, b"bytes", object(), [], {}, ("x",), {"k": object()}]


@functools.cache
def hostile_text(max_size: int = 30) -> st.SearchStrategy[str]:
    """Any text: every code point (surrogates too), separators often, sometimes very long."""
    short = st.lists(HOSTILE_PIECES, max_size=max_size).map("".join)
    special = st.builds(
        lambda before, piece, after: before + piece + after,
        st.lists(HOSTILE_PIECES, max_size=max_size // 2).map("".join),
        st.one_of(st.sampled_from(SEPARATORS), st.sampled_from(SURROGATES)),
        st.lists(HOSTILE_PIECES, max_size=max_size // 2).map("".join),
    )
    long = st.builds(
        lambda piece, n, sep: sep.join([piece] * n),
        st.sampled_from(["a", "é", "€", "x\t", "𠀀", "word", "=?utf-8?q?x?="]),
        st.integers(100, 1200),
        st.sampled_from(["", " ", "\t"]),
    )
    return st.one_of(short, special, special, long)


# Pools drawn with sampled_from: composite address strategies cost ~8 ms a draw here.
VALID_MAILBOXES = [
    "alice@example.com",
    "Alice <alice@example.com>",
    '"Doe, John" <john@example.com>',
    "Zoë Müller <zoe@münchen.de>",
    "user@MÜNCHEN.DE.",
    "b@example.com.",
    "b@example.com",
    "B@Example.COM",
    '"john doe"@example.com',
    '"a@b"@example.com',
    "josé@example.com",
    "用户 <用户@例子.广告>",
    "x@xn--bcher-kva.example",
    "x@bücher.example",
    "=?utf-8?q?x?= <q@example.com>",
    "N" * 300 + " <long@example.com>",
    '"' + "é" * 400 + '" <longer@example.com>',
    "a" * 64 + "@" + "b" * 63 + ".example",
]
HOSTS = [
    "example.com",
    "example.com.",
    "Example.COM",
    "münchen.de",
    "例子.广告",
    "xn--mnchen-3ya.de",
]
HOSTILE_HOSTS = [
    "example.com> NOTIFY=SUCCESS",
    "exa mple.com",
    "",
    ".",
    "a..b",
    "[1.2.3.4]",
    "1.2.3.4",
]


@functools.cache
def hand_built_addresses() -> st.SearchStrategy[object]:
    """Address records built by hand: valid, or with any text in any field."""
    from proper_mail.core.addresses import Address

    names = st.one_of(st.sampled_from(["", "Bob", "Zoë", "N" * 5000]), hostile_text())
    locals_ = st.one_of(st.sampled_from(["b", "a.b", "a b", "josé", ""]), hostile_text(8))
    hosts = st.one_of(st.sampled_from(HOSTS + HOSTILE_HOSTS), hostile_text(8))
    return st.builds(Address, names, locals_, hosts)


@functools.cache
def any_address() -> st.SearchStrategy[object]:
    """One address as compose() may be given it: a str (valid or not), a record, junk."""
    return st.one_of(
        st.sampled_from(VALID_MAILBOXES),
        st.builds(
            lambda local, host: f"{local}@{host}",
            hostile_text(8),
            st.sampled_from(HOSTS + HOSTILE_HOSTS),
        ),
        st.builds(
            lambda name, spec: f"{name} <{spec}>",
            hostile_text(10),
            st.sampled_from(VALID_MAILBOXES[:2]),
        ),
        hostile_text(),
        hand_built_addresses(),
        st.sampled_from(WRONG_TYPES),
    )


@functools.cache
def any_address_input() -> st.SearchStrategy[object]:
    """None, one address, or a list of them."""
    return st.one_of(st.none(), any_address(), st.lists(any_address(), max_size=4))


@functools.cache
def any_header_value() -> st.SearchStrategy[object]:
    """A header or metadata value: text, an int, or something else."""
    return st.one_of(
        hostile_text(), st.integers(-(10**6), 10**6), st.sampled_from([*WRONG_TYPES, None])
    )


@functools.cache
def any_header_name() -> st.SearchStrategy[object]:
    """A header name: a valid one, a reserved one, any text, very long, or not a str."""
    return st.one_of(
        st.text(LDH + "ABCXYZ-", min_size=1, max_size=20).map(lambda name: f"X-{name}"),
        st.sampled_from(["Bcc", "Content-Type", "List-Unsubscribe", "X-" + "A" * 990, 5]),
        hostile_text(10),
    )


@functools.cache
def any_headers() -> st.SearchStrategy[object]:
    """headers=: a mapping, (name, value) pairs, malformed pairs, or not a container."""
    pair = st.tuples(any_header_name(), any_header_value())
    return st.one_of(
        st.none(),
        st.dictionaries(any_header_name(), any_header_value(), max_size=3),
        st.lists(pair, max_size=3),
        st.lists(st.one_of(pair, st.tuples(hostile_text(5)), st.just(5)), max_size=2),
        st.sampled_from([*WRONG_TYPES, "X-A: 1"]),
    )


@functools.cache
def any_attachment() -> st.SearchStrategy[object]:
    """An Attachment with any name, type, disposition and Content-ID, or not one."""
    from proper_mail.core.records import Attachment

    return st.one_of(
        st.builds(
            Attachment,
            st.one_of(hostile_text(), st.just(5)),
            st.one_of(st.binary(max_size=200), st.just("text")),
            st.one_of(
                st.sampled_from(["application/pdf", "text/plain", "message/rfc822"]),
                st.sampled_from(["multipart/mixed", "x" * 300 + "/y", "bad", ""]),
                hostile_text(10),
            ),
            st.sampled_from(["attachment", "inline", "other"]),
            st.one_of(
                st.none(),
                st.sampled_from(["logo@example.com", "<a.b@c>", "a b", "x" * 990 + "@y"]),
                hostile_text(10),
            ),
        ),
        st.sampled_from(WRONG_TYPES),
    )


@functools.cache
def any_alternative() -> st.SearchStrategy[object]:
    """An alternative body: a (content, mimetype) pair, an Alternative, or junk."""
    from proper_mail.core.records import Alternative

    mimetypes = st.one_of(
        st.sampled_from(["text/html", "text/plain", "TEXT/HTML", "image/png", "text/" + "x" * 200]),
        hostile_text(8),
    )
    return st.one_of(
        st.tuples(hostile_text(), mimetypes),
        st.builds(Alternative, hostile_text(), mimetypes),
        st.tuples(hostile_text(5)),
        st.sampled_from(WRONG_TYPES),
    )


@functools.cache
def any_list(items: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """None, a list of *items*, or a value of the wrong type for a list."""
    return st.one_of(st.none(), st.lists(items, max_size=3), st.sampled_from([*WRONG_TYPES, "abc"]))


@functools.cache
def any_datetime() -> st.SearchStrategy[object]:
    """None, an aware or naive datetime (odd offsets too), or not a datetime."""
    import datetime as dt

    offsets = st.sampled_from([0, 60, -330, 0.5, 1439]).map(
        lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
    )
    return st.one_of(
        st.none(),
        st.datetimes(timezones=offsets),
        st.datetimes(),
        st.sampled_from(["2026-01-01", 5]),
    )


@functools.cache
def any_defaults() -> st.SearchStrategy[object]:
    """NO_DEFAULTS, a Defaults built by hand with anything in it, or not a Defaults."""
    from proper_mail.core.compose import NO_DEFAULTS
    from proper_mail.core.records import Defaults

    return st.one_of(
        st.just(NO_DEFAULTS),
        st.builds(
            Defaults,
            from_email=st.one_of(st.none(), hand_built_addresses()),
            subject=st.one_of(st.just(""), hostile_text()),
            to=st.lists(hand_built_addresses(), max_size=2).map(tuple),
            bcc=st.lists(hand_built_addresses(), max_size=1).map(tuple),
            headers=st.lists(st.tuples(any_header_name(), hostile_text()), max_size=2).map(tuple),
        ),
        st.sampled_from(WRONG_TYPES),
    )


@functools.cache
def hostile_field_strategies() -> dict[str, st.SearchStrategy[object]]:
    """One strategy per compose() field, over its whole input space (invalid mostly)."""
    return {
        "defaults": any_defaults(),
        "message_id_domain": st.one_of(
            st.none(), st.sampled_from(HOSTS + HOSTILE_HOSTS), hostile_text(10), st.just(5)
        ),
        "from_email": st.one_of(st.none(), any_address()),
        "to": any_address_input(),
        "cc": any_address_input(),
        "bcc": any_address_input(),
        "reply_to": any_address_input(),
        "subject": st.one_of(
            hostile_text(), hostile_text(), st.none(), st.sampled_from(WRONG_TYPES)
        ),
        "body": st.one_of(hostile_text(), hostile_text(), st.none(), st.sampled_from(WRONG_TYPES)),
        "content_subtype": st.sampled_from([None, "plain", "html", "markdown", 5]),
        "charset": st.one_of(
            st.none(),
            st.sampled_from(["utf-8", "iso-8859-1", "us-ascii", "utf-16", "utf 8", "nope"]),
            hostile_text(5),
            st.just(5),
        ),
        "headers": any_headers(),
        "alternatives": any_list(any_alternative()),
        "attachments": any_list(any_attachment()),
        "message_id": st.one_of(
            st.none(),
            st.sampled_from(["<a.b@example.com>", "c@d", "<" + "a" * 990 + "@b>"]),
            hostile_text(10),
            st.just(5),
        ),
        "date": any_datetime(),
        "tags": st.one_of(any_list(hostile_text(8)), hostile_text(8)),
        "metadata": st.one_of(
            st.none(),
            st.dictionaries(st.one_of(hostile_text(8), st.just(5)), any_header_value(), max_size=3),
            st.sampled_from(WRONG_TYPES),
        ),
        "envelope_from": st.one_of(st.none(), any_address()),
        "envelope_to": any_list(any_address()),
        "expires": any_datetime(),
    }


# Valid, but at the edges: separators, quotes, "=?", long runs, non-ASCII, TABs.
EDGY_PIECES = st.one_of(
    HEADER_CHARS,
    st.sampled_from([c for c in SEPARATORS if not _CONTROL_OR_SURROGATE.search(c)]),
)
EDGY_TEXT = st.one_of(
    st.lists(EDGY_PIECES, max_size=40).map("".join),
    st.builds(
        lambda piece, n, sep: sep.join([piece] * n),
        st.sampled_from(["a", "é", "€", "x\t", "𠀀", "word", "=?utf-8?q?x?=", '"', ","]),
        st.integers(100, 1200),
        st.sampled_from(["", " ", "\t"]),
    ),
)


@functools.cache
def valid_field_strategies() -> dict[str, st.SearchStrategy[object]]:
    """One strategy per compose() field, valid values mostly (but to= and envelope_to=)."""
    import datetime as dt

    from proper_mail.core.addresses import Address
    from proper_mail.core.compose import NO_DEFAULTS
    from proper_mail.core.records import Alternative, Attachment, Defaults

    built = st.builds(
        Address,
        st.one_of(st.sampled_from(["", "Bob", "N" * 5000]), EDGY_TEXT),
        st.sampled_from(["b", "a.b", "a b", "josé", 'x"y']),
        st.sampled_from(HOSTS),
    )
    address = st.one_of(st.sampled_from(VALID_MAILBOXES), built)
    addresses = st.one_of(st.none(), address, st.lists(address, max_size=4))
    aware = st.datetimes(timezones=st.sampled_from([dt.UTC, dt.timezone(dt.timedelta(hours=-5))]))
    names = st.text(LDH + "ABCXYZ-", min_size=1, max_size=20).map(lambda name: f"X-{name}")
    value = st.one_of(EDGY_TEXT, st.integers(-(10**9), 10**9))
    attachment = st.builds(
        Attachment,
        EDGY_TEXT,
        st.binary(max_size=200),
        st.sampled_from(["application/pdf", "text/plain", "image/PNG"]),
        st.sampled_from(["attachment", "inline"]),
        st.sampled_from([None, "logo@example.com", "<a.b@c>"]),
    )
    alternative = st.one_of(
        st.tuples(EDGY_TEXT, st.sampled_from(["text/html", "text/plain", "TEXT/X-AMP-HTML"])),
        st.builds(Alternative, EDGY_TEXT, st.just("text/html")),
    )
    return {
        "defaults": st.one_of(
            st.just(NO_DEFAULTS),
            st.builds(
                Defaults,
                from_email=st.one_of(st.none(), built),
                subject=EDGY_TEXT,
                to=st.lists(built, max_size=2).map(tuple),
                headers=st.dictionaries(names, EDGY_TEXT, max_size=2).map(
                    lambda d: tuple(d.items())
                ),
            ),
        ),
        "message_id_domain": st.one_of(st.none(), st.sampled_from(HOSTS)),
        "from_email": address,
        "cc": addresses,
        "bcc": addresses,
        "reply_to": addresses,
        "subject": st.one_of(st.none(), EDGY_TEXT),
        "body": st.one_of(st.none(), EDGY_TEXT, body_text()),
        "content_subtype": st.sampled_from([None, "plain", "html"]),
        "charset": st.sampled_from([None, "utf-8", "UTF-8", "iso-8859-1"]),
        "headers": st.one_of(
            st.none(),
            st.dictionaries(names, value, max_size=3),
            st.lists(st.tuples(names, value), max_size=2, unique_by=lambda t: t[0].lower()),
        ),
        "alternatives": st.lists(alternative, max_size=2),
        "attachments": st.lists(attachment, max_size=3),
        "message_id": st.sampled_from([None, "<a.b@example.com>", "c@d"]),
        "date": st.one_of(st.none(), aware),
        "tags": st.one_of(
            st.just(()), EDGY_TEXT.filter(bool), st.lists(EDGY_TEXT.filter(bool), max_size=2)
        ),
        "metadata": st.one_of(
            st.none(), st.dictionaries(EDGY_TEXT.filter(bool), value, max_size=2)
        ),
        "envelope_from": st.one_of(st.none(), address),
        "expires": st.one_of(st.none(), aware),
        "to": addresses,
    }


@st.composite
def any_compose_fields(draw: st.DrawFn) -> dict[str, object]:
    """Keyword arguments for compose() (all but stamp), drawn from its whole input space.

    Every field but up to three is drawn valid (at the edges), so that many examples
    compose; the others from anything, including wrong types.
    """
    valid = valid_field_strategies()
    hostile = hostile_field_strategies()
    # A permutation's head: st.sets(st.sampled_from(...)) drew some fields 8x less often.
    chosen = draw(st.permutations(sorted(hostile)))[: draw(st.sampled_from([0, 1, 1, 2, 3]))]
    fields = {
        name: draw(hostile[name] if name in chosen else valid[name])
        for name in sorted(hostile)
        if name != "envelope_to"
    }
    to = fields["to"]
    recipients = to if isinstance(to, list) else [] if to is None else [to]
    envelope_to = (
        st.one_of(st.just(()), st.lists(st.sampled_from(recipients), max_size=2))
        if recipients
        else st.just(())
    )
    fields["envelope_to"] = draw(hostile["envelope_to"] if "envelope_to" in chosen else envelope_to)
    return fields
