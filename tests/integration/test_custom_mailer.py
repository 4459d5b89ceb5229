"""The guide's 7.5 recipe: a ResendMailer subclassing BaseMailer, against a local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

import proper_mail
from proper_mail import BaseMailer, EmailMessage, EmailMessageDict, configure

RESEND_URL = "http://127.0.0.1:0"  # set to the local server by the fixture
received: list[tuple[dict[str, str], dict[str, Any]]] = []


# The guide's sketch, as written (but for the import path and the base URL).
class ResendMailer(BaseMailer):
    def __init__(self, *, api_key: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.api_key = api_key
        self.client = httpx.Client(
            base_url=RESEND_URL,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=5,
        )

    def send_now(self, *messages: EmailMessageDict) -> int:  # type: ignore[override]
        sent = 0
        for message in messages:
            # inherited - returns a stdlib EmailMessage
            rendered = self.render(message)

            is_html = message["content_subtype"] == "html"
            is_text = message["content_subtype"] == "plain"

            response = self.client.post(
                "/emails",
                json={
                    "from": rendered["From"],
                    "to": message["to"],
                    "subject": rendered["Subject"],
                    "html": message["body"] if is_html else None,
                    "text": message["body"] if is_text else None,
                },
            )
            if response.is_success:
                sent += 1
            elif not self.fail_silently:
                response.raise_for_status()
        return sent


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        received.append((dict(self.headers), json.loads(body)))
        status = 500 if b"fail-me" in body else 200
        payload = b'{"id": "re_123"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def resend() -> Iterator[None]:
    """A local stand-in for the Resend API on 127.0.0.1, and a Mail using it."""
    global RESEND_URL
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    RESEND_URL = f"http://127.0.0.1:{server.server_address[1]}"
    received.clear()
    previous = proper_mail.mail._current
    mail = configure(
        {
            "MAILERS": {
                "resend": {"type": ResendMailer, "api_key": "re_test_123"},
                "memory": {"type": "proper_mail.ToMemoryMailer"},
            },
            "MAILER": "resend",
            "MAILER_DEFAULT_OPTIONS": {"from": "MyApp <no-reply@example.com>"},
        }
    )
    yield
    mail.mailer.client.close()  # type: ignore[attr-defined]
    proper_mail.mail._current = previous
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.usefixtures("resend")
def test_the_guide_recipe_sends_through_http() -> None:
    """EmailMessage.send() reaches the custom mailer, which posts the guide's JSON."""
    result = EmailMessage(
        to=["Zoë <zoe@münchen.de>", "bob@example.com"],
        subject="Grüße",
        body="<p>Hi</p>",
        content_subtype="html",
    ).send()

    ((headers, payload),) = received
    assert headers["Authorization"] == "Bearer re_test_123"
    assert payload == {
        "from": "MyApp <no-reply@example.com>",
        "to": ["Zoë <zoe@münchen.de>", "bob@example.com"],
        "subject": "Grüße",
        "html": "<p>Hi</p>",
        "text": None,
    }
    assert result.mailer == "resend"
    assert result.accepted == ("zoe@xn--mnchen-3ya.de", "bob@example.com")


@pytest.mark.usefixtures("resend")
def test_via_routes_to_another_mailer_past_the_custom_one() -> None:
    """via="memory" bypasses the HTTP mailer for one message."""
    EmailMessage(to="a@example.com", body="x").send(via="memory")

    assert received == []


@pytest.mark.usefixtures("resend")
def test_a_provider_error_is_not_silent() -> None:
    """A 500 from the provider raises a DeliveryError whose cause is the recipe's
    raise_for_status() error (mapped by BaseMailer.classify, permanent by default)."""
    with pytest.raises(proper_mail.PermanentDeliveryError, match="HTTPStatusError") as caught:
        EmailMessage(to="a@example.com", body="fail-me").send()

    assert isinstance(caught.value.__cause__, httpx.HTTPStatusError)
