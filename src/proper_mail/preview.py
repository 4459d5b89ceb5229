"""Browser previews of every email, with fixture data (``proper-mail preview``).

Previews live in the app, in ``emails/previews.py``: each function decorated with
``@preview`` takes the query parameters (Rails-style ``?name=Bob``) and returns an
email (an ``EmailMessage`` or a ``Message``)::

    from proper_mail.preview import preview

    @preview
    def password_reset(params):
        user = User(params.get("name", "Alice"), params.get("email", "alice@example.com"))
        return PasswordResetEmail(user, to=user.email)

The server is the stdlib's WSGI server (threaded): a development tool with a handful of
read-only routes needs nothing more, and it adds no dependency. Every request reloads
the app's email modules and the templates re-render, so edits show on the next reload.

Security: the email's HTML is only ever served by its own route, with a CSP sandbox
(no scripts, an opaque origin) and shown in a sandboxed iframe; everything else on the
pages is escaped; there is no route that changes anything (GET and HEAD only).
"""

from __future__ import annotations

import email.message
import html
import importlib
import re
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from socketserver import ThreadingMixIn
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIEnvironment

from .core.lint import html_of, lint_message
from .core.mime import to_bytes, to_mime
from .core.records import Message
from .errors import ConfigError
from .mail import Mail, current_mail

__all__ = ["PreviewApp", "Previews", "make_preview_server", "preview"]

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "__proper_mail_preview__"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def preview[F: Callable[..., Any]](fn: F) -> F:
    """Mark *fn* (``fn(params) -> email``) as a preview."""
    setattr(fn, _MARK, True)
    return fn


class Previews:
    """The previews of an app: ``<package>.emails.previews``, reloaded on demand."""

    def __init__(self, app: Path) -> None:
        self.app = app.resolve()
        self.package = self.app.name
        if str(self.app.parent) not in sys.path:
            sys.path.insert(0, str(self.app.parent))
        self._lock = threading.Lock()

    def load(self) -> dict[str, Callable[[Mapping[str, str]], Any]]:
        """Reload the email modules and the previews; return the previews by name."""
        with self._lock:
            prefix = f"{self.package}.emails."
            for name in sorted(m for m in list(sys.modules) if m.startswith(prefix)):
                if not name.endswith(".previews"):
                    importlib.reload(sys.modules[name])
            module_name = f"{self.package}.emails.previews"
            module: ModuleType = (
                importlib.reload(sys.modules[module_name])
                if module_name in sys.modules
                else importlib.import_module(module_name)
            )
        return {
            name: fn
            for name, fn in vars(module).items()
            if callable(fn) and getattr(fn, _MARK, False)
        }


def build_message(
    fn: Callable[[Mapping[str, str]], Any], params: Mapping[str, str], mail: Mail
) -> Message:
    """Call a preview and compose (render) what it returns."""
    made = fn(params)
    if isinstance(made, Message):
        return made
    to_message = getattr(made, "to_message", None)
    if to_message is None:
        raise ConfigError(f"a preview must return an email, not {type(made).__name__}")
    message: Message = to_message(mail)
    return message


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #222; }}
header {{ background: #1d2733; color: #fff; padding: .6em 1em; }}
header a {{ color: #fff; }}
main {{ padding: 1em; }}
table.headers td, table.headers th {{ text-align: left; vertical-align: top; padding: .15em .6em; }}
table.headers th {{ color: #555; font-weight: 600; white-space: nowrap; }}
nav.views a {{ margin-right: 1em; }} nav.views a.current {{ font-weight: 700; }}
iframe {{ border: 1px solid #ccc; height: 70vh; background: #fff; }}
pre.text {{ background: #f6f6f6; padding: 1em; white-space: pre-wrap; }}
.lint li {{ color: #8a4b00; }} .error {{ color: #a00; }}
</style></head><body>
<header><a href="/">Email previews</a> {crumb}</header>
<main>{body}</main></body></html>
"""


class PreviewApp:
    """The WSGI application behind ``proper-mail preview``."""

    def __init__(self, previews: Previews, mail: Callable[[], Mail] = current_mail) -> None:
        self.previews = previews
        self.mail = mail

    def __call__(self, environ: WSGIEnvironment, start: StartResponse) -> Iterable[bytes]:
        """Route one request; only GET and HEAD exist."""
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return _respond(start, "405 Method Not Allowed", "text/plain", b"read-only\n")
        path = environ.get("PATH_INFO", "/")
        params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        try:
            if path == "/":
                return self.index(start)
            match = re.fullmatch(
                r"/preview/([A-Za-z_][A-Za-z0-9_]*)(?:/(html|eml|part/\d+|cid/.+))?", path
            )
            if match is None:
                return _respond(start, "404 Not Found", "text/plain", b"not found\n")
            return self.email_route(start, environ, match.group(1), match.group(2), params)
        except Exception as e:  # a render error is a page, not a crash
            return self.error_page(start, e)

    def index(self, start: StartResponse) -> Iterable[bytes]:
        """Every preview with its subject."""
        rows = []
        for name, fn in sorted(self.previews.load().items()):
            try:
                subject = html.escape(build_message(fn, {}, self.mail()).subject)
            except Exception as e:
                problem = html.escape(f"{type(e).__name__}: {e}")
                subject = f'<span class="error">{problem}</span>'
            link = f'<a href="/preview/{name}">{html.escape(name)}</a>'
            rows.append(f"<tr><td>{link}</td><td>{subject}</td></tr>")
        body = (
            '<h1>Emails</h1><table class="index"><tr><th>Preview</th><th>Subject</th></tr>'
            + "".join(rows)
            + "</table>"
        )
        return _page(start, "Email previews", "", body)

    def email_route(
        self,
        start: StartResponse,
        environ: WSGIEnvironment,
        name: str,
        part: str | None,
        params: dict[str, str],
    ) -> Iterable[bytes]:
        """The page of one email, or one of its parts."""
        previews = self.previews.load()
        if name not in previews:
            return _respond(start, "404 Not Found", "text/plain", b"no such preview\n")
        view = params.pop("view", "desktop")
        download = params.pop("download", None)
        message = build_message(previews[name], params, self.mail())
        query = urlencode(params)
        if part == "html":
            return self.html_part(start, environ, name, message, query)
        if part == "eml":
            headers = (
                [("Content-Disposition", f'attachment; filename="{name}.eml"')] if download else []
            )
            return _respond(
                start, "200 OK", "text/plain; charset=utf-8", to_bytes(message), headers
            )
        mime = to_mime(message)
        if part is not None and part.startswith("part/"):
            return self.file_part(start, mime, int(part.split("/")[1]))
        if part is not None and part.startswith("cid/"):
            return self.cid_part(start, mime, part.split("/", 1)[1])
        return self.email_page(start, name, message, mime, view, query)

    def email_page(
        self,
        start: StartResponse,
        name: str,
        message: Message,
        mime: email.message.EmailMessage,
        view: str,
        query: str,
    ) -> Iterable[bytes]:
        """Headers, the HTML in a sandboxed iframe (desktop or mobile), the text, files, lint."""
        esc = html.escape
        rows = [("Bcc", ", ".join(map(str, message.bcc)))] if message.bcc else []
        header_rows = "".join(
            f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>"
            for k, v in [*mime.items(), *rows]
            if not k.lower().startswith("content-") and k.lower() != "mime-version"
        )
        base = f"/preview/{name}"
        suffix = f"&{query}" if query else ""
        qs = esc("?" + query if query else "")
        views = "".join(
            f'<a href="{base}?view={v}{esc(suffix)}" id="view-{v}"'
            f' class="{"current" if v == view else ""}">{label}</a>'
            for v, label in (("desktop", "Desktop"), ("mobile", "Mobile"), ("text", "Text"))
        )
        text_part = mime.get_body(("plain",))
        text = text_part.get_content() if text_part is not None else None
        if view == "text" or html_of(message) is None:
            content = (
                f'<pre class="text" id="text-part">{esc(text)}</pre>'
                if text is not None
                else "<p>This email has no text part.</p>"
            )
        else:
            width = "375px" if view == "mobile" else "100%"
            content = (
                f'<iframe id="html-part" title="HTML part" sandbox="" referrerpolicy="no-referrer" '
                f'style="width:{width}" src="{base}/html{qs}"></iframe>'
            )
        files = []
        for index, part in enumerate(mime.walk()):
            disposition = part.get_content_disposition()
            if disposition in ("attachment", "inline"):
                filename = part.get_filename() or str(part.get("Content-ID", f"part {index}"))
                payload = part.get_payload(decode=True)
                size = len(payload) if isinstance(payload, bytes) else 0
                files.append(
                    f'<li><a href="{base}/part/{index}{qs}">{esc(filename)}</a> '
                    f"({esc(part.get_content_type())}, {size:,} bytes, {disposition})</li>"
                )
        issues = lint_message(message)
        lint = "".join(f"<li><code>{esc(i.code)}</code> {esc(i.message)}</li>" for i in issues)
        body = (
            f"<h1>{esc(message.subject)}</h1>"
            f'<table class="headers">{header_rows}</table>'
            f'<nav class="views">{views} <a href="{base}/eml{qs}">Raw .eml</a> '
            f'<a href="{base}/eml?download=1{esc(suffix)}">Download .eml</a></nav>'
            f"{content}"
            f"<h2>Attachments</h2><ul>{''.join(files) or '<li>none</li>'}</ul>"
            f'<h2>Lint</h2><ul class="lint">{lint or "<li>no issues</li>"}</ul>'
        )
        return _page(start, message.subject, f"/ {esc(name)}", body)

    def html_part(
        self,
        start: StartResponse,
        environ: WSGIEnvironment,
        name: str,
        message: Message,
        query: str,
    ) -> Iterable[bytes]:
        """The email's HTML, with cid: images pointed at this server, under a CSP sandbox."""
        body = html_of(message) or ""
        suffix = f"?{query}" if query else ""
        body = re.sub(
            r"""(["'])cid:([^"']+)\1""",
            lambda m: f"{m.group(1)}/preview/{name}/cid/{quote(m.group(2))}{suffix}{m.group(1)}",
            body,
        )
        origin = f"http://{environ.get('HTTP_HOST', '127.0.0.1')}"
        csp = (
            "sandbox; default-src 'none'; style-src 'unsafe-inline'; "
            f"img-src {origin} data: https:; font-src https: data:"
        )
        headers = [("Content-Security-Policy", csp), ("X-Content-Type-Options", "nosniff")]
        return _respond(start, "200 OK", "text/html; charset=utf-8", body.encode("utf-8"), headers)

    def file_part(
        self, start: StartResponse, mime: email.message.EmailMessage, index: int
    ) -> Iterable[bytes]:
        """One attachment, downloadable."""
        parts = list(mime.walk())
        if not 0 <= index < len(parts) or parts[index].is_multipart():
            return _respond(start, "404 Not Found", "text/plain", b"no such part\n")
        part = parts[index]
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = quote(part.get_filename() or f"part-{index}")
        headers = [
            ("Content-Disposition", f"attachment; filename*=utf-8''{filename}"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", "sandbox; default-src 'none'"),
        ]
        return _respond(start, "200 OK", "application/octet-stream", data, headers)

    def cid_part(
        self, start: StartResponse, mime: email.message.EmailMessage, cid: str
    ) -> Iterable[bytes]:
        """An inline part by Content-ID, so cid: images show in the preview."""
        wanted = f"<{unquote(cid)}>"
        for part in mime.walk():
            if part.get("Content-ID") == wanted:
                payload = part.get_payload(decode=True)
                data = payload if isinstance(payload, bytes) else b""
                kind = part.get_content_type()
                safe = (
                    kind
                    if kind.startswith("image/") and kind != "image/svg+xml"
                    else "application/octet-stream"
                )
                return _respond(
                    start, "200 OK", safe, data, [("X-Content-Type-Options", "nosniff")]
                )
        return _respond(start, "404 Not Found", "text/plain", b"no such part\n")

    def error_page(self, start: StartResponse, error: BaseException) -> Iterable[bytes]:
        """A readable page for a render error: the message (file and line) and the trace."""
        esc = html.escape
        trace = "".join(traceback.format_exception(error))
        body = (
            f'<h1 class="error">{esc(type(error).__name__)}</h1>'
            f'<p class="error" id="error-message">{esc(str(error))}</p>'
            f"<pre>{esc(trace)}</pre>"
        )
        data = PAGE.format(title="Error", crumb="", body=body).encode("utf-8")
        return _respond(start, "500 Internal Server Error", "text/html; charset=utf-8", data)


def _page(start: StartResponse, title: str, crumb: str, body: str) -> Iterable[bytes]:
    data = PAGE.format(title=html.escape(title), crumb=crumb, body=body).encode("utf-8")
    headers = [
        (
            "Content-Security-Policy",
            "default-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'",
        ),
        ("X-Frame-Options", "DENY"),
    ]
    return _respond(start, "200 OK", "text/html; charset=utf-8", data, headers)


def _respond(
    start: StartResponse,
    status: str,
    content_type: str,
    data: bytes,
    headers: list[tuple[str, str]] | None = None,
) -> Iterator[bytes]:
    start(
        status,
        [("Content-Type", content_type), ("Content-Length", str(len(data))), *(headers or [])],
    )
    yield data


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_preview_server(
    app: Path,
    *,
    host: str = "127.0.0.1",
    port: int = 8025,
    allow_remote: bool = False,
    app_env: str = "dev",
) -> WSGIServer:
    """A preview server for the app at *app* (not started: call serve_forever()).

    Refuses to run with APP_ENV=prod, and to bind anything but loopback unless
    *allow_remote*.
    """
    if app_env == "prod":
        raise ConfigError("the preview server does not run with APP_ENV=prod")
    if host not in _LOOPBACK and not allow_remote:
        raise ConfigError(
            f"refusing to listen on {host}: previews are for 127.0.0.1 (or pass --allow-remote)"
        )
    previews = Previews(app)
    previews.load()  # import the app (and configure its Mail) before the first request
    return make_server(
        host, port, PreviewApp(previews), server_class=_ThreadingServer, handler_class=_QuietHandler
    )
