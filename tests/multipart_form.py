"""A small multipart/form-data reader for tests, written apart from the encoder it checks.

It reads a body the way a server does (RFC 7578): the boundary from the Content-Type,
the parts between delimiters, each part's Content-Disposition name and filename
(quoted strings with backslash escapes) and its exact bytes.
"""

from __future__ import annotations

import re

import attrs

_PARAM = re.compile(r';\s*([A-Za-z*]+)="((?:[^"\\]|\\.)*)"')


@attrs.frozen
class Field:
    """One part of a form."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8")


def boundary_of(content_type: str) -> str:
    """The boundary parameter of a multipart/form-data Content-Type."""
    kind, _, params = content_type.partition(";")
    assert kind.strip().lower() == "multipart/form-data", content_type
    match = re.search(r'boundary="?([^";]+)"?', params)
    assert match is not None, content_type
    return match[1]


def parse_form(body: bytes, content_type: str) -> list[Field]:
    """The fields of *body*, in order; AssertionError when it is not well formed."""
    delimiter = b"--" + boundary_of(content_type).encode("ascii")
    assert body.startswith(delimiter + b"\r\n"), body[:80]
    assert body.endswith(delimiter + b"--\r\n"), body[-80:]
    chunks = body[: -len(delimiter) - 4].split(b"\r\n" + delimiter + b"\r\n")
    chunks[0] = chunks[0][len(delimiter) + 2 :]
    chunks[-1] = chunks[-1].removesuffix(b"\r\n")
    fields = []
    for chunk in chunks:
        head, separator, data = chunk.partition(b"\r\n\r\n")
        assert separator, chunk[:80]
        headers = {}
        for line in head.decode("utf-8").split("\r\n"):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        disposition = headers["content-disposition"]
        assert disposition.startswith("form-data"), disposition
        params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in _PARAM.findall(disposition)}
        fields.append(
            Field(
                name=params["name"],
                data=data,
                filename=params.get("filename"),
                content_type=headers.get("content-type"),
            )
        )
    return fields


def values(fields: list[Field], name: str) -> list[str]:
    """The text of every field called *name*, in order."""
    return [f.text for f in fields if f.name == name]
