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

from proper_mail import configure

__all__ = ["settings"]


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


if "PMBENCH_SMTP_PORT" in os.environ:
    mail = configure(settings(os.environ))
    send_task = mail.queue.send_task
    broker = mail.queue.broker
