"""The ``proper-mail`` command.

::

    proper-mail new email Welcome [--app DIR]   emails/welcome_email.py + its two templates
    proper-mail check [--app DIR]               every email has a body or a template, every
                                                template compiles, no relative URLs
    proper-mail worker [--app DIR | --module M] Dramatiq workers for the app's queue
                       [--processes N] [--threads N]
    proper-mail preview [--app DIR] [--port N]  browser previews (emails/previews.py) on
                                                127.0.0.1 (--host X --allow-remote)
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from .adapters.jx import JxRenderer, TemplateProblem
from .core.templates import template_paths
from .errors import ConfigError, ProperMailError
from .message import EmailMessage

__all__ = ["main"]

_PASCAL = re.compile(r"[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)*")
_URL_ATTR = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']*)["']""")
_ABSOLUTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|#|\{\{|\{%)")

EMAIL_PY = """from .base_email import BaseEmail


class {cls}(BaseEmail):
    subject = ""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
"""
EMAIL_JX = """{{#import "layouts/email.jx" as Layout #}}

{{#def subject #}}

<Layout>
  <p>{title}</p>
</Layout>
"""
EMAIL_TXT = """{{#def subject #}}
{title}
"""
LAYOUT_JX = """{#def lang='en' #}

<!DOCTYPE html>
<html lang="{{ lang }}">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width,initial-scale=1">
    <style>
      /* Write normal CSS: proper_mail inlines it into style="..." at render time. */
    </style>
  </head>
  <body>
    {{ content }}
  </body>
</html>
"""
BASE_EMAIL_PY = """from proper_mail import EmailMessage


class BaseEmail(EmailMessage):
    pass
"""


def snake_case(name: str) -> str:
    """``PasswordReset`` -> ``password_reset``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def check_email_name(name: str) -> None:
    """Raise ConfigError unless *name* is PascalCase, singular, without an Email suffix."""
    if not _PASCAL.fullmatch(name):
        raise ConfigError(f"{name!r}: the name must be PascalCase, like Welcome or PasswordReset")
    for suffix in ("Emails", "Email"):
        if name.endswith(suffix) and name != suffix:
            raise ConfigError(
                f"{name!r}: leave out the {suffix} suffix; use {name.removesuffix(suffix)!r}"
                " (the class gets it)"
            )
    if name.endswith("s") and not name.endswith(("ss", "us", "is", "ews")):
        raise ConfigError(f"{name!r}: use the singular (one class per kind of email)")


def new_email(app: Path, name: str) -> list[Path]:
    """Write emails/<name>_email.py and views/emails/<name>.jx and .txt.jx; return them.

    Refuses to overwrite any file. Adds emails/base_email.py and views/layouts/email.jx
    when the app has none yet.
    """
    check_email_name(name)
    module = snake_case(name)
    title = re.sub(r"(?<!^)(?=[A-Z])", " ", name)
    files = {
        app / "emails" / f"{module}_email.py": EMAIL_PY.format(cls=f"{name}Email"),
        app / "views" / "emails" / f"{module}.jx": EMAIL_JX.format(title=title),
        app / "views" / "emails" / f"{module}.txt.jx": EMAIL_TXT.format(title=title),
    }
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise ConfigError(f"refusing to overwrite {', '.join(existing)}")
    extras = {
        app / "emails" / "__init__.py": "",
        app / "emails" / "base_email.py": BASE_EMAIL_PY,
        app / "views" / "layouts" / "email.jx": LAYOUT_JX,
    }
    files.update({path: text for path, text in extras.items() if not path.exists()})
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)


def check_app(app: Path) -> list[TemplateProblem]:
    """Every problem in the app's emails and templates (empty when all is well)."""
    views = app / "views"
    problems: list[TemplateProblem] = []
    if views.is_dir():
        problems.extend(JxRenderer(views, auto_reload=False).check())
        problems.extend(_relative_urls(app, views))
    classes = _email_classes(app, problems)
    bases = {base for cls, _, _ in classes for base in cls.__mro__[1:]}
    for cls, path, line in classes:
        if cls in bases or path.stem == "base_email":
            continue  # a base class, not an email of its own
        paths = template_paths(cls.__module__)
        has_template = (views / paths.html).is_file() or (views / paths.text).is_file()
        if not has_template and not cls.body:
            problems.append(
                TemplateProblem(
                    str(path),
                    line,
                    f"{cls.__name__} has no body and neither views/{paths.html} nor "
                    f"views/{paths.text} exists",
                )
            )
    return problems


def _email_classes(
    app: Path, problems: list[TemplateProblem]
) -> list[tuple[type[EmailMessage], Path, int | None]]:
    emails = app / "emails"
    if not emails.is_dir():
        return []
    package = app.resolve().name
    sys.path.insert(0, str(app.resolve().parent))
    found: list[tuple[type[EmailMessage], Path, int | None]] = []
    try:
        for path in sorted(emails.glob("*.py")):
            if path.name == "__init__.py":
                continue
            name = f"{package}.emails.{path.stem}"
            try:
                module = importlib.import_module(name)
            except Exception as e:  # report any import failure as a problem, keep going
                problems.append(TemplateProblem(str(path), None, f"cannot import: {e!r}"))
                continue
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, EmailMessage) and cls.__module__ == name:
                    line = inspect.getsourcelines(cls)[1]
                    found.append((cls, path, line))
    finally:
        sys.path.remove(str(app.resolve().parent))
    return found


def _relative_urls(app: Path, views: Path) -> list[TemplateProblem]:
    problems = []
    for path in sorted(views.rglob("*.jx")):
        if path.name.endswith(".txt.jx"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for url in _URL_ATTR.findall(line):
                if url.strip() and not _ABSOLUTE.match(url.strip()):
                    problems.append(
                        TemplateProblem(
                            str(path.relative_to(app.parent)),
                            number,
                            f"relative URL {url!r}: use an absolute one (url() helper)",
                        )
                    )
    return problems


def worker_command(
    *, app: Path | None, module: str | None, path: Path | None, processes: int, threads: int
) -> list[str]:
    """The dramatiq command line that runs workers for the app's queue.

    The broker is ``<app>.tasks:broker`` (or ``<module>:broker``): the app's explicit
    broker, never Dramatiq's implicit global one. ConfigError when the queue is
    immediate (nothing to run) or the module has no broker.
    """
    if module is None:
        app = (app or Path()).resolve()
        module, path = f"{app.name}.tasks", app.parent
    search = str((path or Path()).resolve())
    sys.path.insert(0, search)
    try:
        loaded = importlib.import_module(module)
    except ImportError as e:
        raise ConfigError(f"cannot import {module!r} ({e})") from None
    finally:
        sys.path.remove(search)
    broker = getattr(loaded, "broker", None)
    if broker is None:
        raise ConfigError(
            f"{module}.broker is None: QUEUE is 'immediate', so send_later runs in-process and "
            "there is nothing for a worker to do (set QUEUE to a redis:// URL)"
        )
    return [
        sys.executable, "-m", "dramatiq",
        "--path", search,
        "--processes", str(processes),
        "--threads", str(threads),
        f"{module}:broker",
    ]  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``proper-mail`` command; return the exit status."""
    parser = argparse.ArgumentParser(prog="proper-mail", description=__doc__.split("::")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    new = commands.add_parser("new", help="generate files")
    new.add_argument("kind", choices=["email"])
    new.add_argument("name", help="PascalCase, singular, without an Email suffix")
    new.add_argument("--app", type=Path, default=Path(), help="the app folder (default: .)")
    check = commands.add_parser("check", help="check every email and template")
    check.add_argument("--app", type=Path, default=Path(), help="the app folder (default: .)")
    worker = commands.add_parser("worker", help="run Dramatiq workers for the app's queue")
    worker.add_argument("--app", type=Path, default=None, help="the app folder (default: .)")
    worker.add_argument("--module", help="a module with a `broker` (instead of --app)")
    worker.add_argument("--path", type=Path, default=None, help="where --module is found")
    worker.add_argument("--processes", "-p", type=int, default=os.cpu_count() or 1)
    worker.add_argument("--threads", "-t", type=int, default=8)
    serve = commands.add_parser("preview", help="serve browser previews of every email")
    serve.add_argument("--app", type=Path, default=Path(), help="the app folder (default: .)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8025)
    serve.add_argument("--allow-remote", action="store_true", help="listen beyond loopback")
    args = parser.parse_args(argv)

    if args.command == "preview":
        from .preview import make_preview_server

        try:
            server = make_preview_server(
                args.app,
                host=args.host,
                port=args.port,
                allow_remote=args.allow_remote,
                app_env=os.getenv("APP_ENV", "dev"),
            )
        except ProperMailError as e:
            print(f"proper-mail: {e}", file=sys.stderr)
            return 2
        host, port = str(server.server_address[0]), server.server_address[1]
        print(f"Previews at http://{host}:{port}/ (Ctrl-C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
        return 0

    if args.command == "worker":
        try:
            command = worker_command(
                app=args.app,
                module=args.module,
                path=args.path,
                processes=args.processes,
                threads=args.threads,
            )
        except ProperMailError as e:
            print(f"proper-mail: {e}", file=sys.stderr)
            return 2
        # SIGTERM to this process reaches dramatiq's, which lets in-flight sends finish
        # and requeues what was prefetched.
        os.execv(sys.executable, command)  # noqa: S606 - an argument list, no shell

    try:
        if args.command == "new":
            for path in new_email(args.app, args.name):
                print(f"created {path}")
            return 0
        problems = check_app(args.app)
    except ProperMailError as e:
        print(f"proper-mail: {e}", file=sys.stderr)
        return 2
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s)", file=sys.stderr)
        return 1
    print("all emails and templates are fine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
