"""The webhook receiver as a WSGI app and as an ASGI app: one path per configured
provider (``POST /postmark``, ``/resend``, ``/sendgrid``, ``/mailgun``, ``/ses``; a
trailing slash is fine), mounted wherever your framework or server puts it::

    app = webhook_app(config, on_event=handle)            # WSGI
    app = asgi_webhook_app(config, on_event=handle)       # ASGI

Both read at most ``config.max_body`` bytes (413 beyond, before reading it), answer
405 to other methods and 404 to other paths, and hand the raw body to ``receive``.
The ASGI app runs ``receive`` (verification, the stores, *on_event*) in a worker
thread, so a blocking handler never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

from .receiver import OnEvent, Reply, WebhookConfig, receive, reply

__all__ = ["asgi_webhook_app", "webhook_app"]

Clock = Callable[[], dt.datetime]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Content Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _route(config: WebhookConfig, method: str, path: str) -> str | Reply:
    """The provider named by *path*, or the Reply refusing the request."""
    provider = path.strip("/")
    if config.provider_config(provider) is None:
        return reply(404, {"error": "no webhook at this path"})
    if method != "POST":
        return reply(405, {"error": "webhooks are POSTed"}, ("Allow", "POST"))
    return provider


def _too_large(config: WebhookConfig) -> Reply:
    return reply(413, {"error": f"the body is over {config.max_body} bytes"})


def webhook_app(
    config: WebhookConfig, on_event: OnEvent | None = None, *, clock: Clock = _utc_now
) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """A WSGI app receiving *config*'s providers' webhooks; *on_event* is called with
    each new DeliveryEvent (after the suppression list, when configured)."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        answer = _route(config, environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        if isinstance(answer, str):
            body = _read_wsgi_body(environ, config.max_body)
            if isinstance(body, Reply):
                answer = body
            else:
                headers = {
                    key[5:].replace("_", "-").lower(): value
                    for key, value in environ.items()
                    if key.startswith("HTTP_")
                }
                if "CONTENT_TYPE" in environ:
                    headers["content-type"] = environ["CONTENT_TYPE"]
                answer = receive(
                    answer, headers, body, config=config, on_event=on_event, now=clock()
                )
        start_response(
            f"{answer.status} {_REASONS.get(answer.status, '')}",
            [*answer.headers, ("Content-Length", str(len(answer.body)))],
        )
        return [answer.body]

    return app


def _read_wsgi_body(environ: dict[str, Any], limit: int) -> bytes | Reply:
    stream = environ["wsgi.input"]
    length_text = (environ.get("CONTENT_LENGTH") or "").strip()
    if length_text:
        if not length_text.isascii() or not length_text.isdigit():
            return reply(400, {"error": "a malformed Content-Length"})
        length = int(length_text)
        if length > limit:
            return reply(413, {"error": f"the body is over {limit} bytes"})
        body: bytes = stream.read(length) if length else b""
        if len(body) != length:
            return reply(400, {"error": "the body is shorter than its Content-Length"})
        return body
    if environ.get("wsgi.input_terminated"):  # the server de-chunked it
        body = stream.read(limit + 1)
        return (
            reply(413, {"error": f"the body is over {limit} bytes"}) if len(body) > limit else body
        )
    return reply(411, {"error": "a Content-Length is required"})


def asgi_webhook_app(
    config: WebhookConfig, on_event: OnEvent | None = None, *, clock: Clock = _utc_now
) -> Callable[[dict[str, Any], Callable[..., Any], Callable[..., Any]], Any]:
    """An ASGI app receiving *config*'s providers' webhooks; *on_event* is called (in
    a worker thread) with each new DeliveryEvent."""

    async def app(
        scope: dict[str, Any], receive_message: Callable[..., Any], send: Callable[..., Any]
    ) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive_message()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path = scope.get("path", "")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        answer = _route(config, scope.get("method", ""), path)
        if isinstance(answer, str):
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            body = await _read_asgi_body(receive_message, headers, config)
            if isinstance(body, Reply):
                answer = body
            else:
                provider = answer
                answer = await asyncio.to_thread(
                    receive, provider, headers, body, config=config, on_event=on_event, now=clock()
                )
        await send(
            {
                "type": "http.response.start",
                "status": answer.status,
                "headers": [
                    *((k.lower().encode(), v.encode()) for k, v in answer.headers),
                    (b"content-length", str(len(answer.body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": answer.body})

    return app


async def _read_asgi_body(
    receive_message: Callable[..., Any], headers: dict[str, str], config: WebhookConfig
) -> bytes | Reply:
    declared = headers.get("content-length", "").strip()
    if declared:
        if not declared.isascii() or not declared.isdigit():
            return reply(400, {"error": "a malformed Content-Length"})
        if int(declared) > config.max_body:
            return _too_large(config)
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive_message()
        if message["type"] == "http.disconnect":
            return reply(400, {"error": "the client went away"})
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > config.max_body:
            return _too_large(config)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
