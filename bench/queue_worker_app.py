"""The app the ``proper-mail worker`` of ``bench.queue_bench`` loads.

Configured from the environment the benchmark sets (``PMBENCH_*``): the Redis URL, the
run's own key namespace, the SMTP sink's port, the worker threads (the SMTP mailer gets
as many connections) and the broker's heartbeat and maintenance settings. The benchmark
process builds its own ``Mail`` from the same ``settings()``. ``broker`` is what
``dramatiq`` loads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from bench.compose_bench import FIELDS
from proper_mail import Mail, SMTPMailer, configure, envelope_of
from proper_mail.adapters.smtp import _Deadline, payload_of
from proper_mail.tasks.serialization import EmailMessageDict, load_message

__all__ = ["FLOORS", "install_floor", "settings"]


def settings(env: Mapping[str, str]) -> dict[str, object]:
    """The configuration the benchmark process and the worker share, from *env*."""
    return {
        "MAILERS": {
            "smtp": {
                "type": "proper_mail.SMTPMailer",
                "host": "127.0.0.1",
                "port": int(env["PMBENCH_SMTP_PORT"]),
                "timeout": 30,
                "max_connections": int(env["PMBENCH_THREADS"]),
            },
        },
        "MAILER": "smtp",
        "QUEUE": env["PMBENCH_REDIS_URL"],
        "QUEUE_NAMESPACE": env["PMBENCH_NAMESPACE"],
        "QUEUE_HEARTBEAT_TIMEOUT": int(env["PMBENCH_HEARTBEAT_TIMEOUT"]),
        "QUEUE_MAINTENANCE_CHANCE": int(env["PMBENCH_MAINTENANCE_CHANCE"]),
    }


FLOORS = ("smtp", "render", "ledger")
"""Diagnostic cut-down send steps (``PMBENCH_FLOOR``), to show where the worker's time
goes; never what the library runs:

- ``smtp``: only the SMTP transaction (MAIL, RCPT x3, DATA) of bytes rendered once at
  start-up: no payload loading, no rendering, no ledger, no log line;
- ``render``: ``load_message`` + ``mailer.deliver`` (to_bytes + SMTP); no ledger, no log;
- ``ledger``: ``render`` + the ledger's claim before and settle after; no log line.
"""


def install_floor(mail: Mail, floor: str) -> None:
    """Replace ``mail.queue.deliver`` by the cut-down step *floor* (one of FLOORS)."""
    queue, mailer = mail.queue, mail.mailer
    if floor == "smtp":
        assert isinstance(mailer, SMTPMailer)
        smtp = mailer
        record = mail.compose(**FIELDS)
        envelope, data = envelope_of(record), payload_of(record, smtp.policy)

        def deliver(message: EmailMessageDict, *, via: str | None = None) -> None:
            deadline = _Deadline(smtp.send_timeout)
            conn = smtp._pool.acquire(deadline)
            try:
                smtp._send(conn, envelope, data, deadline)
            finally:
                smtp._pool.release(conn)

    elif floor in ("render", "ledger"):

        def deliver(message: EmailMessageDict, *, via: str | None = None) -> None:
            record = load_message(message)
            recipients = envelope_of(record).recipients
            if floor == "ledger":
                queue.ledger.claim(record.message_id, recipients, "bench", 600)
            result = mailer.deliver(record)
            if floor == "ledger":
                queue.ledger.settle(record.message_id, result.accepted, recipients, "bench")

    else:
        raise ValueError(f"PMBENCH_FLOOR must be one of {FLOORS}, not {floor!r}")
    queue.deliver = deliver  # type: ignore[method-assign]


if "PMBENCH_SMTP_PORT" in os.environ:
    mail = configure(settings(os.environ))
    if os.environ.get("PMBENCH_FLOOR"):
        install_floor(mail, os.environ["PMBENCH_FLOOR"])
    broker = mail.queue.broker
