"""The preview server's WSGI app: routes, fixture params, escaping, errors, reloads."""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from wsgiref.util import setup_testing_defaults

import pytest

import proper_mail
from proper_mail import ConfigError
from proper_mail.preview import PreviewApp, Previews, make_preview_server
from tests.preview_apps import write_preview_app

EXAMPLE = Path(__file__).parents[2] / "examples" / "myapp"


def get(app: PreviewApp, path: str, method: str = "GET") -> tuple[str, dict[str, str], str]:
    """Call the WSGI app; return status, headers and the body as text."""
    environ: dict[str, Any] = {}
    setup_testing_defaults(environ)
    path, _, query = path.partition("?")
    environ.update(
        PATH_INFO=path, QUERY_STRING=query, REQUEST_METHOD=method, HTTP_HOST="127.0.0.1:8025"
    )
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
