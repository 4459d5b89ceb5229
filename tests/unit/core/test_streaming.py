"""iter_bytes and wire_size: the wire bytes in chunks, and their length without them."""

from __future__ import annotations

import datetime as dt
import email.policy
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proper_mail.core import mime
from proper_mail.core.compose import compose
from proper_mail.core.mime import CHUNK_INPUT_BYTES, iter_bytes, to_bytes, wire_size
from proper_mail.core.records import Attachment, Stamp
from proper_mail.errors import InvalidAddress
from tests.strategies import compose_fields

STAMP = Stamp(dt.datetime(2026, 11, 27, 9, 30, tzinfo=dt.UTC), "18ec0279d6855e6e.de835cbd")
POLICIES = [email.policy.SMTP, email.policy.SMTPUTF8]
# Not random, but not regular either: every byte value, in an order that shifts.
BIG = bytes((i * 7 + i // 256) % 256 for i in range(3 * CHUNK_INPUT_BYTES + 1000))
LARGE = compose(
    stamp=STAMP,
    from_email="a@example.com",
    to="b@example.com",
    subject="The report",
    body="See attached.\n",
    attachments=[
        Attachment("report.pdf", BIG, "application/pdf"),
        Attachment("notes.txt", b"short\n", "text/plain"),
        Attachment("empty.bin", b""),
    ],
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=compose_fields(), policy=st.sampled_from(POLICIES))
def test_iter_bytes_joins_to_to_bytes(fields: dict[str, Any], policy: Any) -> None:
    """For any message and policy, b"".join(iter_bytes(m)) == to_bytes(m) == wire_size(m) long."""
    message = compose(stamp=STAMP, **fields)

    with mock.patch.object(mime, "CHUNK_INPUT_BYTES", 57):  # files span several chunks
        chunks = list(iter_bytes(message, policy))
        data = to_bytes(message, policy)

    assert b"".join(chunks) == data
    assert wire_size(message, policy) == len(data)
    assert all(chunk.endswith(b"\r\n") for chunk in chunks)


def test_a_large_file_comes_in_chunks_of_whole_lines() -> None:
    """A file over one chunk is encoded slice by slice: several chunks, each whole lines."""
    chunks = list(iter_bytes(LARGE))

    assert b"".join(chunks) == to_bytes(LARGE)
    assert len(chunks) >= 4
    assert max(len(chunk) for chunk in chunks) <= CHUNK_INPUT_BYTES * 4 // 3 * 78 // 76 + 1024
    assert all(chunk and chunk.endswith(b"\r\n") for chunk in chunks)


def test_base64_lines_stay_76_characters_across_chunks() -> None:
    """Chunks end on a 57-byte boundary, so every base64 line but the last is 76 long."""
    data = b"".join(iter_bytes(LARGE))
    body = data.split(b"Content-Transfer-Encoding: base64\r\n\r\n", 1)[1].split(b"\r\n\r\n--", 1)[0]

    lines = body.split(b"\r\n")

    assert {len(line) for line in lines[:-1]} == {76}
    assert 0 < len(lines[-1]) <= 76


@pytest.mark.parametrize("policy", POLICIES, ids=["SMTP", "SMTPUTF8"])
def test_wire_size_equals_the_length_of_to_bytes(policy: Any) -> None:
    """wire_size(m) == len(to_bytes(m)) for a message with large, small and empty files."""
    assert wire_size(LARGE, policy) == len(to_bytes(LARGE, policy))


def test_wire_size_does_not_encode_the_files() -> None:
    """A file's base64 length is arithmetic: wire_size never runs the encoder."""
    expected = len(to_bytes(LARGE))

    with mock.patch.object(mime, "_base64", side_effect=AssertionError("encoded")):
        size = wire_size(LARGE)

    assert size == expected


@given(n=st.integers(0, 5000))
def test_base64_size_is_the_encoded_length(n: int) -> None:
    """The arithmetic matches the encoder for every length, padding included."""
    assert mime._base64_size(n) == len(mime._base64(bytes(n)))


def test_iter_bytes_raises_what_to_bytes_raises_before_any_chunk() -> None:
    """A non-ASCII local part under the 7-bit policy fails at the first next(), as to_bytes."""
    message = compose(stamp=STAMP, from_email="a@example.com", to="josé@example.com")
    chunks = iter_bytes(message)

    with pytest.raises(InvalidAddress, match="SMTPUTF8"):
        next(chunks)


def test_a_large_text_part_is_its_own_chunk() -> None:
    """A text part over a chunk's size is yielded as it is, not copied into a join."""
    body = "line of text\n" * 10_000
    message = compose(stamp=STAMP, from_email="a@example.com", to="b@example.com", body=body)

    chunks = list(iter_bytes(message))

    assert chunks[1] == mime.encode_text(body, "utf-8")[1]
    assert b"".join(chunks) == to_bytes(message)
