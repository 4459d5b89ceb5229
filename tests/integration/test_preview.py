"""The preview server: routes, fixture params, escaping, errors, reloads, and hardening
(the Host allow-list, security headers on every response, IPv6, bounded indexes)."""

from __future__ import annotations

import http.client
import io
import re
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer
from wsgiref.util import setup_testing_defaults

import pytest

import proper_mail
from proper_mail import ConfigError
from proper_mail.preview import (
    PreviewApp,
    Previews,
    allowed_hosts,
    browse_url,
    make_preview_server,
    parse_host,
)
from tests.preview_apps import write_files_app, write_preview_app

EXAMPLE = Path(__file__).parents[2] / "examples" / "myapp"


def get(
    app: PreviewApp, path: str, method: str = "GET", host: str | None = "127.0.0.1:8025"
) -> tuple[str, dict[str, str], str]:
    """Call the WSGI app (Host: *host*, none if None); return status, headers and body text."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    path, _, query = path.partition("?")
    environ.update(PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=method, HTTP_HOST=host)
    if host is None:
        del environ["HTTP_HOST"]
    environ["wsgi.input"] = io.BytesIO()
    seen: dict[str, Any] = {}

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app(environ, start))
    return seen["status"], seen["headers"], body.decode("utf-8", "replace")


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[PreviewApp]:
    """The preview app of examples/myapp."""
    monkeypatch.setenv("APP_ENV", "dev")
    previous = proper_mail.mail._current
    forget_example()
    yield PreviewApp(Previews(EXAMPLE))
    proper_mail.mail._current = previous
    forget_example()


def forget_example() -> None:
    """Drop examples/myapp from sys.modules, so it is imported (and configured) afresh."""
    for name in [m for m in sys.modules if m == "myapp" or m.startswith("myapp.")]:
        del sys.modules[name]


@pytest.fixture
def tmp_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A generated app with a Welcome email and a preview, configured with VIEWS."""
    monkeypatch.setenv("APP_ENV", "dev")
    previous = proper_mail.mail._current
    app = write_preview_app(
        tmp_path,
        "return WelcomeEmail(to=params.get('to', 'zoe@example.com'),"
        " subject=params.get('subject', 'Hi'))",
    )
    yield app
    proper_mail.mail._current = previous


def test_the_index_lists_every_email_with_its_subject(example: PreviewApp) -> None:
    """/ lists each preview and its subject."""
    status, _, body = get(example, "/")

    assert status == "200 OK"
    assert (
        '<a href="/preview/password_reset">password_reset</a></td><td>Reset your password' in body
    )
    assert "Welcome to MyApp" in body


def test_an_email_page_shows_headers_iframe_text_files_and_lint(example: PreviewApp) -> None:
    """The page: headers, the sandboxed iframe, views, the raw .eml links, lint."""
    status, headers, body = get(example, "/preview/password_reset")

    assert status == "200 OK"
    assert "<th>To</th><td>alice@example.com</td>" in body
    assert '<iframe id="html-part" title="HTML part" sandbox=""' in body
    assert 'href="/preview/password_reset/eml"' in body
    assert "no issues" in body
    assert headers["X-Frame-Options"] == "DENY"


def test_fixture_params_vary_the_email(example: PreviewApp) -> None:
    """?name=Bob&email=bob@example.com reach the preview function."""
    _, _, body = get(example, "/preview/welcome?name=Bob&email=bob@example.com")

    assert "<th>To</th><td>Bob &lt;bob@example.com&gt;</td>" in body
    assert 'src="/preview/welcome/html?name=Bob&amp;email=bob%40example.com"' in body


def test_the_text_view_shows_the_text_part(example: PreviewApp) -> None:
    """?view=text shows the text/plain part, escaped, in a <pre>."""
    _, _, body = get(example, "/preview/password_reset?view=text")

    assert '<pre class="text" id="text-part">Reset your password' in body


def test_the_html_part_is_served_under_a_csp_sandbox(example: PreviewApp) -> None:
    """The email HTML comes with CSP sandbox and no scripts allowed."""
    status, headers, body = get(example, "/preview/password_reset/html")

    assert status == "200 OK"
    assert headers["Content-Security-Policy"].startswith("sandbox; default-src 'none'")
    assert "I heard that you lost your password" in body


def test_the_raw_eml_is_viewable_and_downloadable(example: PreviewApp) -> None:
    """/eml shows the wire bytes; ?download=1 makes them a file."""
    _, headers, body = get(example, "/preview/password_reset/eml")
    _, download, _ = get(example, "/preview/password_reset/eml?download=1")

    assert body.startswith("Subject: Reset your password")
    assert "Content-Disposition" not in headers
    assert download["Content-Disposition"] == 'attachment; filename="password_reset.eml"'


def test_nothing_changes_state(example: PreviewApp) -> None:
    """POST (or anything but GET/HEAD) is refused."""
    assert get(example, "/preview/password_reset", method="POST")[0] == "405 Method Not Allowed"


def test_unknown_routes_are_404(example: PreviewApp) -> None:
    """An unknown preview or path is a 404."""
    assert get(example, "/preview/nope")[0] == "404 Not Found"
    assert get(example, "/etc/passwd")[0] == "404 Not Found"


def test_fixture_values_are_escaped(tmp_app: Path) -> None:
    """A subject with markup is shown as text on the page."""
    app = PreviewApp(Previews(tmp_app))

    _, _, body = get(app, "/preview/welcome?subject=%3Cscript%3Ealert(1)%3C/script%3E")

    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_a_render_error_is_a_readable_page(tmp_app: Path) -> None:
    """An undeclared variable: a 500 page naming the template file and line."""
    (tmp_app / "views" / "emails" / "welcome.jx").write_text(
        "{#def subject #}\n<p>{{ nope }}</p>\n"
    )
    app = PreviewApp(Previews(tmp_app))

    status, _, body = get(app, "/preview/welcome")

    assert status == "500 Internal Server Error"
    assert "welcome.jx:2" in body
    assert "nope" in body


def test_edits_show_on_the_next_request(tmp_app: Path) -> None:
    """A template and an email class edited while serving show without a restart."""
    app = PreviewApp(Previews(tmp_app))
    get(app, "/preview/welcome")
    (tmp_app / "views" / "emails" / "welcome.jx").write_text(
        "{#def subject #}<p>Edited template</p>"
    )
    source = (tmp_app / "emails" / "welcome_email.py").read_text()
    (tmp_app / "emails" / "welcome_email.py").write_text(
        source.replace('subject = "Welcome"', 'cc = "edited@example.com"')
    )

    _, _, page = get(app, "/preview/welcome")
    _, _, html_part = get(app, "/preview/welcome/html")

    assert "Edited template" in html_part
    assert "edited@example.com" in page


def test_the_server_refuses_prod_and_remote_hosts() -> None:
    """APP_ENV=prod, or a non-loopback host without --allow-remote, is refused."""
    with pytest.raises(ConfigError, match="APP_ENV=prod"):
        make_preview_server(EXAMPLE, app_env="prod")
    with pytest.raises(ConfigError, match="allow-remote"):
        make_preview_server(EXAMPLE, host="0.0.0.0", port=0)


@pytest.fixture
def files_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PreviewApp]:
    """The preview app of an app whose email has an inline image and an attachment."""
    monkeypatch.setenv("APP_ENV", "dev")
    previous = proper_mail.mail._current
    yield PreviewApp(Previews(write_files_app(tmp_path)))
    proper_mail.mail._current = previous


@contextmanager
def served(server: WSGIServer) -> Iterator[int]:
    """Serve *server* in a thread; yield its port; shut it down."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(30)


def request(address: str, port: int, host: str, path: str = "/") -> tuple[int, str]:
    """GET *path* from *address*:*port* with the Host header *host*; status and body."""
    connection = http.client.HTTPConnection(address, port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode("utf-8", "replace")
    finally:
        connection.close()


def ipv6_loopback() -> bool:
    """Whether this machine can listen on ::1."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


# -- the lint summary and the counts --------------------------------------------------------


def test_the_index_counts_emails_and_lint_warnings(example: PreviewApp) -> None:
    """On top of the index: how many emails and lint warnings; per email its count."""
    _, _, body = get(example, "/")

    assert '<p id="totals">2 emails, 0 lint warnings</p>' in body
    assert body.count('<td class="lint-count"><span class="ok">no issues</span></td>') == 2


def test_an_email_page_starts_with_its_lint_summary(tmp_app: Path) -> None:
    """An http link: the summary under the subject links to the lint list, the index counts it."""
    (tmp_app / "views" / "emails" / "welcome.jx").write_text(
        '{#def subject #}\n<a href="http://example.com">x</a>\n'
    )
    app = PreviewApp(Previews(tmp_app))

    _, _, page = get(app, "/preview/welcome")
    _, _, index = get(app, "/")

    summary = '<p id="lint-summary" class="warn"><a href="#lint">Lint: 1 warning: insecure-link</a>'
    assert summary in page
    assert page.index(summary) < page.index('<table class="headers">')
    assert '<h2 id="lint">Lint</h2>' in page
    assert '<p id="totals">1 email, 1 lint warning</p>' in index
    assert '<span class="warn">1 warning</span>' in index


def test_a_clean_email_page_says_so_on_top(example: PreviewApp) -> None:
    """No findings: 'Lint: no issues' under the subject."""
    _, _, body = get(example, "/preview/password_reset")

    assert '<h1>Reset your password</h1><p id="lint-summary" class="ok">Lint: no issues</p>' in body


# -- the Host allow-list ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "host", ["127.0.0.1:8025", "localhost:8025", "LocalHost:8025", "[::1]:8025", "[0:0::1]:8025"]
)
def test_loopback_host_headers_are_answered(example: PreviewApp, host: str) -> None:
    """Loopback names with the server's port (any case, any IPv6 spelling) are served."""
    assert get(example, "/", host=host)[0] == "200 OK"


@pytest.mark.parametrize(
    "host",
    [
        "evil.example:8025",  # DNS rebinding: the attacker's name, pointed at 127.0.0.1
        "evil.example",
        "127.0.0.1:9999",  # the right address, another port: another origin
        "127.0.0.1",  # no port is port 80
        "localhost.:8025",
        "127.0.0.1:8025@evil.example",
        "[::1",
        "",
        None,
    ],
)
def test_other_host_headers_get_a_400_without_content(
    example: PreviewApp, host: str | None
) -> None:
    """Any other Host (or none): 400, with none of the app's pages, data or tracebacks."""
    status, headers, body = get(example, "/preview/password_reset", host=host)

    assert status == "400 Bad Request"
    assert headers["Content-Type"].startswith("text/plain")
    assert "Reset your password" not in body
    assert "Email previews" not in body
    assert headers["Content-Security-Policy"]


def test_parse_host_reads_names_ports_and_ipv6() -> None:
    """Host values: names lower-cased, IPv6 shortened without brackets, malformed -> None."""
    assert parse_host("LOCALHOST:8025") == ("localhost", 8025)
    assert parse_host("[0:0:0:0:0:0:0:1]:80") == ("::1", 80)
    assert parse_host("example.com") == ("example.com", None)
    assert parse_host("example.com:0") is None
    assert parse_host("example.com:99999") is None
    assert parse_host("a b") is None
    assert parse_host("[::g]:1") is None


def test_allowed_hosts_are_loopback_plus_the_names_given() -> None:
    """The bound port for names without one; an explicit port kept; bad names refused."""
    hosts = allowed_hosts(8025, "box.test", "proxy.test:9000", "::2")

    assert hosts == {
        ("localhost", 8025),
        ("127.0.0.1", 8025),
        ("::1", 8025),
        ("box.test", 8025),
        ("proxy.test", 9000),
        ("::2", 8025),
    }
    with pytest.raises(ConfigError, match="not a host name"):
        allowed_hosts(8025, "bad host")


def test_the_server_checks_the_host_against_its_own_port(example: PreviewApp) -> None:
    """A real server on a free port: its port passes, another port or name gets 400."""
    server = make_preview_server(EXAMPLE, port=0, allowed_host_names=["mybox.test"])

    with served(server) as port:
        good = request("127.0.0.1", port, f"127.0.0.1:{port}")
        named = request("127.0.0.1", port, f"mybox.test:{port}")
        wrong_port = request("127.0.0.1", port, f"127.0.0.1:{port + 1}")
        rebound = request("127.0.0.1", port, f"evil.example:{port}")

    assert good[0] == 200
    assert "Reset your password" in good[1]
    assert named[0] == 200
    assert wrong_port[0] == 400
    assert rebound[0] == 400
    assert "Reset your password" not in rebound[1]


def test_the_bound_address_is_allowed(example: PreviewApp) -> None:
    """Listening on another loopback address (127.0.0.2): that address is a valid Host."""
    server = make_preview_server(EXAMPLE, host="127.0.0.2", port=0)

    with served(server) as port:
        status, _ = request("127.0.0.2", port, f"127.0.0.2:{port}")

    assert status == 200


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback")
@pytest.mark.parametrize("host", ["::1", "[::1]"])
def test_the_server_listens_on_ipv6_loopback(example: PreviewApp, host: str) -> None:
    """--host ::1 (or [::1]) serves over IPv6; the Host header is [::1]:port."""
    server = make_preview_server(EXAMPLE, host=host, port=0)

    with served(server) as port:
        status, body = request("::1", port, f"[::1]:{port}")

    assert server.address_family == socket.AF_INET6
    assert status == 200
    assert "Reset your password" in body


# -- security headers on every response ------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "method", "status"),
    [
        ("/", "GET", "200 OK"),
        ("/preview/password_reset", "GET", "200 OK"),
        ("/preview/password_reset/html", "GET", "200 OK"),
        ("/preview/password_reset/eml", "GET", "200 OK"),
        ("/preview/password_reset/part/0", "GET", "404 Not Found"),
        ("/preview/password_reset/cid/nope", "GET", "404 Not Found"),
        ("/preview/nope", "GET", "404 Not Found"),
        ("/nope", "GET", "404 Not Found"),
        ("/", "POST", "405 Method Not Allowed"),
    ],
)
def test_every_response_carries_the_security_headers(
    example: PreviewApp, path: str, method: str, status: str
) -> None:
    """CSP, nosniff and no-referrer on pages, parts and errors alike."""
    got, headers, _ = get(example, path, method=method)

    assert got == status
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


@pytest.mark.parametrize("path", ["/", "/preview/password_reset"])
def test_the_app_pages_cannot_be_framed(example: PreviewApp, path: str) -> None:
    """Index and email pages: frame-ancestors 'none' and X-Frame-Options DENY."""
    _, headers, _ = get(example, path)

    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"


def test_the_email_html_is_framed_only_by_the_preview_pages(example: PreviewApp) -> None:
    """The HTML part: sandboxed, no script, frame-ancestors 'self' (the page's iframe)."""
    _, headers, _ = get(example, "/preview/password_reset/html")

    csp = headers["Content-Security-Policy"]
    assert csp.startswith("sandbox; default-src 'none'")
    assert "script-src" not in csp
    assert "frame-ancestors 'self'" in csp
    assert "X-Frame-Options" not in headers


def test_an_error_page_carries_the_page_headers(tmp_app: Path) -> None:
    """A render error's page (with its traceback): CSP, no framing, nosniff."""
    (tmp_app / "views" / "emails" / "welcome.jx").write_text("{#def subject #}\n{{ nope }}\n")
    app = PreviewApp(Previews(tmp_app))

    status, headers, body = get(app, "/preview/welcome")

    assert status == "500 Internal Server Error"
    assert "Traceback" in body
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_the_raw_eml_is_not_sniffed(example: PreviewApp) -> None:
    """/eml is text/plain with nosniff: a browser never renders it as HTML."""
    _, headers, _ = get(example, "/preview/password_reset/eml")

    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["X-Content-Type-Options"] == "nosniff"


def test_files_and_inline_images_carry_the_security_headers(files_app: PreviewApp) -> None:
    """An attachment and a cid: image: 200, CSP, nosniff, no-referrer."""
    _, _, page = get(files_app, "/preview/welcome")
    _, _, html_part = get(files_app, "/preview/welcome/html")
    file_link = re.search(r'href="(/preview/welcome/part/\d+)">notes.txt', page)
    image_link = re.search(r'src="(/preview/welcome/cid/[^"]+)"', html_part)
    assert file_link is not None
    assert image_link is not None

    for path, kind in ((file_link[1], "application/octet-stream"), (image_link[1], "image/png")):
        status, headers, _ = get(files_app, path)
        assert status == "200 OK"
        assert headers["Content-Type"] == kind
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "no-referrer"


# -- bounded indexes -------------------------------------------------------------------------


@pytest.mark.parametrize("index", ["9" * 5000, "999999", "1" + "0" * 6])
def test_a_part_index_out_of_range_is_a_404(example: PreviewApp, index: str) -> None:
    """A 5,000-digit, a large or a 7-digit part index: 404, never a 500."""
    status, _, _ = get(example, f"/preview/password_reset/part/{index}")

    assert status == "404 Not Found"


@pytest.mark.parametrize(
    ("address", "url"),
    [
        (("127.0.0.1", 8025), "http://127.0.0.1:8025/"),
        (("::1", 8025, 0, 0), "http://[::1]:8025/"),
        (("0.0.0.0", 8025), "http://127.0.0.1:8025/"),
        (("::", 8025, 0, 0), "http://[::1]:8025/"),
    ],
)
def test_the_url_to_open_is_loopback_when_listening_everywhere(
    address: tuple[str, ...], url: str
) -> None:
    """The printed URL brackets IPv6 and names loopback for 0.0.0.0 and ::."""
    assert browse_url(address) == url


# -- MAILER_INTERCEPT_TO ---------------------------------------------------------------------


#: The welcome email's recipients: to a customer, cc an allow-listed colleague, bcc audit.
RECIPIENTS = "to='zoe@example.org', cc='boss@mycompany.com', bcc='audit@example.org'"


def intercepting_app(parent: Path, recipients: str = RECIPIENTS) -> Path:
    """A preview app configured with MAILER_INTERCEPT_TO = qa@mycompany.com (APP_ENV
    staging, ``*@mycompany.com`` allowed), whose welcome email has *recipients*."""
    app = write_preview_app(parent, f"return WelcomeEmail({recipients})")
    settings = {
        "MAILERS": {"m": {"type": "proper_mail.ToMemoryMailer"}},
        "MAILER_DEFAULT_OPTIONS": {"from": "a@example.com"},
        "VIEWS": str(app / "views"),
        "APP_ENV": "staging",
        "MAILER_INTERCEPT_TO": "qa@mycompany.com",
        "MAILER_INTERCEPT_ALLOW": ["*@mycompany.com"],
    }
    (app / "main.py").write_text(
        f"import proper_mail\nmail = proper_mail.configure({settings!r})\n"
    )
    return app


@pytest.fixture
def keep_current() -> Iterator[None]:
    """The configured Mail before the test is current again after it."""
    previous = proper_mail.mail._current
    yield
    proper_mail.mail._current = previous


@pytest.mark.usefixtures("keep_current")
def test_an_intercepted_email_shows_where_it_goes_and_its_original_recipients(
    tmp_path: Path,
) -> None:
    """MAILER_INTERCEPT_TO: the page says the email goes to the interceptor instead of
    its recipients (listed), which allow-listed ones still get it, and shows the headers
    it is sent with: To rewritten, the originals in X-Original-*."""
    app = PreviewApp(Previews(intercepting_app(tmp_path)))

    _, _, page = get(app, "/preview/welcome")
    _, _, eml = get(app, "/preview/welcome/eml")

    assert (
        '<p id="intercepted" class="warn">Intercepted (MAILER_INTERCEPT_TO): this email goes to'
        " qa@mycompany.com instead of To: zoe@example.org; Cc: boss@mycompany.com;"
        " Bcc: audit@example.org. Still sent to (MAILER_INTERCEPT_ALLOW): boss@mycompany.com."
    ) in page
    assert "<th>To</th><td>qa@mycompany.com</td>" in page
    assert "<th>Cc</th><td>boss@mycompany.com</td>" in page
    assert "<th>X-Original-To</th><td>zoe@example.org</td>" in page
    assert "X-Original-Bcc</th>" not in page  # an allowed Cc shares the copy
    assert "audit@example.org" in page  # the banner still names the original Bcc
    assert "<th>Bcc</th>" not in page
    assert "X-Original-To: zoe@example.org\r\n" in eml
    assert "To: qa@mycompany.com\r\n" in eml


@pytest.mark.usefixtures("keep_current")
def test_the_index_says_emails_are_intercepted(tmp_path: Path) -> None:
    """The index says where MAILER_INTERCEPT_TO sends every email, and who is exempt."""
    app = PreviewApp(Previews(intercepting_app(tmp_path)))

    _, _, index = get(app, "/")

    assert (
        '<p id="intercepted" class="warn">MAILER_INTERCEPT_TO is set: these emails go to'
        " qa@mycompany.com instead of their recipients (except those matching"
        " *@mycompany.com).</p>"
    ) in index


@pytest.mark.usefixtures("keep_current")
def test_an_email_only_to_allowed_recipients_is_shown_unchanged(tmp_path: Path) -> None:
    """Every recipient allow-listed: the page says it is sent as it is; no X-Original-*."""
    app = PreviewApp(Previews(intercepting_app(tmp_path, "to='dev@mycompany.com'")))

    _, _, page = get(app, "/preview/welcome")

    assert "is on MAILER_INTERCEPT_ALLOW: it is sent as it is." in page
    assert "X-Original" not in page
