"""A local HTTP server that stands in for a provider's API in end-to-end tests.

Real HTTP/1.1 over loopback, keep-alive included, so the mailers' pooled httpx clients
are exercised as in production. Each test gives a *respond* function that checks the
request the way the provider would (auth header, content type, body shape) and returns
the provider's documented answer::

    def respond(request: Received) -> Reply:
        assert request.headers["x-postmark-server-token"] == "token"
        return Reply(200, {"MessageID": "b7bc2f4a-..."})

    with ProviderServer(respond) as server:
        mailer = PostmarkMailer(server_token="token", base_url=server.url)
        ...
    server.received  # every request, in order, with its arrival time

A *respond* that raises (a failed check) answers 599 with the error text, and the error
is kept in ``server.errors`` so the test can show it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs


@attrs.frozen
class Received:
    """One request as the server read it."""

    method: str
    path: str  # with the query string
    headers: Mapping[str, str]  # lower-case names; x-peer: the client's address:port
    body: bytes
    at: float  # time.time() when the body was read

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)


@attrs.frozen
class Reply:
    """What the server answers: a status, a JSON (or raw bytes) body, headers."""

    status: int
    body: object = None
    headers: Mapping[str, str] = attrs.Factory(dict)

    def encoded(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.headers.get("Content-Type", "application/octet-stream")
        if self.body is None:
            return b"", "text/plain"
        return json.dumps(self.body).encode(), "application/json"


Respond = Callable[[Received], Reply]


class ProviderServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records requests and answers them
    with *respond*."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.received: list[Received] = []
        self.errors: list[BaseException] = []
        #: The client address of each connection, in order of first request: how many
        #: TCP connections the client opened (keep-alive tests).
        self.peers: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                peer = f"{self.client_address[0]}:{self.client_address[1]}"
                headers = {k.lower(): v for k, v in self.headers.items()}
                headers["x-peer"] = peer
                request = Received(
                    method=self.command,
                    path=self.path,
                    headers=headers,
                    body=body,
                    at=time.time(),
                )
                with server._lock:
                    server.received.append(request)
                    if peer not in server.peers:
                        server.peers.append(peer)
                try:
                    reply = server.respond(request)
                except Exception as e:  # a failed check: answer, and keep the error
                    with server._lock:
                        server.errors.append(e)
                    reply = Reply(599, {"error": f"{type(e).__name__}: {e}"})
                data, content_type = reply.encoded()
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                for name, value in reply.headers.items():
                    if name.lower() != "content-type":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL, ``http://127.0.0.1:<port>``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def check(self) -> None:
        """Raise the first failed check of *respond*, if any."""
        if self.errors:
            raise self.errors[0]
