"""Webhook receiving: events per second through the WSGI app against the same server
answering 200 without work (the ceiling).

The server (bench/webhooks_server.py) runs in its own process: a threaded keep-alive
HTTP/1.1 WSGI server with three apps on one port, ``/ceiling``, ``/memory`` (the
webhook app with the in-memory dedupe store and suppression list) and ``/redis`` (with
the Redis ones). The client here posts, over one keep-alive httpx connection, requests
signed beforehand the way each provider signs (each round's just before it, so the
timestamps are fresh), one event per request: a hard bounce of a distinct address, so
every request is verified, parsed, deduped (a new id) and written to the suppression
list. Rounds are interleaved, the order rotating; the best round counts.

    .venv/bin/python -m bench.webhooks_bench [--n 2000] [--rounds 3]
        [--providers resend,sendgrid,postmark,mailgun,ses] [--no-redis]

Prints events/s and the server's CPU per event for each app, and each app's ratio to
the ceiling (target >= 0.5x). Needs the Redis at 127.0.0.1:6379 unless --no-redis.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redis
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from proper_mail.webhooks.ses import string_to_sign

PROVIDERS = ("resend", "sendgrid", "postmark", "mailgun", "ses")
TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:bench"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-bench.pem"
REDIS_URL = "redis://127.0.0.1:6379/0"

Request = tuple[str, dict[str, str], bytes]


class Signers:
    """Keys made for the run, and requests signed with them as each provider signs."""

    def __init__(self) -> None:
        self.resend_key = os.urandom(24)
        self.mailgun_key = "key-" + uuid.uuid4().hex
        self.postmark_password = uuid.uuid4().hex
        self.sendgrid = ec.generate_private_key(ec.SECP256R1())
        self.sns = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.sns.public_key())
            .serial_number(1)
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30))
            .sign(self.sns, hashes.SHA256())
        )

    def server_settings(self, namespace: str, redis_url: str) -> dict[str, Any]:
        """What the server process needs to verify these requests."""
        public = self.sendgrid.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return {
            "resend_secret": "whsec_" + base64.b64encode(self.resend_key).decode(),
            "sendgrid_public_key": base64.b64encode(public).decode(),
            "mailgun_key": self.mailgun_key,
            "postmark_password": self.postmark_password,
            "topic_arn": TOPIC_ARN,
            "sns_certificate": self.certificate.public_bytes(serialization.Encoding.PEM).decode(),
            "namespace": namespace,
            "redis_url": redis_url,
        }

    def request(self, provider: str, tag: str) -> Request:
        """One signed request carrying a hard bounce of ``<tag>@example.com``."""
        address = f"{tag}@example.com"
        now = int(time.time())
        if provider == "resend":
            body = json.dumps(
                {
                    "type": "email.bounced",
                    "created_at": "2026-03-02T09:30:00.000Z",
                    "data": {
                        "email_id": tag,
                        "to": [address],
                        "bounce": {"type": "Permanent", "message": "550 no such user"},
                    },
                }
            ).encode()
            msg_id = f"msg_{tag}"
            mac = hmac.new(self.resend_key, f"{msg_id}.{now}.".encode() + body, hashlib.sha256)
            headers = {
                "svix-id": msg_id,
                "svix-timestamp": str(now),
                "svix-signature": "v1," + base64.b64encode(mac.digest()).decode(),
            }
            return "resend", headers, body
        if provider == "sendgrid":
            event = {
                "email": address,
                "timestamp": now,
                "event": "bounce",
                "type": "bounce",
                "reason": "550 no such user",
                "sg_event_id": tag,
                "sg_message_id": f"{tag}.filter0001",
            }
            body = json.dumps([event]).encode()
            signature = self.sendgrid.sign(str(now).encode() + body, ec.ECDSA(hashes.SHA256()))
            headers = {
                "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": str(now),
            }
            return "sendgrid", headers, body
        if provider == "postmark":
            body = json.dumps(
                {
                    "RecordType": "Bounce",
                    "ID": tag,
                    "Type": "HardBounce",
                    "MessageID": tag,
                    "Email": address,
                    "BouncedAt": "2026-03-02T09:30:00Z",
                    "Details": "550 no such user",
                }
            ).encode()
            token = base64.b64encode(f"bench:{self.postmark_password}".encode()).decode()
            return "postmark", {"Authorization": f"Basic {token}"}, body
        if provider == "mailgun":
            token = f"tok-{tag}"
            digest = hmac.new(
                self.mailgun_key.encode(), f"{now}{token}".encode(), hashlib.sha256
            ).hexdigest()
            body = json.dumps(
                {
                    "signature": {"timestamp": str(now), "token": token, "signature": digest},
                    "event-data": {
                        "event": "failed",
                        "severity": "permanent",
                        "reason": "bounce",
                        "recipient": address,
                        "timestamp": now,
                        "delivery-status": {"message": "550 no such user"},
                    },
                }
            ).encode()
            return "mailgun", {"Content-Type": "application/json"}, body
        ses_event = {
            "eventType": "Bounce",
            "bounce": {
                "bounceType": "Permanent",
                "bouncedRecipients": [{"emailAddress": address, "diagnosticCode": "550"}],
                "timestamp": "2026-03-02T09:30:00.000Z",
            },
            "mail": {
                "messageId": tag,
                "destination": [address],
                "timestamp": "2026-03-02T09:29:59Z",
            },
        }
        message = {
            "Type": "Notification",
            "MessageId": tag,
            "TopicArn": TOPIC_ARN,
            "Message": json.dumps(ses_event),
            "Timestamp": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "SignatureVersion": "2",
            "SigningCertURL": CERT_URL,
        }
        signature = self.sns.sign(string_to_sign(message), padding.PKCS1v15(), hashes.SHA256())
        message["Signature"] = base64.b64encode(signature).decode()
        return "ses", {"x-amz-sns-message-type": "Notification"}, json.dumps(message).encode()


def start_server(settings: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    """The server process and its base URL."""
    folder = Path(tempfile.mkdtemp())
    (folder / "settings.json").write_text(json.dumps(settings))
    port_file = folder / "port"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.webhooks_server",
            str(folder / "settings.json"),
            str(port_file),
        ]
    )
    deadline = time.monotonic() + 30
    while not port_file.exists() or not port_file.read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            raise SystemExit("the webhook server did not start")
        time.sleep(0.02)
    return process, f"http://127.0.0.1:{port_file.read_text()}"


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process *pid* (Linux /proc), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(client: httpx.Client, url: str, requests: list[Request], pid: int) -> tuple[float, float]:
    """POST every request in order; (events/s, server CPU µs per event)."""
    cpu = cpu_seconds(pid)
    started = time.perf_counter()
    for path, headers, body in requests:
        response = client.post(f"{url}/{path}", headers=headers, content=body)
        if response.status_code != 200:
            raise SystemExit(f"{url}/{path}: HTTP {response.status_code}: {response.text[:200]}")
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu
    return len(requests) / elapsed, cpu / len(requests) * 1e6


def bench(
    provider: str,
    modes: list[str],
    signers: Signers,
    client: httpx.Client,
    url: str,
    pid: int,
    n: int,
    rounds: int,
) -> dict[str, tuple[float, float]]:
    """Best (events/s, CPU µs/event) of each mode for *provider*."""
    best: dict[str, tuple[float, float]] = {}
    for mode in modes:  # warm-up: connections, caches, the first Redis round trips
        warm = [signers.request(provider, f"warm-{uuid.uuid4().hex[:8]}-{i}") for i in range(50)]
        run(client, f"{url}/{mode}", warm, pid)
    for round_no in range(rounds):
        order = modes[round_no % len(modes) :] + modes[: round_no % len(modes)]
        for mode in order:
            run_id = uuid.uuid4().hex[:8]
            requests = [signers.request(provider, f"b{run_id}-{i}") for i in range(n)]
            rate, cpu = run(client, f"{url}/{mode}", requests, pid)
            if mode not in best or rate > best[mode][0]:
                best[mode] = (rate, cpu)
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="events per round and app")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--providers", default=",".join(PROVIDERS))
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis stores")
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args(argv)
    providers = [p for p in args.providers.split(",") if p]
    unknown = set(providers) - set(PROVIDERS)
    if unknown:
        raise SystemExit(f"unknown providers: {', '.join(sorted(unknown))}")
    modes = ["ceiling", "memory"] + ([] if args.no_redis else ["redis"])
    namespace = f"pmbench-{uuid.uuid4().hex[:12]}"
    if not args.no_redis:
        redis.Redis.from_url(args.redis_url, socket_connect_timeout=2).ping()
    signers = Signers()
    process, url = start_server(signers.server_settings(namespace, args.redis_url))
    results: dict[str, dict[str, tuple[float, float]]] = {}
    try:
        with httpx.Client(timeout=30) as client:
            for provider in providers:
                results[provider] = bench(
                    provider, modes, signers, client, url, process.pid, args.n, args.rounds
                )
    finally:
        process.terminate()
        process.wait(timeout=10)
        if not args.no_redis:
            store = redis.Redis.from_url(args.redis_url)
            keys = list(store.scan_iter(match=f"{namespace}:*", count=1000))
            for start in range(0, len(keys), 1000):
                store.delete(*keys[start : start + 1000])
            store.close()
    print(f"webhook events through the WSGI app, {args.n} per round, best of {args.rounds}")
    print(f"{'provider':<10}{'app':<9}{'events/s':>10}{'server µs/ev':>14}{'x ceiling':>11}")
    for provider, best in results.items():
        ceiling = best["ceiling"][0]
        for mode in modes:
            rate, cpu = best[mode]
            ratio = "" if mode == "ceiling" else f"{rate / ceiling:.2f}x"
            print(f"{provider:<10}{mode:<9}{rate:>10.0f}{cpu:>14.0f}{ratio:>11}")
    worst = min(
        best[m][0] / best["ceiling"][0]
        for best in results.values()
        for m in modes
        if m != "ceiling"
    )
    print(f"lowest ratio: {worst:.2f}x (target >= 0.5x)")


if __name__ == "__main__":
    main()
