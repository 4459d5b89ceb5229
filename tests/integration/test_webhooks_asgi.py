"""The ASGI webhook app, driven through the ASGI protocol itself (scope, receive, send) on
a real event loop: the same answers as the WSGI app, the body read in chunks and capped,
the handler run off the loop."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from proper_mail.webhooks import DeliveryEvent, ResendConfig, WebhookConfig, asgi_webhook_app
from tests.unit.webhooks.test_resend import BOUNCED_BODY
from tests.webhook_signing import NOW, RESEND_SECRET, svix_headers

CONFIG = WebhookConfig(resend=ResendConfig(secret=RESEND_SECRET), max_body=4096)


def call(
    app: Any,
    *,
    method: str = "POST",
    path: str = "/resend",
    headers: dict[str, str] | None = None,
    chunks: tuple[bytes, ...] = (BOUNCED_BODY,),
    root_path: str = "",
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request through the ASGI app; (status, headers, body)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "path": root_path + path,
        "root_path": root_path,
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
    }
    incoming = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start, body = sent
    return (
        start["status"],
        {k.decode(): v.decode() for k, v in start["headers"]},
        body["body"],
    )


def test_a_signed_event_is_accepted() -> None:
    """200, the event handed to on_event, in a thread other than the loop's."""
    events: list[tuple[DeliveryEvent, str]] = []
    app = asgi_webhook_app(
        CONFIG,
        on_event=lambda e: events.append((e, threading.current_thread().name)),
        clock=lambda: NOW,
    )

    status, headers, body = call(app, headers=svix_headers(BOUNCED_BODY))

    assert (status, json.loads(body)) == (200, {"events": 1, "duplicates": 0})
    assert headers["content-type"] == "application/json"
    assert events[0][0].kind == "bounced"
    assert events[0][1] != threading.main_thread().name


def test_a_chunked_body_is_joined() -> None:
    """The body arrives in several http.request messages."""
    app = asgi_webhook_app(CONFIG, clock=lambda: NOW)
    half = len(BOUNCED_BODY) // 2

    status, _, _ = call(
        app, headers=svix_headers(BOUNCED_BODY), chunks=(BOUNCED_BODY[:half], BOUNCED_BODY[half:])
    )

    assert status == 200


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"headers": {}}, 403),
        ({"method": "PUT"}, 405),
        ({"path": "/sendgrid"}, 404),
        ({"chunks": (b"x" * 3000, b"y" * 3000)}, 413),
        ({"headers": {"content-length": "999999"}}, 413),
        ({"headers": {"content-length": "12x"}}, 400),
    ],
    ids=[
        "unsigned",
        "method",
        "unconfigured",
        "too-large-streamed",
        "too-large-declared",
        "bad-length",
    ],
)
def test_refusals(kwargs: dict[str, Any], status: int) -> None:
    """The same 4xx answers as the WSGI app."""
    app = asgi_webhook_app(CONFIG, clock=lambda: NOW)

    assert call(app, **kwargs)[0] == status


def test_a_root_path_is_stripped() -> None:
    """Mounted under /hooks, /hooks/resend routes to resend."""
    app = asgi_webhook_app(CONFIG, clock=lambda: NOW)

    status, _, _ = call(app, root_path="/hooks", headers=svix_headers(BOUNCED_BODY))

    assert status == 200


def test_lifespan_is_answered() -> None:
    """Servers that send lifespan events get their completions."""
    app = asgi_webhook_app(CONFIG)
    incoming = [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app({"type": "lifespan"}, receive, send))

    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
