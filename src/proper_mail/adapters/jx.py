"""JxRenderer: email templates rendered with one ``jx.Catalog`` per configured app.

- Autoescaping is on for ``.jx`` (HTML) and off for ``.txt.jx`` (text keeps ``&`` as
  ``&``); jx alone escapes both.
- ``StrictUndefined``: a variable used but not passed is an error naming the template,
  the line and the variable, never a silent empty string.
- Results are ``str`` (jx returns ``Markup``, and ``Markup + str`` would escape the str).
- jx and Jinja errors become ``TemplateError`` here, and only here.
"""

from __future__ import annotations

import contextvars
import mimetypes
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jinja2
import jx
import jx.tools

from ..core.compose import inline_part
from ..core.records import Attachment
from ..core.templates import reserved_in
from ..errors import ConfigError, TemplateError

__all__ = ["JxRenderer", "TemplateProblem"]

_inline_parts: contextvars.ContextVar[list[Attachment] | None] = contextvars.ContextVar(
    "proper_mail_inline_parts", default=None
)


def _autoescape(name: str | None) -> bool:
    return not (name or "").endswith(".txt.jx")


class TemplateProblem:
    """One problem ``check()`` found: where, and what."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


class JxRenderer:
    """Render email templates from a views folder.

    Args:
        views: the views folder (holding ``emails/`` and ``layouts/``).
        auto_reload: pick up edited templates without a restart (dev); off in prod.
        globals: extra template globals, e.g. URL helpers.
    """

    def __init__(
        self,
        views: str | Path,
        *,
        auto_reload: bool = True,
        globals: Mapping[str, Any] | None = None,
    ) -> None:
        self.views = Path(views)
        if not self.views.is_dir():
            raise ConfigError(f"VIEWS: {str(self.views)!r} is not a folder")
        self.auto_reload = auto_reload
        self._globals = {"inline_image": self._inline_image, **(globals or {})}
        self._lock = threading.Lock()
        self._exists: dict[str, bool] = {}
        self._catalog = self._new_catalog()

    def _new_catalog(self) -> jx.Catalog:
        env = jinja2.Environment(
            undefined=jinja2.StrictUndefined,
            autoescape=_autoescape,  # noqa: S701 - on for .jx (HTML), off for .txt.jx only
            auto_reload=self.auto_reload,
        )
        return jx.Catalog(self.views, jinja_env=env, auto_reload=self.auto_reload, **self._globals)

    def exists(self, path: str) -> bool:
        """Whether the template *path* (relative to views) exists.

        Without auto_reload the answer is remembered: templates do not come and go.
        """
        if self.auto_reload:
            return (self.views / path).is_file()
        found = self._exists.get(path)
        if found is None:
            found = self._exists[path] = (self.views / path).is_file()
        return found

    def render(self, path: str, context: Mapping[str, Any]) -> tuple[str, tuple[Attachment, ...]]:
        """Render *path* with *context*; return the text and the inline parts it added.

        Raises TemplateError naming the template (and line, and variable) on failure.
        """
        reserved = reserved_in(context)
        if reserved:
            raise TemplateError(
                "template",
                reserved[0],
                f"the attribute {reserved[0]!r} is a name jx reserves; rename it",
            )
        if self.auto_reload and not self._catalog.has(path):
            with self._lock:  # a template created after start-up
                self._catalog.add_folder(self.views)
        parts: list[Attachment] = []
        token = _inline_parts.set(parts)
        try:
            with _map_template_errors(path):
                text = str(self._catalog.render(path, **context))
        finally:
            _inline_parts.reset(token)
        return text, tuple(parts)

    def _inline_image(self, path: str, mimetype: str | None = None) -> str:
        """Template helper: attach a file from views as an inline part; return ``cid:...``."""
        parts = _inline_parts.get()
        if parts is None:
            raise TemplateError("inline_image", path, "only works while rendering an email")
        file = (self.views / path).resolve()
        if not file.is_relative_to(self.views.resolve()):
            raise TemplateError("inline_image", path, "the path leaves the views folder")
        try:
            content = file.read_bytes()
        except OSError as e:
            raise TemplateError(
                "inline_image", path, f"cannot read the file ({e.strerror})"
            ) from None
        guessed = mimetype or mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        part = inline_part(file.name, content, guessed)
        if part not in parts:
            parts.append(part)
        return f"cid:{part.content_id}"

    def check(self) -> list[TemplateProblem]:
        """Compile every template and resolve its imports; return the problems found."""
        errors, _ = jx.tools.check_all(self._new_catalog())
        problems = []
        for error in errors:
            hint = f" ({error.suggestion})" if error.suggestion else ""
            path = f"{self.views.name}/{error.file}"
            problems.append(TemplateProblem(path, error.line, f"{error.message}{hint}"))
        return problems


@contextmanager
def _map_template_errors(path: str) -> Iterator[None]:
    """Re-raise jx and Jinja errors as TemplateError with the file, line and cause."""
    try:
        yield
    except TemplateError:
        raise
    except jinja2.UndefinedError as e:
        where = _template_frame(e) or path
        raise TemplateError("template", where, f"undefined variable: {e.message}") from None
    except jinja2.TemplateSyntaxError as e:
        where = f"{e.filename or e.name or path}:{e.lineno}"
        raise TemplateError("template", where, f"syntax error: {e.message}") from None
    except jx.JxException as e:
        where = _template_frame(e) or path
        raise TemplateError("template", where, str(e)) from None
    except jinja2.TemplateError as e:
        raise TemplateError("template", _template_frame(e) or path, str(e)) from None


def _template_frame(error: BaseException) -> str | None:
    """The last ``file.jx:line`` in the traceback of *error*."""
    found = None
    tb = error.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.endswith(".jx"):
            found = f"{filename}:{tb.tb_lineno}"
        tb = tb.tb_next
    return found


def url_helper(protocol: str, host: str) -> Callable[..., str]:
    """Return ``url(path)`` -> ``protocol://host/path``: absolute URLs for templates."""
    base = f"{protocol}://{host.rstrip('/')}"

    def url(path: str = "/") -> str:
        if "://" in path:
            return path
        return base + (path if path.startswith("/") else f"/{path}")

    return url
