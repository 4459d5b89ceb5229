"""The webhook benchmark's server: a threaded, keep-alive HTTP/1.1 WSGI server in its own
process, serving three apps side by side so one server's overhead is shared alike:

- ``/ceiling/<provider>``: a WSGI app that reads the body and answers 200 ``{}`` (no work);
- ``/memory/<provider>``: ``webhook_app`` with the in-memory dedupe store and suppression list;
- ``/redis/<provider>``: ``webhook_app`` with ``RedisDedupeStore`` and ``RedisSuppressionStore``.

    python -m bench.webhooks_server CONFIG_JSON PORT_FILE

CONFIG_JSON (written by bench/webhooks_bench.py) holds the test keys and the Redis
namespace. The server is http.server's ThreadingHTTPServer speaking HTTP/1.1 (wsgiref's
server closes every connection, which would make the ceiling a TCP-handshake benchmark).
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import redis
from cryptography import x509

from proper_mail.webhooks import (
    MailgunConfig,
    MemoryDedupeStore,
    MemorySuppressionStore,
    PostmarkConfig,
    RedisDedupeStore,
    RedisSuppressionStore,
    ResendConfig,
    SendGridConfig,
    SesConfig,
    WebhookConfig,
    webhook_app,
)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def ceiling_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Read the body, answer 200 with no work: what the server and client cost alone."""
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", "2")])
    return [b"{}"]


def build_apps(settings: dict[str, Any]) -> dict[str, WsgiApp]:
    """The three apps, by path prefix."""
    certificate = x509.load_pem_x509_certificate(settings["sns_certificate"].encode())
    common: dict[str, Any] = {
        "postmark": PostmarkConfig(username="bench", password=settings["postmark_password"]),
        "resend": ResendConfig(secret=settings["resend_secret"]),
        "sendgrid": SendGridConfig(public_key=settings["sendgrid_public_key"]),
        "mailgun": MailgunConfig(signing_key=settings["mailgun_key"]),
        # The certificate is already cached: the steady state of SnsCertificates.
        "ses": SesConfig(
            topic_arns=[settings["topic_arn"]],
            certificate_for=lambda url: certificate,
            confirm=None,
        ),
    }
    client = redis.Redis.from_url(settings["redis_url"])
    namespace = settings["namespace"]
    memory = WebhookConfig(
        **common, dedupe=MemoryDedupeStore(), suppressions=MemorySuppressionStore()
    )
    on_redis = WebhookConfig(
        **common,
        dedupe=RedisDedupeStore(client, namespace=f"{namespace}:seen"),
        suppressions=RedisSuppressionStore(client, namespace=f"{namespace}:suppressions"),
    )
    return {"ceiling": ceiling_app, "memory": webhook_app(memory), "redis": webhook_app(on_redis)}


def serve(apps: dict[str, WsgiApp], port_file: str) -> None:
    """Serve *apps* on 127.0.0.1 until killed; the port goes to *port_file*."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # One send per response (handle_one_request flushes), no Nagle: without these the
        # head and the body go out separately and the client's delayed ACK adds ~40 ms.
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            _, prefix, rest = self.path.split("/", 2)
            environ: dict[str, Any] = {
                "REQUEST_METHOD": "POST",
                "SCRIPT_NAME": f"/{prefix}",
                "PATH_INFO": f"/{rest}",
                "QUERY_STRING": "",
                "CONTENT_LENGTH": str(length),
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "SERVER_NAME": "127.0.0.1",
                "SERVER_PORT": str(port),
                "SERVER_PROTOCOL": "HTTP/1.1",
                "wsgi.version": (1, 0),
                "wsgi.url_scheme": "http",
                "wsgi.input": io.BytesIO(body),
                "wsgi.errors": sys.stderr,
                "wsgi.multithread": True,
                "wsgi.multiprocess": False,
                "wsgi.run_once": False,
            }
            for name, value in self.headers.items():
                key = "HTTP_" + name.upper().replace("-", "_")
                if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                    environ[key] = value
            started: list[Any] = []
            chunks = apps[prefix](
                environ, lambda status, headers: started.extend((status, headers))
            )
            data = b"".join(chunks)
            status, headers = started
            self.send_response(int(status.split()[0]))
            for name, value in headers:
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port = server.server_port
    with open(port_file, "w") as f:
        f.write(str(port))
    server.serve_forever()


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        serve(build_apps(json.load(f)), sys.argv[2])
