"""A second baseline of ``bench.queue_bench``: the naive SMTP actor, stdlib only.

The issue's other reference point ("a stdlib-compose SMTP actor"): a Dramatiq actor on
the same kind of RedisBroker as ``bench.queue_noop_app`` that receives the message's
fields, builds an ``email.message.EmailMessage`` (modern API, policy SMTP, as
``bench.compose_bench`` does) and sends it with ``smtplib.SMTP.send_message`` over a
connection per worker thread, kept open. No validation beyond the stdlib's, no ledger,
no retries by class, no log line: what a first version of a send task usually is.

Configured from the environment the benchmark sets (``PMBENCH_*``); ``broker`` is what
``python -m dramatiq ... bench.queue_stdlib_app:broker`` loads.
"""

from __future__ import annotations

import datetime as dt
import email.message
import email.policy
import email.utils
import os
import smtplib
import threading
from collections.abc import Mapping
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from bench.queue_noop_app import QUEUE_NAME, build_broker

__all__ = ["ACTOR_NAME", "fields_payload", "from_env"]

ACTOR_NAME = "pmbench.stdlib_send"


def fields_payload(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The actor's ``message`` argument for ``bench.compose_bench.FIELDS``."""
    return {
        "from": fields["from_email"],
        "to": fields["to"],
        "cc": fields["cc"],
        "bcc": fields["bcc"],
        "reply_to": fields["reply_to"],
        "subject": fields["subject"],
        "text": fields["alternatives"][0][0],
        "html": fields["body"],
        "headers": dict(fields["headers"]),
    }


def from_env(env: Mapping[str, str]) -> tuple[RedisBroker, dramatiq.Actor[Any, None]]:
    """A broker and the stdlib send actor declared on it, from *env*."""
    broker = build_broker(env)
    host, port = "127.0.0.1", int(env.get("PMBENCH_SMTP_PORT", "0"))
    local = threading.local()

    def connection() -> smtplib.SMTP:
        smtp: smtplib.SMTP | None = getattr(local, "smtp", None)
        if smtp is None:
            smtp = local.smtp = smtplib.SMTP(host, port, timeout=30)
        return smtp

    def send(message: dict[str, Any], via: str | None = None) -> None:
        m = email.message.EmailMessage(policy=email.policy.SMTP)
        m["Subject"] = message["subject"]
        m["From"] = message["from"]
        m["To"] = message["to"]
        m["Cc"] = message["cc"]
        m["Reply-To"] = message["reply_to"]
        m["Date"] = email.utils.format_datetime(dt.datetime.now(dt.UTC).replace(microsecond=0))
        m["Message-ID"] = email.utils.make_msgid(domain="example.com")
        for name, value in message["headers"].items():
            m[name] = value
        m.set_content(message["text"])
        m.add_alternative(message["html"], subtype="html")
        recipients = [message["to"], message["cc"], message["bcc"]]
        connection().send_message(m, to_addrs=recipients)

    actor: dramatiq.Actor[Any, None] = dramatiq.actor(
        broker=broker, queue_name=QUEUE_NAME, actor_name=ACTOR_NAME, max_retries=0
    )(send)
    return broker, actor


if "PMBENCH_SMTP_PORT" in os.environ and "PMBENCH_STDLIB" in os.environ:
    broker, send = from_env(os.environ)
