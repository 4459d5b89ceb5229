"""The proper-mail command: generate, check, preview and send the emails of an app.

    proper-mail new email Welcome [--app DIR]
    proper-mail check [--app DIR]
    proper-mail preview [--app DIR] [--host H] [--port N] [--allow-remote] [--allowed-host NAME]
    proper-mail worker [--app DIR | --module M [--path DIR]] [--processes N] [--threads N]
    proper-mail suppressions list [--json] | add ADDRESS [--reason R] [--expires SECONDS]
                             | remove ADDRESS  [--app DIR]

Every user error is one line on stderr and exit status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import ast
import datetime as dt
import importlib
import importlib.metadata
import inspect
import json
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import attrs
from dramatiq.common import q_name

from .adapters.jx import JxRenderer, TemplateProblem
from .core.lint import lint_message
from .core.mime import to_bytes
from .core.templates import template_paths
from .errors import ConfigError, ProperMailError, TemplateError
from .mail import Mail, configure, configured_mail
from .message import EmailMessage
from .preview import (
    DEFAULT_PORT,
    browse_url,
    check_serving,
    make_preview_server,
    message_of,
    previews_of,
)
from .webhooks.suppression import (
    MemorySuppressionStore,
    Suppression,
    SuppressionStore,
    normalize_address,
)

__all__ = ["main"]

_PASCAL = re.compile(r"[A-Z][a-z0-9]*(?:[A-Z][a-z0-9]*)*")
_URL_ATTR = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']*)["']""")
_ABSOLUTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]*:|//|#|\{\{|\{%)")
_TEMPLATE_AT = re.compile(r"(.+\.jx):(\d+)")

DESCRIPTION = """\
Generate, check, preview and send the emails of an app.

The app is the folder of your app's Python package: it holds __init__.py, emails/
(one class per email, and previews.py) and views/ (the templates). Every command
takes it as --app DIR; the default is the current folder.

Configuration: check, preview and suppressions import the app package and use the
proper_mail configuration it sets up. When importing the package does not call
proper_mail.configure(), they import <app>.main (where the guide's app calls it),
then <app>.mail; when nothing is configured after that, they call proper_mail.configure() with
<app>.config.main (config/main.py), else <app>.config (config.py). When none of
these exists, or none configures anything, the command stops with an error.
"""
EPILOG = "Run 'proper-mail COMMAND --help' for the options of a command."

EMAIL_PY = """from .base_email import BaseEmail


class {cls}(BaseEmail):
    subject = "{title}"

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
PREVIEWS_PY = '''"""Previews for `proper-mail preview`: each returns an email built from fixtures.

Query parameters vary the fixtures: /preview/<name>?to=bob@example.com
"""

from proper_mail.preview import preview

'''
PREVIEW_IMPORT = "from .{module}_email import {cls}\n"
PREVIEW_FN = """

@preview
def {module}(params):
    return {cls}(to=params.get("to", "someone@example.com"))
"""
#: The test `new email` writes to <app>/tests/test_<name>_email.py; `mail` is the
#: fixture of proper_mail's pytest plugin.
TEST_PY = """from {package}.emails.{module}_email import {cls}


def test_{module}_email_is_sent(mail):
    {cls}(to="someone@example.com").send()
    mail.assert_sent({cls}, to="someone@example.com")
"""
#: tests/conftest.py, written when the app's tests have none: the app configured in test
#: mode, once; proper_mail's `mail` fixture then captures what it sends.
CONFTEST_PY = '''"""Test set-up: the app's proper_mail configuration, in test mode.

Every test that takes proper_mail's `mail` fixture sees what the app sends, and nothing
is sent for real.
"""

import os

os.environ.setdefault("APP_ENV", "test")

{configure}
'''
CONFIGURE_BY_MAIN = "import {package}.main  # noqa: E402,F401 - it calls proper_mail.configure()\n"
CONFIGURE_BY_CONFIG = """import proper_mail  # noqa: E402

import {module} as config  # noqa: E402

proper_mail.configure(config)
"""
CONFIG_PY = '''"""The app's email configuration: MAILERS, MAILER, MAILER_DEFAULT_OPTIONS, VIEWS."""

import os
from pathlib import Path

env = os.getenv("APP_ENV", "dev")

VIEWS = Path(__file__).parent.parent / "views"
PROTOCOL = "https"
HOST = "example.com"  # the url() template helper builds absolute URLs with these two

MAILERS = {
    "console": {"type": "proper_mail.ToConsoleMailer"},
    "memory": {"type": "proper_mail.ToMemoryMailer"},
}
MAILER = "memory" if env == "test" else "console"
MAILER_DEFAULT_OPTIONS = {"from": "no-reply@example.com"}
QUEUE = "immediate"  # send_later in-process; a redis:// URL in production
'''


# -- the app: finding it, importing it, its configuration --------------------------------


def find_app(folder: Path, *, emails: bool = True) -> Path:
    """The resolved app folder; ConfigError unless it is a package (with emails/)."""
    app = folder.resolve()
    if not app.is_dir():
        raise ConfigError(f"--app {folder}: not a folder")
    if not app.name.isidentifier():
        raise ConfigError(f"--app {folder}: {app.name!r} is not a Python package name")
    if not (app / "__init__.py").is_file():
        raise ConfigError(
            f"--app {folder}: not a Python package (no __init__.py in {app});"
            " pass --app DIR, the folder of your app's package"
        )
    if emails and not (app / "emails").is_dir():
        raise ConfigError(f"--app {folder}: the app has no emails/ folder ({app / 'emails'})")
    return app


@contextmanager
def importable(app: Path) -> Iterator[None]:
    """Put the folder holding the app's package first on sys.path inside the block."""
    parent = str(app.parent)
    sys.path.insert(0, parent)
    try:
        yield
    finally:
        sys.path.remove(parent)


def load_app(app: Path) -> Mail:
    """Import the app package at *app* (a find_app() folder) and return its Mail.

    The configuration rule of DESCRIPTION: the package itself, else ``<app>.main``
    or ``<app>.mail``, else ``configure(<app>.config.main)`` or
    ``configure(<app>.config)``. ConfigError (one line) when the app cannot be imported
    or nothing configures it.
    """
    package = app.name
    with importable(app):
        module = import_from_app(package, app)
        found = Path(module.__file__ or "").parent
        if found != app:
            raise ConfigError(
                f"--app {shown(app)}: importing {package!r} finds {found} instead;"
                " rename the app's folder"
            )
        for name in ("main", "mail"):
            if configured_mail() is None and _module_exists(app, name):
                import_from_app(f"{package}.{name}", app)
        if configured_mail() is None:
            for name in ("config.main", "config"):
                if _module_exists(app, name):
                    settings = import_from_app(f"{package}.{name}", app)
                    try:
                        configure(settings)
                    except ProperMailError as e:
                        raise ConfigError(f"{package}.{name}: {e}") from e
                    break
    mail = configured_mail()
    if mail is None:
        main_py = (
            "main.py does not call proper_mail.configure()"
            if _module_exists(app, "main")
            else "mail.py does not call proper_mail.configure()"
            if _module_exists(app, "mail")
            else "there is no main.py or mail.py"
        )
        raise ConfigError(
            f"no configuration for {package}: {main_py}, and there is no config/main.py or"
            f" config.py in {app} (write one with MAILERS, MAILER, MAILER_DEFAULT_OPTIONS)"
        )
    return mail


def import_from_app(name: str, app: Path) -> ModuleType:
    """Import *name*; any failure becomes a one-line ConfigError with the file and line."""
    try:
        return importlib.import_module(name)
    except Exception as e:
        raise ConfigError(f"cannot import {name}: {describe_error(e, app)}") from e


def describe_error(error: BaseException, app: Path) -> str:
    """``Type: message (file:line)``, on one line; the place is the last one in the app."""
    where = place_of(error, app)
    reason = error.msg if isinstance(error, SyntaxError) else str(error)
    text = " ".join(f"{type(error).__name__}: {reason}".split())
    return f"{text} ({where})" if where else text


def place_of(error: BaseException, app: Path) -> str | None:
    """``path:line`` of the innermost frame of *error* inside *app* (or its syntax error)."""
    if isinstance(error, SyntaxError) and error.filename:
        return f"{shown(Path(error.filename))}:{error.lineno}"
    found = None
    for frame in traceback.extract_tb(error.__traceback__):
        path = Path(frame.filename)
        if path.is_relative_to(app):
            found = f"{shown(path)}:{frame.lineno}"
    return found


def shown(path: Path) -> str:
    """*path* relative to the current folder when it is inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _module_exists(app: Path, dotted: str) -> bool:
    base = app.joinpath(*dotted.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


# -- proper-mail new email ----------------------------------------------------------------


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


@attrs.frozen
class Generated:
    """What ``new email`` wrote: the files created and the files it added to."""

    created: tuple[Path, ...]
    updated: tuple[Path, ...]


def new_email(app: Path, name: str) -> Generated:
    """Write an email: its class, two templates, a preview and a test.

    emails/<name>_email.py, views/emails/<name>.jx and .txt.jx, a ``@preview`` function
    in emails/previews.py (created with its imports when missing) and
    tests/test_<name>_email.py. Adds what the app lacks: __init__.py, emails/__init__.py,
    emails/base_email.py, views/layouts/email.jx, tests/__init__.py, tests/conftest.py
    (the app configured in test mode) and, when nothing
    configures the app (no main.py, config/main.py or config.py), config/main.py.
    Refuses to overwrite any file or preview, and writes nothing then.
    """
    check_email_name(name)
    if app.exists() and not app.is_dir():
        raise ConfigError(f"--app {app}: not a folder")
    package = app.resolve().name
    if not package.isidentifier():
        raise ConfigError(f"--app {app}: {package!r} is not a Python package name")
    module, cls = snake_case(name), f"{name}Email"
    title = re.sub(r"(?<!^)(?=[A-Z])", " ", name)
    names = {"module": module, "cls": cls, "package": package}
    files = {
        app / "emails" / f"{module}_email.py": EMAIL_PY.format(cls=cls, title=title),
        app / "views" / "emails" / f"{module}.jx": EMAIL_JX.format(title=title),
        app / "views" / "emails" / f"{module}.txt.jx": EMAIL_TXT.format(title=title),
        app / "tests" / f"test_{module}_email.py": TEST_PY.format(**names),
    }
    existing = [str(path) for path in files if path.exists()]
    if existing:
        raise ConfigError(f"refusing to overwrite {', '.join(existing)}")
    previews = app / "emails" / "previews.py"
    previews_text = _with_preview(previews, names)
    extras = {
        app / "__init__.py": "",
        app / "emails" / "__init__.py": "",
        app / "emails" / "base_email.py": BASE_EMAIL_PY,
        app / "views" / "layouts" / "email.jx": LAYOUT_JX,
        app / "tests" / "__init__.py": "",
    }
    if not any(_module_exists(app, m) for m in ("main", "config.main", "config")):
        extras[app / "config" / "__init__.py"] = ""
        extras[app / "config" / "main.py"] = CONFIG_PY
    extras[app / "tests" / "conftest.py"] = CONFTEST_PY.format(configure=_configure_line(app))
    files.update({path: text for path, text in extras.items() if not path.exists()})
    updated = (previews,) if previews.exists() else ()
    try:
        for path, text in {**files, previews: previews_text}.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    except OSError as e:
        raise ConfigError(f"cannot write {e.filename or app}: {e.strerror or e}") from e
    created = (*files, *(() if updated else (previews,)))
    return Generated(created=created, updated=updated)


def _configure_line(app: Path) -> str:
    """How the generated conftest configures the app: the rule of load_app()."""
    package = app.resolve().name
    if _module_exists(app, "main"):
        return CONFIGURE_BY_MAIN.format(package=package)
    if _module_exists(app, "config") and not _module_exists(app, "config.main"):
        return CONFIGURE_BY_CONFIG.format(module=f"{package}.config")
    return CONFIGURE_BY_CONFIG.format(module=f"{package}.config.main")


def _with_preview(previews: Path, names: dict[str, str]) -> str:
    """The text of emails/previews.py with the new email's import and preview function."""
    import_line = PREVIEW_IMPORT.format(**names)
    function = PREVIEW_FN.format(**names)
    if not previews.exists():
        return f"{PREVIEWS_PY}{import_line}{function}"
    text = previews.read_text()
    try:
        tree = ast.parse(text, filename=str(previews))
    except SyntaxError as e:
        raise ConfigError(
            f"cannot add a preview to {previews}: it has a syntax error (line {e.lineno})"
        ) from None
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    if names["module"] in defined:
        raise ConfigError(f"refusing to overwrite the preview {names['module']!r} in {previews}")
    imports = [node for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]
    if "preview" not in {alias.asname or alias.name for node in imports for alias in node.names}:
        import_line = "from proper_mail.preview import preview\n" + import_line
    # The import goes after the last import, else after the docstring, else first.
    anchors = imports or (tree.body[:1] if ast.get_docstring(tree) is not None else [])
    after = max((node.end_lineno or node.lineno for node in anchors), default=0)
    lines = text.splitlines(keepends=True)
    if after and not lines[after - 1].endswith("\n"):
        lines[after - 1] += "\n"
    lines.insert(after, import_line)
    return "".join(lines).rstrip("\n") + "\n" + function


def next_steps(app: Path, name: str) -> str:
    """What to do after ``new email``: edit, preview, test."""
    module = snake_case(name)
    where = shown(app)
    cls_file = shown(app / "emails" / f"{module}_email.py")
    return (
        "Next steps:\n"
        f"  1. Write the email in {shown(app / 'views' / 'emails' / f'{module}.jx')} and"
        f" {module}.txt.jx\n"
        f"     (its fields and template variables: {cls_file})\n"
        f"  2. Preview it: proper-mail preview --app {where}"
        f", then open http://127.0.0.1:{DEFAULT_PORT}/preview/{module}\n"
        f"  3. Run its test: pytest {shown(app / 'tests' / f'test_{module}_email.py')}"
    )


# -- proper-mail check --------------------------------------------------------------------


@attrs.frozen
class CheckReport:
    """What ``check`` looked at and what it found (problems fail, warnings do not)."""

    emails: int
    templates: int
    previews: int
    problems: tuple[TemplateProblem, ...]
    warnings: tuple[TemplateProblem, ...]

    def summary(self) -> str:
        """``checked 3 emails, 6 templates, 2 previews: all fine`` (or the counts found)."""
        counts = ", ".join(
            _plural(n, noun)
            for n, noun in (
                (self.emails, "email"),
                (self.templates, "template"),
                (self.previews, "preview"),
            )
        )
        found = [
            _plural(len(items), noun)
            for items, noun in ((self.problems, "problem"), (self.warnings, "warning"))
            if items
        ]
        return f"checked {counts}: {', '.join(found) or 'all fine'}"


def check_app(app: Path) -> CheckReport:
    """Load the app (ConfigError when it cannot be) and check every email and template.

    Templates compile and their imports resolve; links are absolute; every email class
    has a body or a template; every preview in emails/previews.py renders with empty
    params through the configured app (an undefined variable is a problem, with the
    template's file and line), and its lint findings (an empty subject ...) are warnings.
    """
    app = find_app(app)
    mail = load_app(app)
    views = mail.views or app / "views"
    problems: list[TemplateProblem] = []
    warnings: list[TemplateProblem] = []
    templates = sorted(views.rglob("*.jx")) if views.is_dir() else []
    if views.is_dir():
        problems.extend(
            TemplateProblem(shown(views.parent / p.path), p.line, p.message)
            for p in JxRenderer(views, auto_reload=False).check()
        )
        problems.extend(_relative_urls(views))
    with importable(app):
        classes = _email_classes(app, problems)
        emails = _check_classes(classes, views, problems)
        previewed, count = _check_previews(app, mail, problems, warnings)
    warnings.extend(
        TemplateProblem(
            shown(path),
            line,
            f"{cls.__name__} has no preview in emails/previews.py, so it was not rendered",
        )
        for cls, path, line in emails
        if cls not in previewed
    )
    return CheckReport(
        emails=len(emails),
        templates=len(templates),
        previews=count,
        problems=tuple(problems),
        warnings=tuple(warnings),
    )


EmailClass = tuple[type[EmailMessage], Path, int | None]


def _email_classes(app: Path, problems: list[TemplateProblem]) -> list[EmailClass]:
    found: list[EmailClass] = []
    for path in sorted((app / "emails").glob("*.py")):
        if path.name in ("__init__.py", "previews.py"):
            continue
        name = f"{app.name}.emails.{path.stem}"
        try:
            module = importlib.import_module(name)
        except Exception as e:  # report any import failure as a problem, keep going
            problems.append(
                TemplateProblem(shown(path), None, f"cannot import: {describe_error(e, app)}")
            )
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, EmailMessage) and cls.__module__ == name:
                found.append((cls, path, inspect.getsourcelines(cls)[1]))
    return found


def _check_classes(
    classes: list[EmailClass], views: Path, problems: list[TemplateProblem]
) -> list[EmailClass]:
    """The emails among *classes* (not base classes); a problem for each with nothing to send."""
    bases = {base for cls, _, _ in classes for base in cls.__mro__[1:]}
    emails = []
    for cls, path, line in classes:
        if cls in bases or path.stem == "base_email":
            continue  # a base class, not an email of its own
        emails.append((cls, path, line))
        paths = template_paths(cls.__module__)
        has_template = (views / paths.html).is_file() or (views / paths.text).is_file()
        if not has_template and not cls.body:
            problems.append(
                TemplateProblem(
                    shown(path),
                    line,
                    f"{cls.__name__} has no body and neither views/{paths.html} nor "
                    f"views/{paths.text} exists",
                )
            )
    return emails


def _check_previews(
    app: Path, mail: Mail, problems: list[TemplateProblem], warnings: list[TemplateProblem]
) -> tuple[set[type], int]:
    """Render every preview; return the classes they made and how many there are."""
    file = app / "emails" / "previews.py"
    if not file.is_file():
        return set(), 0
    try:
        module = importlib.import_module(f"{app.name}.emails.previews")
    except Exception as e:
        problems.append(
            TemplateProblem(shown(file), None, f"cannot import: {describe_error(e, app)}")
        )
        return set(), 0
    made_by: set[type] = set()
    previews = previews_of(module)
    for name, fn in previews.items():
        line = _line_of(fn)
        try:
            made = fn({})
            made_by.add(type(made))
            message = message_of(made, mail)
            to_bytes(message)
        except Exception as e:
            problems.append(_render_problem(e, app, name, file, line))
            continue
        warnings.extend(
            TemplateProblem(shown(file), line, f"preview {name}: {issue.code}: {issue.message}")
            for issue in lint_message(message)
        )
    return made_by, len(previews)


def _render_problem(
    error: Exception, app: Path, name: str, file: Path, line: int | None
) -> TemplateProblem:
    """Where a preview failed: the template's file and line, else the app's code."""
    if isinstance(error, TemplateError):
        at = _TEMPLATE_AT.fullmatch(str(error.value))
        if at is not None:
            return TemplateProblem(
                shown(Path(at.group(1))), int(at.group(2)), f"preview {name}: {error.reason}"
            )
    where = place_of(error, app)
    text = " ".join(f"{type(error).__name__}: {error}".split())
    if where is not None:
        path, _, number = where.rpartition(":")
        return TemplateProblem(path, int(number), f"preview {name}: {text}")
    return TemplateProblem(shown(file), line, f"preview {name}: {text}")


def _line_of(fn: Callable[..., Any]) -> int | None:
    try:
        return inspect.getsourcelines(fn)[1]
    except (OSError, TypeError):
        return None


def _relative_urls(views: Path) -> list[TemplateProblem]:
    problems = []
    for path in sorted(views.rglob("*.jx")):
        if path.name.endswith(".txt.jx"):
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for url in _URL_ATTR.findall(line):
                if url.strip() and not _ABSOLUTE.match(url.strip()):
                    problems.append(
                        TemplateProblem(
                            shown(path),
                            number,
                            f"relative URL {url!r}: use an absolute one (url() helper)",
                        )
                    )
    return problems


def _plural(count: int, noun: str) -> str:
    plural = "es" if noun.endswith("s") else "s"
    return f"{count} {noun}{'' if count == 1 else plural}"


# -- proper-mail worker -------------------------------------------------------------------


@attrs.frozen
class WorkerPlan:
    """The broker a worker serves: where it is, and its declared queues and actors."""

    module: str
    path: str
    queues: tuple[str, ...]
    actors: tuple[str, ...]

    def command(self, *, processes: int, threads: int) -> list[str]:
        """The dramatiq command line for this broker."""
        return [
            sys.executable, "-m", "dramatiq",
            "--path", self.path,
            "--processes", str(processes),
            "--threads", str(threads),
            f"{self.module}:broker",
        ]  # fmt: skip


def plan_worker(*, app: Path | None, module: str | None, path: Path | None) -> WorkerPlan:
    """Load ``<app>.tasks:broker`` (or ``<module>:broker``) and read what it declares.

    The broker is the app's explicit one, never Dramatiq's implicit global broker.
    ConfigError when the module cannot be imported, when the queue is immediate
    (nothing to run), when the broker has no actor, or when a mailer of the configured
    Mail cannot be built (a wrong option value).
    """
    if module is None:
        folder = find_app(app or Path(), emails=False)
        if not _module_exists(folder, "tasks"):
            raise ConfigError(
                f"{folder.name} has no tasks module ({folder / 'tasks'}/__init__.py or"
                " tasks.py) declaring its `broker` (or pass --module M)"
            )
        module, path = f"{folder.name}.tasks", folder.parent
    search = (path or Path()).resolve()
    if not search.is_dir():
        raise ConfigError(f"--path {path}: not a folder")
    sys.path.insert(0, str(search))
    try:
        loaded = importlib.import_module(module)
    except Exception as e:
        raise ConfigError(f"cannot import {module}: {describe_error(e, search)}") from None
    finally:
        sys.path.remove(str(search))
    broker = getattr(loaded, "broker", None)
    if broker is None:
        raise ConfigError(
            f"{module}.broker is None: QUEUE is 'immediate', so send_later runs in-process and "
            "there is nothing for a worker to do (set QUEUE to a redis:// URL)"
        )
    if not callable(getattr(broker, "get_declared_actors", None)):
        raise ConfigError(f"{module}.broker is not a Dramatiq broker: {type(broker).__name__}")
    actors = tuple(sorted(broker.get_declared_actors()))
    if not actors:
        raise ConfigError(
            f"{module}:broker declares no actor, so a worker would have nothing to run"
            " (expose the broker of a proper_mail queue: broker = mail.queue.broker)"
        )
    _build_mailers(loaded, broker)
    queues = tuple(sorted({q_name(queue) for queue in broker.get_declared_queues()}))
    return WorkerPlan(module=module, path=str(search), queues=queues, actors=actors)


def _build_mailers(module: ModuleType, broker: object) -> None:
    """Build every mailer of the Mail that owns *broker* (the configured one, or one in
    *module*): mailers are built on first use, so a test or dev set-up need not hold every
    production credential, but a worker has production's and fails now, not per message."""
    for mail in {id(m): m for m in (configured_mail(), *vars(module).values())}.values():
        if isinstance(mail, Mail) and mail.queue.broker is broker:
            mail.mailers.build_all()


# -- proper-mail suppressions --------------------------------------------------------------


def suppression_store(app: Path) -> SuppressionStore:
    """The suppression list of the app at *app* (its MAILER_SUPPRESSIONS), loaded by the
    configuration rule of DESCRIPTION. ConfigError when the app has none, or has one that
    lives only inside each of its processes ("memory")."""
    folder = find_app(app, emails=False)
    store = load_app(folder).suppressions
    if store is None:
        raise ConfigError(
            f"{folder.name} has no suppression list: MAILER_SUPPRESSIONS is not set in its"
            " configuration (set it to a redis:// URL, shared by the app, its workers and"
            " its webhooks)"
        )
    if isinstance(store, MemorySuppressionStore):
        raise ConfigError(
            f"{folder.name}'s MAILER_SUPPRESSIONS is 'memory': that list lives inside each"
            " process of the app, so this command can neither see nor change it (use a"
            " redis:// URL)"
        )
    return store


def expires_text(entry: Suppression) -> str:
    """When *entry* lapses, as ``2026-03-02T10:00:00Z``, or ``permanent``."""
    if entry.expires is None:
        return "permanent"
    return entry.expires.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def suppression_lines(entries: Sequence[Suppression]) -> list[str]:
    """One line per entry: address, reason, and when it lapses (or ``permanent``), in
    columns."""
    address_width = max((len(e.address) for e in entries), default=0)
    reason_width = max((len(e.reason) for e in entries), default=0)
    return [
        f"{e.address:<{address_width}}  {e.reason:<{reason_width}}  {expires_text(e)}"
        for e in entries
    ]


def suppressions_json(entries: Sequence[Suppression]) -> str:
    """The entries as a JSON array of ``{"address", "reason", "expires"}`` (expires: UTC
    ISO 8601, or null when permanent)."""
    return json.dumps(
        [
            {
                "address": e.address,
                "reason": e.reason,
                "expires": None if e.expires is None else expires_text(e),
            }
            for e in entries
        ],
        indent=2,
    )


def _seconds(value: str) -> float:
    """An --expires value: a positive, finite number of seconds."""
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, not {value!r}")
    return seconds


def _reason(value: str) -> str:
    """A --reason value: one line of text."""
    reason = " ".join(value.split())
    if not reason:
        raise argparse.ArgumentTypeError("the reason is empty")
    return reason


# -- the command line ---------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, with exit status 2."""

    def error(self, message: str) -> NoReturn:
        """Print ``prog: message (see 'prog --help')`` on stderr and exit with status 2."""
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions as written (paragraphs kept); option help wrapped."""


def version() -> str:
    """The installed distribution's version."""
    try:
        return importlib.metadata.version("proper-mail")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    """The ``proper-mail`` argument parser, with every command and option documented."""
    parser = _Parser(
        prog="proper-mail", description=DESCRIPTION, epilog=EPILOG, formatter_class=_Formatter
    )
    parser.add_argument(
        "--version",
        action="version",
        version=f"proper-mail {version()}",
        help="print 'proper-mail VERSION' and exit",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", title="commands"
    )
    app_help = "the folder of the app's Python package (default: the current folder)"

    new = commands.add_parser(
        "new",
        help="generate an email: its class, templates, preview and test",
        formatter_class=_Formatter,
        description="""\
Generate an email. 'proper-mail new email Welcome' writes:
  emails/welcome_email.py           class WelcomeEmail(BaseEmail), subject "Welcome"
  views/emails/welcome.jx           the HTML template (in views/layouts/email.jx)
  views/emails/welcome.txt.jx       the text template
  emails/previews.py                a welcome() preview (the file is created if missing)
  tests/test_welcome_email.py       a test using the `mail` fixture of proper_mail's
                                    pytest plugin
and what the app lacks: __init__.py, emails/__init__.py, emails/base_email.py,
views/layouts/email.jx, tests/__init__.py, tests/conftest.py (the app configured in
test mode), and config/main.py when nothing configures
the app yet (no main.py, config/main.py or config.py). It never overwrites a file.""",
    )
    new.add_argument("kind", choices=["email"], help="what to generate (only: email)")
    new.add_argument(
        "name", help="the email's name: PascalCase, singular, without an Email suffix (Welcome)"
    )
    new.add_argument("--app", type=Path, default=Path(), metavar="DIR", help=app_help)
    new.set_defaults(run=_run_new)

    check = commands.add_parser(
        "check",
        help="check every email, template and preview",
        formatter_class=_Formatter,
        description="""\
Check the app's emails: every template compiles and its imports resolve, links are
absolute, every email class has a body or a template, and every preview in
emails/previews.py renders with empty params through the app's configuration (an
undefined template variable is a problem, reported with the template's file and
line). Lint findings (an empty subject, no text part, http links ...) and emails
without a preview are warnings.

Exit status: 0 when there is no problem (warnings allowed), 1 with problems, 2 when
the app cannot be found, imported or configured.""",
    )
    check.add_argument("--app", type=Path, default=Path(), metavar="DIR", help=app_help)
    check.set_defaults(run=_run_check)

    serve = commands.add_parser(
        "preview",
        help="serve browser previews of every email",
        formatter_class=_Formatter,
        description="""\
Serve browser previews of the emails in emails/previews.py: an index, and per email
the lint summary, the headers, the HTML (sandboxed) at desktop or mobile width, the
text, attachments and the raw .eml. Edits show on the next reload.

The server answers only requests whose Host header names it: localhost, 127.0.0.1,
[::1] or the address it listens on (with its port), and each --allowed-host name.
It does not run with APP_ENV=prod.""",
    )
    serve.add_argument("--app", type=Path, default=Path(), metavar="DIR", help=app_help)
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="the address to listen on: IPv4, IPv6 (::1) or a name (default: 127.0.0.1)",
    )
    serve.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        metavar="N",
        help=f"the port to listen on; 0 picks a free one (default: {DEFAULT_PORT})",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host that is not loopback (default: off, loopback only)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="another name (NAME or NAME:PORT) the Host header may carry; repeatable"
        " (default: none beyond loopback and the --host address)",
    )
    serve.set_defaults(run=_run_preview)

    worker = commands.add_parser(
        "worker",
        help="run Dramatiq workers for the app's queue (send_later)",
        formatter_class=_Formatter,
        description="""\
Run Dramatiq workers for the app's queue: 'dramatiq <app>.tasks:broker' (or
'<module>:broker'), the app's explicit broker. Before starting it prints the queues
and actors it serves; it refuses to start when the broker is None (QUEUE is
'immediate') or declares no actor.""",
    )
    worker.add_argument("--app", type=Path, default=None, metavar="DIR", help=app_help)
    worker.add_argument(
        "--module", help="a module with a `broker`, instead of <app>.tasks (default: none)"
    )
    worker.add_argument(
        "--path",
        type=Path,
        default=None,
        metavar="DIR",
        help="the folder --module is imported from (default: the current folder)",
    )
    worker.add_argument(
        "--processes",
        "-p",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="worker processes (default: the number of CPUs, %(default)s here)",
    )
    worker.add_argument(
        "--threads", "-t", type=int, default=8, metavar="N", help="threads per process (default: 8)"
    )
    worker.set_defaults(run=_run_worker)

    suppressions = commands.add_parser(
        "suppressions",
        help="list, add or remove addresses on the app's suppression list",
        formatter_class=_Formatter,
        description="""\
Manage the app's suppression list (MAILER_SUPPRESSIONS): the addresses nothing is sent
to. Bounces and complaints received by the webhook app add to it; these commands list
it and change it by hand. The list must be one every process shares (a redis:// URL):
with "memory" each process has its own, which this command cannot reach.

Addresses are compared normalized: lower-cased, the domain in its ASCII form.""",
    )
    actions = suppressions.add_subparsers(
        dest="action", required=True, metavar="ACTION", title="actions"
    )
    listing = actions.add_parser(
        "list",
        help="print every suppressed address",
        formatter_class=_Formatter,
        description="""\
Print one line per suppressed address: the address, the reason, and when the entry
lapses (UTC) or 'permanent'. With --json, a JSON array of {"address", "reason",
"expires"} (expires null when permanent).""",
    )
    listing.add_argument(
        "--json", action="store_true", help="print JSON instead of lines (default: lines)"
    )
    adding = actions.add_parser(
        "add",
        help="suppress an address",
        formatter_class=_Formatter,
        description="""\
Suppress ADDRESS: nothing is sent to it until it is removed (or, with --expires, until
then). A permanent entry replaces any entry; an expiring one is refused (status 1) when
the address is already suppressed, so it never shortens a suppression.""",
    )
    adding.add_argument("address", metavar="ADDRESS", help="the address to suppress")
    adding.add_argument(
        "--reason",
        type=_reason,
        default="manual",
        metavar="R",
        help="why, shown by list and in each skipped SendResult (default: %(default)s)",
    )
    adding.add_argument(
        "--expires",
        type=_seconds,
        default=None,
        metavar="SECONDS",
        help="lift the suppression after SECONDS (default: never)",
    )
    removing = actions.add_parser(
        "remove",
        help="lift the suppression of an address",
        formatter_class=_Formatter,
        description="""\
Lift the suppression of ADDRESS (and forget its soft bounces). Exit status 1 when it
was not on the list.""",
    )
    removing.add_argument("address", metavar="ADDRESS", help="the address to remove")
    for action in (listing, adding, removing):
        action.add_argument("--app", type=Path, default=Path(), metavar="DIR", help=app_help)
        action.set_defaults(run=_run_suppressions)
    return parser


def _run_new(args: argparse.Namespace) -> int:
    generated = new_email(args.app, args.name)
    for path in generated.created:
        print(f"created {shown(path)}")
    for path in generated.updated:
        print(f"added the {snake_case(args.name)} preview to {shown(path)}")
    print(next_steps(args.app, args.name))
    return 0


def _run_check(args: argparse.Namespace) -> int:
    report = check_app(args.app)
    for problem in report.problems:
        print(problem)
    for warning in report.warnings:
        print(TemplateProblem(warning.path, warning.line, f"warning: {warning.message}"))
    print(report.summary())
    return 1 if report.problems else 0


def _run_preview(args: argparse.Namespace) -> int:
    app = find_app(args.app)
    if not (app / "emails" / "previews.py").is_file():
        raise ConfigError(
            f"no previews: {shown(app / 'emails' / 'previews.py')} does not exist"
            " (proper-mail new email NAME writes one)"
        )
    options: dict[str, Any] = {
        "allow_remote": args.allow_remote,
        "allowed_host_names": args.allowed_host,
        "app_env": os.getenv("APP_ENV", "dev"),
    }
    check_serving(args.host, **options)  # before the app's code runs
    load_app(app)
    server = make_preview_server(app, host=args.host, port=args.port, **options)
    print(f"Previews at {browse_url(server.server_address)} (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def _run_worker(args: argparse.Namespace) -> int:
    if args.app is not None and args.module is not None:
        raise ConfigError("pass --app or --module, not both")
    plan = plan_worker(app=args.app, module=args.module, path=args.path)
    print(
        f"proper-mail: worker for {plan.module}:broker ({_plural(args.processes, 'process')}"
        f" x {_plural(args.threads, 'thread')}); queues: {', '.join(plan.queues)};"
        f" actors: {', '.join(plan.actors)}",
        file=sys.stderr,
        flush=True,
    )
    # SIGTERM to this process reaches dramatiq's, which lets in-flight sends finish
    # and requeues what was prefetched.
    command = plan.command(processes=args.processes, threads=args.threads)
    os.execv(sys.executable, command)  # noqa: S606 - an argument list, no shell


def _run_suppressions(args: argparse.Namespace) -> int:
    store = suppression_store(args.app)
    if args.action == "list":
        entries = store.list()
        if args.json:
            print(suppressions_json(entries))
        elif entries:
            print("\n".join(suppression_lines(entries)))
        else:
            print("the suppression list is empty", file=sys.stderr)
        return 0
    address = normalize_address(args.address)
    if args.action == "remove":
        if store.remove(address):
            print(f"removed {address}")
            return 0
        print(f"{address} is not on the suppression list", file=sys.stderr)
        return 1
    expires = None
    if args.expires is not None:
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=args.expires)
        current = store.is_suppressed(address)
        if current is not None:
            print(
                f"{address} is already suppressed ({current}); an expiring entry does not"
                " replace it (remove it first)",
                file=sys.stderr,
            )
            return 1
    store.add(address, args.reason, expires)
    entry = Suppression(address, args.reason, expires)
    print(f"suppressed {address} ({args.reason}, {expires_text(entry)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``proper-mail`` command; return the exit status.

    A user error (a bad --app, an app that cannot be imported or configured, a busy
    port ...) is one line on stderr and status 2.
    """
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except ProperMailError as e:
        print(f"proper-mail: {' '.join(str(e).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
