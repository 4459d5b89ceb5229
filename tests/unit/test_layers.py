"""The layer rules of ARCHITECTURE.md, checked by reading the source."""

from __future__ import annotations

import ast
from pathlib import Path

import proper_mail

PACKAGE = Path(proper_mail.__file__).parent
CORE = PACKAGE / "core"

# What core/ may import: pure stdlib modules and small pure libraries.
CORE_ALLOWED = {
    "__future__",
    "attrs",
    "binascii",
    "codecs",
    "collections",
    "css_inline",  # pure string -> string; remote stylesheets are switched off
    "inscriptis",  # HTML -> text, pure
    "datetime",
    "email",
    "functools",
    "hashlib",
    "idna",
    "io",  # io.BytesIO only: an in-memory buffer, no file or socket
    "itertools",
    "json",  # provider_options: JSON text in a record, encoded and decoded in memory
    "lxml.html",  # parsing only
    "re",
    "typing",
    "urllib.parse",
}
CORE_ALLOWED_RELATIVE = {"errors"}  # from ..errors; from .x within core is fine


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Return (level, module) for every import in *path*."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((0, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_core_imports_only_pure_modules() -> None:
    """core/ imports no I/O library and nothing from adapters/, tasks/ or the shell."""
    offenders = []
    for path in sorted(CORE.rglob("*.py")):
        for level, module in imports_of(path):
            if level == 0:
                allowed = any(module == m or module.startswith(f"{m}.") for m in CORE_ALLOWED)
            elif level == 1:
                allowed = True
            else:
                allowed = level == 2 and module in CORE_ALLOWED_RELATIVE
            if not allowed:
                offenders.append(f"{path.name}: {'.' * level}{module}")

    assert offenders == []


CLOCK_AND_RANDOMNESS = {
    "now",
    "utcnow",
    "today",
    "time",
    "time_ns",
    "monotonic",
    "perf_counter",
    "urandom",
    "token_hex",
    "token_bytes",
    "token_urlsafe",
    "uuid1",
    "uuid4",
    "random",
    "randint",
    "choice",
    "getrandbits",
    "getfqdn",
    "gethostname",
}


def calls_of(path: Path) -> list[tuple[int, str]]:
    """Return (line, name) for every call of a plain or dotted name in *path*."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            found.append((node.lineno, name))
    return found


def test_core_reads_no_clock_and_draws_no_randomness() -> None:
    """core/ never calls now()/time()/random/getfqdn(): the Stamp brings them in."""
    offenders = [
        f"{path.name}:{line} {name}()"
        for path in sorted(CORE.rglob("*.py"))
        for line, name in calls_of(path)
        if name in CLOCK_AND_RANDOMNESS
    ]

    assert offenders == []


def test_the_layer_test_catches_a_forbidden_import(tmp_path: Path) -> None:
    """The import scan sees plain, dotted and relative imports."""
    module = tmp_path / "m.py"
    module.write_text("import socket\nfrom ..adapters import smtp\nfrom os import path\n")

    assert imports_of(module) == [(0, "socket"), (2, "adapters"), (0, "os")]


def test_the_clock_scan_sees_calls(tmp_path: Path) -> None:
    """The call scan sees dt.datetime.now() and a bare time_ns()."""
    module = tmp_path / "m.py"
    module.write_text("import datetime as dt\nx = dt.datetime.now()\ny = time_ns()\n")

    assert [name for _, name in calls_of(module)] == ["now", "time_ns"]


def test_webhooks_never_import_tasks_or_the_composition_root() -> None:
    """webhooks/ stands beside adapters/: it imports core, errors and adapters.http
    (Secret), never tasks/, mail, message or cli (the lead's send path imports it, not
    the other way round)."""
    offenders = [
        f"{path.name}: {'.' * level}{module}"
        for path in sorted((PACKAGE / "webhooks").rglob("*.py"))
        for level, module in imports_of(path)
        if (level == 2 and module.split(".")[0] in {"tasks", "mail", "message", "cli", "app"})
        or (level == 0 and module.startswith("proper_mail"))
    ]

    assert offenders == []
