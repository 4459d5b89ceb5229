"""End to end in Debian's headless Chromium: the preview server of the example app.

Driven with Playwright pointed at /usr/bin/chromium (no browser download). Screenshots
are saved under artifacts/ as test artifacts.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import proper_mail
from proper_mail.preview import make_preview_server
from tests.preview_apps import write_files_app, write_preview_app

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "examples" / "myapp"
ARTIFACTS = ROOT / "artifacts"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]

playwright = pytest.importorskip("playwright.sync_api", reason="playwright is in the dev extra")


def chromium_or_skip() -> str:
    """Debian's chromium; skip (never in CI) when it is not installed."""
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            raise RuntimeError("chromium is missing: ./scripts/check installs it with apt-get")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def serve(app: Path, host: str = "127.0.0.1") -> Iterator[str]:
    """Run the preview server for *app* on a free port of *host*; yield its URL."""
    previous = proper_mail.mail._current
    server = make_preview_server(app, host=host, port=0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    shown = f"[{host}]" if ":" in host else host
    try:
        yield f"http://{shown}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(30)
        proper_mail.mail._current = previous


@pytest.fixture
def example_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The example app's previews, served."""
    monkeypatch.setenv("APP_ENV", "dev")
    for name in [m for m in sys.modules if m == "myapp" or m.startswith("myapp.")]:
        del sys.modules[name]
    yield from serve(EXAMPLE)


def ipv6_loopback() -> bool:
    """Whether this machine can listen on ::1."""
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.fixture
def browser() -> Iterator[object]:
    """Headless Chromium."""
    executable = chromium_or_skip()
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


def test_the_password_reset_preview_end_to_end(browser: object, example_url: str) -> None:
    """Index -> password_reset -> the text inside the iframe -> the text view -> a screenshot."""
    page = browser.new_page(viewport={"width": 1100, "height": 900})  # type: ignore[attr-defined]
    page.set_default_timeout(15_000)

    page.goto(example_url + "/")
    assert "Reset your password" in page.inner_text("table.index")
    page.click("text=password_reset")
    page.wait_for_url("**/preview/password_reset")
    frame_text = page.frame_locator("#html-part").locator("body").inner_text()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "preview-password-reset.png"), full_page=True)
    page.click("#view-text")
    text_view = page.inner_text("#text-part")

    assert "I heard that you lost your password" in frame_text
    assert "https://myapp.example.com/password-reset/" in frame_text
    assert text_view.startswith("Reset your password")
    assert (ARTIFACTS / "preview-password-reset.png").stat().st_size > 10_000


def test_scripts_in_an_email_never_run(
    browser: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """<script> and <img onerror> in a template do not execute in the preview."""
    monkeypatch.setenv("APP_ENV", "dev")
    app = write_preview_app(tmp_path, "return WelcomeEmail(to='a@example.com', subject='<b>x</b>')")
    (app / "views" / "emails" / "welcome.jx").write_text(
        "{#def subject #}\n<p id='marker'>Hello</p>\n"
        "<script>window.parent.document.title = 'pwned'; alert('script');</script>\n"
        "<img src=\"x\" onerror=\"window.parent.document.title = 'pwned'; alert('onerror')\">\n"
    )
    dialogs: list[str] = []
    page = browser.new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(15_000)

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)

    for url in serve(app):
        page.goto(url + "/preview/welcome")
        frame = page.frame_locator("#html-part")
        assert frame.locator("#marker").inner_text() == "Hello"
        page.wait_for_timeout(500)
        title = page.title()
        page.goto(url + "/preview/welcome/html")  # the HTML route alone: CSP sandbox
        page.wait_for_timeout(500)

    assert dialogs == []
    assert title == "<b>x</b>"  # the page's own title: the subject, shown as text


def test_inline_images_show_inside_the_sandboxed_html(
    browser: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A cid: image loads in the iframe: the HTML part's CSP lets in the server's own images."""
    monkeypatch.setenv("APP_ENV", "dev")
    app = write_files_app(tmp_path)
    page = browser.new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(15_000)

    for url in serve(app):
        page.goto(url + "/preview/welcome")
        frame = page.frame_locator("#html-part")
        frame.locator("#marker").wait_for()
        frame.locator("#logo").evaluate(
            "image => image.complete || new Promise(done => image.addEventListener('load', done))"
        )
        width = frame.locator("#logo").evaluate("image => image.naturalWidth")

    assert width == 1


@pytest.mark.skipif(not ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_the_preview_works_over_ipv6(browser: object, monkeypatch: pytest.MonkeyPatch) -> None:
    """--host ::1: the page, its Host check and the framed HTML all work at http://[::1]:port."""
    monkeypatch.setenv("APP_ENV", "dev")
    for name in [m for m in sys.modules if m == "myapp" or m.startswith("myapp.")]:
        del sys.modules[name]
    page = browser.new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(15_000)

    for url in serve(EXAMPLE, host="::1"):
        page.goto(url + "/preview/password_reset")
        frame_text = page.frame_locator("#html-part").locator("body").inner_text()

    assert "I heard that you lost your password" in frame_text
