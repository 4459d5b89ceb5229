"""Hypothesis strategies shared by the tests: addresses, names, header text, messages."""

from __future__ import annotations

from hypothesis import strategies as st

ATEXT = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
IDN_LABELS = ["münchen", "faß", "例子", "bücher", "ελληνικά", "παράδειγμα", "xn--mnchen-3ya"]
# Text that may appear in a header: no controls, no lone surrogates.
HEADER_CHARS = st.characters(
    blacklist_categories=("Cc", "Cs"),
    blacklist_characters="\x85\u2028\u2029",
)


def ldh_labels() -> st.SearchStrategy[str]:
    """One LDH host label, 1-20 characters, lower case."""
    return st.from_regex(r"[a-z0-9]([a-z0-9-]{0,18}[a-z0-9])?", fullmatch=True)


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
