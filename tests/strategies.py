"""Hypothesis strategies shared by the tests: addresses, names, header text, messages."""

from __future__ import annotations

from hypothesis import strategies as st

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
IDN_LABELS = ["münchen", "faß", "例子", "bücher", "ελληνικά", "παράδειγμα", "xn--mnchen-3ya"]
# Text that may appear in a header: no controls, no lone surrogates.
HEADER_CHARS = st.characters(
    exclude_categories=["Cc", "Cs"],
    exclude_characters="\x85\u2028\u2029",
)


def ldh_labels() -> st.SearchStrategy[str]:
    """One LDH host label, 1-20 characters, lower case."""
    return st.from_regex(r"[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?", fullmatch=True).filter(
        lambda label: label[2:4] != "--"  # reserved (RFC 5891 4.2.3.1): only xn-- is valid
    )


@st.composite
def domains(draw: st.DrawFn) -> str:
    """A valid domain: LDH labels, sometimes an IDN label, never an all-digit TLD."""
    labels = draw(st.lists(st.one_of(ldh_labels(), st.sampled_from(IDN_LABELS)), max_size=3))
    tld = draw(st.one_of(st.from_regex(r"[a-z]{2,6}", fullmatch=True), st.sampled_from(IDN_LABELS)))
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
                st.from_regex(r"X-[a-z0-9-]{1,20}", fullmatch=True),
                header_text(100).map(lambda s: s.strip(" \t")),
                max_size=3,
            )
        ),
    }
