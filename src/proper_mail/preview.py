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
pages is escaped; there is no route that changes anything (GET and HEAD only). Every
response carries a Content-Security-Policy, ``X-Content-Type-Options: nosniff`` and
``Referrer-Policy: no-referrer``; only the email's HTML may be framed, and only by the
preview's own pages. A request whose Host header is not on the allow-list (loopback
names, the bound address, ``--allowed-host`` names, each with the bound port) gets a
400 without any of the app's content, so a DNS-rebinding page cannot read previews or
the tracebacks of error pages.
"""

from __future__ import annotations

import email.message
import errno
import html
import importlib
import ipaddress
import re
import socket
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from socketserver import ThreadingMixIn
from types import ModuleType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlencode
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.types import StartResponse, WSGIEnvironment

from .core.lint import LintIssue, html_of, lint_message, lint_summary
from .core.mime import to_bytes, to_mime
from .core.records import Message
from .errors import ConfigError
from .mail import Mail, current_mail, is_production

__all__ = [
    "DEFAULT_PORT",
    "PreviewApp",
    "Previews",
    "allowed_hosts",
    "browse_url",
    "build_message",
    "check_serving",
    "intercepted",
    "interception_notice",
    "make_preview_server",
    "parse_host",
    "preview",
    "previews_of",
]

F = TypeVar("F", bound=Callable[..., Any])
Preview = Callable[[Mapping[str, str]], Any]

DEFAULT_PORT = 8025
_MARK = "__proper_mail_preview__"
#: The names a browser on this machine uses for loopback (IPv6 without its brackets).
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_UNSPECIFIED = ("0.0.0.0", "::")  # noqa: S104 - names to leave out, never bound here
_HOST = re.compile(
    r"(?:\[([0-9A-Fa-f:.]{2,45})\]|([A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})))(?::(\d{1,5}))?"
)
_ROUTE = re.compile(r"/preview/([A-Za-z_][A-Za-z0-9_]{0,99})(?:/(html|eml|part/\d{1,6}|cid/.+))?")

#: The app's own pages: no script, nothing from elsewhere, framed by no one.
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; frame-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
#: The email's HTML: sandboxed (no script, an opaque origin), framed only by our pages.
HTML_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data: https:; "
    "font-src https: data:; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)
#: Everything else (raw .eml, files, images, plain-text errors): inert.
RAW_CSP = "sandbox; default-src 'none'; frame-ancestors 'none'"


def preview[F: Callable[..., Any]](fn: F) -> F:
    """Mark *fn* (``fn(params) -> email``) as a preview."""
    setattr(fn, _MARK, True)
    return fn


def previews_of(module: ModuleType) -> dict[str, Preview]:
    """The functions of *module* marked with ``@preview``, by name, in source order."""
    return {
        name: fn for name, fn in vars(module).items() if callable(fn) and getattr(fn, _MARK, False)
    }


class Previews:
    """The previews of an app: ``<package>.emails.previews``, reloaded on demand."""

    def __init__(self, app: Path) -> None:
        self.app = app.resolve()
        self.package = self.app.name
        if str(self.app.parent) not in sys.path:
            sys.path.insert(0, str(self.app.parent))
        self._lock = threading.Lock()

    def load(self) -> dict[str, Preview]:
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
        return previews_of(module)


def message_of(made: object, mail: Mail) -> Message:
    """Compose (render) what a preview returned: a Message, or an email with to_message()."""
    if isinstance(made, Message):
        return made
    to_message = getattr(made, "to_message", None)
    if to_message is None:
        raise ConfigError(f"a preview must return an email, not {type(made).__name__}")
    message: Message = to_message(mail)
    return message


def build_message(fn: Preview, params: Mapping[str, str], mail: Mail) -> Message:
    """Call a preview and compose (render) what it returns."""
    return message_of(fn(params), mail)


def intercepted(message: Message, mail: Mail) -> Message:
    """*message* as it would be sent: with MAILER_INTERCEPT_TO set, its recipients
    rewritten and the originals in X-Original-* headers (the interceptor is the only
    send hook a preview runs: it is pure, the others are the app's own)."""
    if mail.interceptor is None:
        return message
    return mail.interceptor(message) or message


def interception_notice(composed: Message, sent: Message, mail: Mail) -> str:
    """The HTML paragraph saying where MAILER_INTERCEPT_TO sends *composed* instead
    (*sent* is ``intercepted(composed)``), with its original recipients; "" when it is
    not intercepted."""
    interceptor = mail.interceptor
    if interceptor is None:
        return ""
    esc = html.escape
    if sent is composed:
        return (
            '<p id="intercepted" class="ok">MAILER_INTERCEPT_TO is set, but every recipient'
            " of this email is on MAILER_INTERCEPT_ALLOW: it is sent as it is.</p>"
        )
    originals = "; ".join(
        f"{label}: {esc(', '.join(map(str, group)))}"
        for label, group in (("To", composed.to), ("Cc", composed.cc), ("Bcc", composed.bcc))
        if group
    )
    passed = [
        str(a)
        for group in (composed.to, composed.cc, composed.bcc)
        for a in group
        if interceptor.allows(a.addr_spec)
    ]
    allowed = (
        f" Still sent to (MAILER_INTERCEPT_ALLOW): {esc(', '.join(passed))}." if passed else ""
    )
    return (
        '<p id="intercepted" class="warn">Intercepted (MAILER_INTERCEPT_TO): this email'
        f" goes to {esc(', '.join(map(str, interceptor.to)))} instead of {originals}."
        f"{allowed} The original recipients are in its X-Original-To and X-Original-Cc"
        " headers (and X-Original-Bcc when no allowed recipient gets the copy).</p>"
    )


def parse_host(value: str) -> tuple[str, int | None] | None:
    """``name[:port]`` or ``[v6]:port`` -> (lower-case name, port); None when malformed.

    IPv6 addresses come back without brackets, in their short form (``::1``).
    """
    match = _HOST.fullmatch(value)
    if match is None:
        return None
    bracketed, name, port = match.groups()
    if bracketed is not None:
        try:
            name = ipaddress.IPv6Address(bracketed).compressed
        except ValueError:
            return None
    number = int(port) if port is not None else None
    if number is not None and not 0 < number < 65536:
        return None
    return name.lower(), number


def allowed_hosts(port: int, *names: str) -> frozenset[tuple[str, int]]:
    """The (name, port) pairs a request's Host header may name.

    The loopback names with *port*, and each of *names* (``name``, ``name:port``,
    ``[v6]:port`` or a bare IPv6 address) with its own port or *port*. ConfigError for a
    name that is not a host name.
    """
    pairs = {(name, port) for name in LOOPBACK_NAMES}
    for given in names:
        parsed = parse_host(f"[{given}]" if _is_ipv6(given) else given)
        if parsed is None:
            raise ConfigError(f"allowed host {given!r} is not a host name (NAME or NAME:PORT)")
        pairs.add((parsed[0], parsed[1] if parsed[1] is not None else port))
    return frozenset(pairs)


#: What PreviewApp answers to unless told otherwise: loopback on the default port.
DEFAULT_HOSTS = allowed_hosts(DEFAULT_PORT)

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 0; color: #222; }}
header {{ background: #1d2733; color: #fff; padding: .6em 1em; }}
header a {{ color: #fff; }}
main {{ padding: 1em; }}
table.headers td, table.headers th {{ text-align: left; vertical-align: top; padding: .15em .6em; }}
table.headers th {{ color: #555; font-weight: 600; white-space: nowrap; }}
table.index td, table.index th {{ text-align: left; padding: .15em .8em .15em 0; }}
nav.views a {{ margin-right: 1em; }} nav.views a.current {{ font-weight: 700; }}
iframe {{ border: 1px solid #ccc; height: 70vh; background: #fff; }}
pre.text {{ background: #f6f6f6; padding: 1em; white-space: pre-wrap; }}
.lint li, .warn {{ color: #8a4b00; }} .error {{ color: #a00; }} .ok {{ color: #2a6b2a; }}
</style></head><body>
<header><a href="/">Email previews</a> {crumb}</header>
<main>{body}</main></body></html>
"""


class PreviewApp:
    """The WSGI application behind ``proper-mail preview``.

    *allowed_hosts* are the (name, port) pairs the Host header may name (see
    ``allowed_hosts()``); any other Host gets a 400.
    """

    def __init__(
        self,
        previews: Previews,
        mail: Callable[[], Mail] = current_mail,
        *,
        allowed_hosts: frozenset[tuple[str, int]] = DEFAULT_HOSTS,
    ) -> None:
        self.previews = previews
        self.mail = mail
        self.allowed_hosts = allowed_hosts

    def __call__(self, environ: WSGIEnvironment, start: StartResponse) -> Iterable[bytes]:
        """Route one request; only GET and HEAD exist, only for allowed Host headers."""
        if not self.host_allowed(environ.get("HTTP_HOST")):
            return _respond(
                start,
                "400 Bad Request",
                "text/plain; charset=utf-8",
                b"This preview server does not answer to that Host header"
                b" (proper-mail preview --allowed-host NAME adds a name).\n",
            )
        if environ["REQUEST_METHOD"] not in ("GET", "HEAD"):
            return _respond(start, "405 Method Not Allowed", "text/plain", b"read-only\n")
        path = environ.get("PATH_INFO", "/")
        params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        try:
            if path == "/":
                return self.index(start)
            match = _ROUTE.fullmatch(path)
            if match is None:
                return _respond(start, "404 Not Found", "text/plain", b"not found\n")
            return self.email_route(start, match.group(1), match.group(2), params)
        except Exception as e:  # a render error is a page, not a crash
            return self.error_page(start, e)

    def host_allowed(self, host: str | None) -> bool:
        """Whether a request with this Host header is answered (no port: port 80)."""
        parsed = parse_host(host) if host else None
        if parsed is None:
            return False
        name, port = parsed
        return (name, 80 if port is None else port) in self.allowed_hosts

    def index(self, start: StartResponse) -> Iterable[bytes]:
        """Every preview with its subject and lint count; totals on top."""
        rows = []
        warnings = failing = 0
        previews = self.previews.load()
        for name, fn in sorted(previews.items()):
            link = f'<a href="/preview/{name}">{html.escape(name)}</a>'
            try:
                message = build_message(fn, {}, self.mail())
            except Exception as e:
                failing += 1
                problem = html.escape(f"{type(e).__name__}: {e}")
                rows.append(
                    f'<tr><td>{link}</td><td><span class="error">{problem}</span></td>'
                    '<td class="error">does not render</td></tr>'
                )
                continue
            issues = lint_message(message)
            warnings += len(issues)
            count = (
                f'<span class="warn">{_plural(len(issues), "warning")}</span>'
                if issues
                else '<span class="ok">no issues</span>'
            )
            rows.append(
                f"<tr><td>{link}</td><td>{html.escape(message.subject)}</td>"
                f'<td class="lint-count">{count}</td></tr>'
            )
        totals = [_plural(len(previews), "email"), _plural(warnings, "lint warning")]
        if failing:
            totals.append(f'<span class="error">{failing} failing to render</span>')
        try:
            interceptor = self.mail().interceptor
        except ConfigError:  # not configured: each row already says so
            interceptor = None
        notice = ""
        if interceptor is not None:
            allow = ", ".join(interceptor.allow)
            notice = (
                '<p id="intercepted" class="warn">MAILER_INTERCEPT_TO is set: these emails go'
                f" to {html.escape(', '.join(map(str, interceptor.to)))} instead of their"
                " recipients"
                + (f" (except those matching {html.escape(allow)})" if allow else "")
                + ".</p>"
            )
        body = (
            f'<h1>Emails</h1><p id="totals">{", ".join(totals)}</p>{notice}'
            '<table class="index"><tr><th>Preview</th><th>Subject</th><th>Lint</th></tr>'
            + "".join(rows)
            + "</table>"
        )
        return _page(start, "Email previews", "", body)

    def email_route(
        self, start: StartResponse, name: str, part: str | None, params: dict[str, str]
    ) -> Iterable[bytes]:
        """The page of one email, or one of its parts."""
        previews = self.previews.load()
        if name not in previews:
            return _respond(start, "404 Not Found", "text/plain", b"no such preview\n")
        view = params.pop("view", "desktop")
        download = params.pop("download", None)
        mail = self.mail()
        composed = build_message(previews[name], params, mail)
        message = intercepted(composed, mail)
        query = urlencode(params)
        if part == "html":
            return self.html_part(start, name, message, query)
        if part == "eml":
            headers = (
                [("Content-Disposition", f'attachment; filename="{name}.eml"')] if download else []
            )
            return _respond(
                start, "200 OK", "text/plain; charset=utf-8", to_bytes(message), headers
            )
        mime = to_mime(message)
        if part is not None and part.startswith("part/"):
            return self.file_part(start, mime, int(part.removeprefix("part/")))
        if part is not None and part.startswith("cid/"):
            return self.cid_part(start, mime, part.removeprefix("cid/"))
        notice = interception_notice(composed, message, mail)
        return self.email_page(start, name, message, mime, view, query, notice)

    def email_page(
        self,
        start: StartResponse,
        name: str,
        message: Message,
        mime: email.message.EmailMessage,
        view: str,
        query: str,
        notice: str = "",
    ) -> Iterable[bytes]:
        """Lint summary, the interception *notice* (HTML), headers, the HTML in a sandboxed
        iframe (desktop, mobile), text, files."""
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
            f"{_lint_banner(issues)}{notice}"
            f'<table class="headers">{header_rows}</table>'
            f'<nav class="views">{views} <a href="{base}/eml{qs}">Raw .eml</a> '
            f'<a href="{base}/eml?download=1{esc(suffix)}">Download .eml</a></nav>'
            f"{content}"
            f"<h2>Attachments</h2><ul>{''.join(files) or '<li>none</li>'}</ul>"
            f'<h2 id="lint">Lint</h2><ul class="lint">{lint or "<li>no issues</li>"}</ul>'
        )
        return _page(start, message.subject, f"/ {esc(name)}", body)

    def html_part(
        self, start: StartResponse, name: str, message: Message, query: str
    ) -> Iterable[bytes]:
        """The email's HTML, with cid: images pointed at this server, under a CSP sandbox."""
        body = html_of(message) or ""
        suffix = f"?{query}" if query else ""
        body = re.sub(
            r"""(["'])cid:([^"']+)\1""",
            lambda m: f"{m.group(1)}/preview/{name}/cid/{quote(m.group(2))}{suffix}{m.group(1)}",
            body,
        )
        return _respond(
            start, "200 OK", "text/html; charset=utf-8", body.encode("utf-8"), csp=HTML_CSP
        )

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
        headers = [("Content-Disposition", f"attachment; filename*=utf-8''{filename}")]
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
                return _respond(start, "200 OK", safe, data)
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
        return _page(start, "Error", "", body, status="500 Internal Server Error")


def _lint_banner(issues: tuple[LintIssue, ...]) -> str:
    if not issues:
        return '<p id="lint-summary" class="ok">Lint: no issues</p>'
    return (
        f'<p id="lint-summary" class="warn"><a href="#lint">Lint: '
        f"{html.escape(lint_summary(issues))}</a></p>"
    )


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _page(
    start: StartResponse, title: str, crumb: str, body: str, *, status: str = "200 OK"
) -> Iterable[bytes]:
    data = PAGE.format(title=html.escape(title), crumb=crumb, body=body).encode("utf-8")
    return _respond(
        start,
        status,
        "text/html; charset=utf-8",
        data,
        [("X-Frame-Options", "DENY")],
        csp=PAGE_CSP,
    )


def _respond(
    start: StartResponse,
    status: str,
    content_type: str,
    data: bytes,
    headers: list[tuple[str, str]] | None = None,
    *,
    csp: str = RAW_CSP,
) -> Iterator[bytes]:
    """Start the response with the headers every response carries; yield *data*."""
    start(
        status,
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(data))),
            ("Content-Security-Policy", csp),
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            *(headers or []),
        ],
    )
    yield data


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingServer6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _is_ipv6(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address)
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_serving(
    host: str, *, allow_remote: bool, allowed_host_names: Iterable[str], app_env: str
) -> str:
    """Refuse APP_ENV=prod, a host beyond loopback without *allow_remote*, a bad name.

    Returns the address to listen on (an IPv6 address without its brackets). Nothing is
    imported or bound: callers check before they load the app.
    """
    if is_production(app_env):
        raise ConfigError(f"the preview server does not run with APP_ENV={app_env}")
    address = host.removeprefix("[").removesuffix("]")
    if not _is_loopback(address) and not allow_remote:
        raise ConfigError(
            f"refusing to listen on {host}: previews are for 127.0.0.1 (or pass --allow-remote)"
        )
    allowed_hosts(DEFAULT_PORT, *allowed_host_names)  # ConfigError for a bad name
    return address


def browse_url(address: tuple[Any, ...]) -> str:
    """The URL to open for a server's *address* (loopback when it listens on all of them)."""
    host, port = str(address[0]), int(address[1])
    host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104 - a lookup
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def make_preview_server(
    app: Path,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    allow_remote: bool = False,
    allowed_host_names: Iterable[str] = (),
    app_env: str = "dev",
) -> WSGIServer:
    """A preview server for the app at *app* (not started: call serve_forever()).

    *host* may be an IPv4 or IPv6 address (``::1`` or ``[::1]``) or a name. Refuses
    to run with APP_ENV=prod, and to bind anything but loopback unless *allow_remote*.
    Requests must name the server in their Host header: a loopback name, the bound
    address, or one of *allowed_host_names* (``name`` or ``name:port``), with the bound
    port unless given. ConfigError for every problem, a busy port included.
    """
    address = check_serving(
        host, allow_remote=allow_remote, allowed_host_names=allowed_host_names, app_env=app_env
    )
    names = list(allowed_host_names)
    previews_file = app / "emails" / "previews.py"
    if not previews_file.is_file():
        raise ConfigError(
            f"no previews: {previews_file} does not exist"
            " (proper-mail new email NAME writes one with a preview)"
        )
    previews = Previews(app)
    try:
        previews.load()  # import the app's emails before the first request
    except Exception as e:
        raise ConfigError(
            f"cannot import {previews.package}.emails.previews: {type(e).__name__}: {e}"
        ) from e
    server_class = _ThreadingServer6 if _is_ipv6(address) else _ThreadingServer
    try:
        server = server_class((address, port), _QuietHandler)
    except OSError as e:
        where = f"[{address}]:{port}" if _is_ipv6(address) else f"{address}:{port}"
        hint = " (is another preview running? choose another --port)"
        reason = e.strerror or str(e)
        raise ConfigError(
            f"cannot listen on {where}: {reason}{hint if e.errno == errno.EADDRINUSE else ''}"
        ) from e
    bound = server.server_address[1]
    if address.lower() not in _UNSPECIFIED:
        names.append(address)
    server.set_app(PreviewApp(previews, allowed_hosts=allowed_hosts(bound, *names)))
    return server
