"""HTTP provider mailers against a bare httpx loop posting the same payloads.

For each provider mailer: ``--n`` composed messages (distinct Message-IDs) are built
into requests and sent by ``mailer.deliver(record)`` (build_request, signing for SES,
one POST, parse_response, the SendResult) to a local sink in another process
(bench/http_sink.py). The ceiling is a bare loop over the same client that posts the
requests the mailer would build, prepared beforehand, and reads the answer
(``client.post(url, headers=..., content=body)``, status check, ``.json()``): the cost of
HTTP alone (for SES, signing each request with botocore too: SES takes no unsigned
request, so any client pays for SigV4). Both share one pooled ``httpx.Client``
(keep-alive), run in the same process, rounds interleaved with the order alternating;
the best round of each counts.

    .venv/bin/python -m bench.providers_bench [--n 3000] [--rounds 3] [--only postmark,ses]

Prints msg/s and client CPU µs per message for both, and the ratio (target >= 0.85x).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from proper_mail import BaseMailer, HttpMailer, HttpRequest, compose
from proper_mail.core.records import Message, Stamp

#: provider -> (mailer class path, constructor options besides base_url and client)
PROVIDERS: dict[str, tuple[str, dict[str, Any]]] = {
    "postmark": ("proper_mail.PostmarkMailer", {"server_token": "bench-server-token"}),
    "resend": ("proper_mail.ResendMailer", {"api_key": "re_bench_key"}),
    "sendgrid": ("proper_mail.SendGridMailer", {"api_key": "SG.bench-key"}),
    "mailgun": (
        "proper_mail.MailgunMailer",
        {"api_key": "bench-key", "domain": "mg.example.com"},
    ),
    "ses": (
        "proper_mail.SESMailer",
        {
            "region": "us-east-1",
            "access_key_id": "AKIDEXAMPLEBENCH",
            "secret_access_key": "bench-secret-access-key",
        },
    ),
}

HTML = (
    "<html><body><table role='presentation' width='100%'><tr><td>"
    "<h1 style='font-family:sans-serif'>Reset your password</h1>"
    "<p>Hi Zoë, someone asked to reset the password of your account.</p>"
    "<p><a href='https://app.example.com/reset?token=abcdef0123456789' "
    "style='background:#2563eb;color:#fff;padding:12px 20px'>Choose a new password</a></p>"
    "<p>If it was not you, ignore this email.</p>" + "<p>Footer text. </p>" * 20 + "</td></tr>"
    "</table></body></html>"
)
TEXT = (
    "Hi Zoë, someone asked to reset the password of your account.\n\n"
    "Choose a new password: https://app.example.com/reset?token=abcdef0123456789\n\n"
    "If it was not you, ignore this email.\n" + "Footer text.\n" * 20
)


def messages(n: int) -> list[Message]:
    """*n* password-reset messages with distinct Message-IDs (composed up front)."""
    date = dt.datetime(2026, 12, 2, 9, 0, tzinfo=dt.UTC)
    return [
        compose(
            stamp=Stamp(date=date, token=f"bench{i}"),
            from_email="Example App <noreply@example.com>",
            to=f"Zoë Müller <zoe{i}@example.org>",
            reply_to="support@example.com",
            subject="Reset your password",
            body=HTML,
            content_subtype="html",
            alternatives=[(TEXT, "text/plain")],
            headers={"X-Campaign": "reset"},
            tags="password-reset",
            metadata={"user_id": str(i)},
        )
        for i in range(n)
    ]


def start_sink() -> tuple[subprocess.Popen[bytes], str]:
    """The sink process and its base URL."""
    folder = tempfile.mkdtemp()
    port_file = Path(folder) / "port"
    process = subprocess.Popen([sys.executable, "-m", "bench.http_sink", str(port_file)])
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("the sink did not start")
        time.sleep(0.02)
    return process, f"http://127.0.0.1:{port_file.read_text()}"


def build_mailer(provider: str, base_url: str, client: httpx.Client) -> HttpMailer | None:
    """The provider's mailer pointed at the sink, or None if this build lacks it."""
    path, options = PROVIDERS[provider]
    module, _, name = path.rpartition(".")
    cls = getattr(importlib.import_module(module), name, None)
    if cls is None:
        return None
    mailer = cls(base_url=base_url, client=client, **options)
    assert isinstance(mailer, HttpMailer)
    return mailer


def bare_signer(mailer: HttpMailer) -> Callable[[HttpRequest], HttpRequest]:
    """SigV4 with botocore alone, as any hand-written SES client must sign: the same
    credentials, a new signature (and X-Amz-Date) per request."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    credentials = mailer._credentials.get_frozen_credentials()  # type: ignore[attr-defined]
    region = mailer.options.region  # type: ignore[attr-defined]

    def sign(request: HttpRequest) -> HttpRequest:
        aws = AWSRequest(
            method=request.method, url=request.url, data=request.body, headers=dict(request.headers)
        )
        SigV4Auth(credentials, "ses", region).add_auth(aws)
        return HttpRequest(request.method, request.url, tuple(aws.headers.items()), request.body)

    return sign


def run_mailer(mailer: BaseMailer, records: list[Message]) -> tuple[float, float]:
    """(seconds, CPU seconds) to deliver every record."""
    wall, cpu = time.perf_counter(), time.process_time()
    for record in records:
        result = mailer.deliver(record)
        assert result.sent
    return time.perf_counter() - wall, time.process_time() - cpu


def run_bare(
    client: httpx.Client,
    requests: list[HttpRequest],
    sign: Callable[[HttpRequest], HttpRequest] | None = None,
) -> tuple[float, float]:
    """(seconds, CPU seconds) to post the same requests with httpx alone (signing each
    with *sign* first, for SES: an unsigned request cannot be posted there)."""
    wall, cpu = time.perf_counter(), time.process_time()
    for request in requests:
        if sign is not None:
            request = sign(request)
        response = client.request(
            request.method, request.url, headers=list(request.headers), content=request.body
        )
        if response.status_code >= 300:
            raise SystemExit(f"bare loop: HTTP {response.status_code}")
        if response.content:
            response.json()
    return time.perf_counter() - wall, time.process_time() - cpu


def bench(provider: str, base_url: str, n: int, rounds: int) -> dict[str, Any] | None:
    """One provider's best rounds."""
    client = httpx.Client(
        timeout=30, limits=httpx.Limits(max_connections=4, max_keepalive_connections=4)
    )
    try:
        mailer = build_mailer(provider, base_url, client)
        if mailer is None:
            return None
        records = messages(n)
        requests = [mailer.build_request(r) for r in records]
        sign = bare_signer(mailer) if provider == "ses" else None
        runs: dict[str, list[tuple[float, float]]] = {"mailer": [], "bare": []}
        sides: dict[str, Callable[[], tuple[float, float]]] = {
            "mailer": lambda: run_mailer(mailer, records),
            "bare": lambda: run_bare(client, requests, sign),
        }
        run_mailer(mailer, records[:200])  # warm-up: connections, caches
        run_bare(client, requests[:200], sign)
        for i in range(rounds):
            order = ["mailer", "bare"] if i % 2 == 0 else ["bare", "mailer"]
            for side in order:
                runs[side].append(sides[side]())
        best = {side: min(runs[side]) for side in runs}
        return {
            "provider": provider,
            "mailer_rate": n / best["mailer"][0],
            "bare_rate": n / best["bare"][0],
            "mailer_cpu_us": 1e6 * min(c for _, c in runs["mailer"]) / n,
            "bare_cpu_us": 1e6 * min(c for _, c in runs["bare"]) / n,
            "rounds": {side: [round(n / w) for w, _ in runs[side]] for side in runs},
        }
    finally:
        client.close()


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default=",".join(PROVIDERS))
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
    sink, base_url = start_sink()
    try:
        print(f"{args.n} messages per round, {args.rounds} rounds, best round counts")
        print(
            f"{'provider':10} {'mailer msg/s':>12} {'bare msg/s':>11} {'ratio':>6}"
            f" {'mailer CPU us':>14} {'bare CPU us':>12}  rounds (mailer | bare)"
        )
        for provider in args.only.split(","):
            row = bench(provider, base_url, args.n, args.rounds)
            if row is None:
                print(f"{provider:10} (not in this build)")
                continue
            ratio = row["mailer_rate"] / row["bare_rate"]
            print(
                f"{provider:10} {row['mailer_rate']:12.0f} {row['bare_rate']:11.0f}"
                f" {ratio:5.2f}x {row['mailer_cpu_us']:14.0f} {row['bare_cpu_us']:12.0f}"
                f"  {row['rounds']['mailer']} | {row['rounds']['bare']}"
                f"  {'PASS' if ratio >= 0.85 else 'FAIL'} (>= 0.85x)"
            )
    finally:
        sink.terminate()
        sink.wait(timeout=10)


if __name__ == "__main__":
    main()
