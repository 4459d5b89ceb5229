"""The baseline of ``bench.queue_bench``: a no-op Dramatiq actor on an explicit RedisBroker.

The broker is built the way proper_mail builds its own for a ``redis://`` QUEUE (30 s
socket timeout, 10 s connect timeout, the same heartbeat and maintenance settings, the
CurrentMessage middleware), and the actor takes the same keyword arguments as
proper_mail's send task (``message``, ``via``) on the same queue name. Its only work is
one Redis ``INCR`` of a counter, which is how the benchmark counts completions.

Configured from the environment the benchmark sets (``PMBENCH_*``); ``broker`` is what
``python -m dramatiq ... bench.queue_noop_app:broker`` loads.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.middleware import CurrentMessage

__all__ = ["ACTOR_NAME", "QUEUE_NAME", "build_broker", "counter_key", "from_env"]

ACTOR_NAME = "pmbench.noop"
QUEUE_NAME = "emails"


def counter_key(namespace: str) -> str:
    """The Redis key the actor increments once per message."""
    return f"{namespace}:pmbench:done"


def build_broker(env: Mapping[str, str]) -> RedisBroker:
    """A RedisBroker built as proper_mail builds its own, from *env*."""
    broker = RedisBroker(  # type: ignore[no-untyped-call]
        url=env["PMBENCH_REDIS_URL"],
        namespace=env["PMBENCH_NAMESPACE"],
        heartbeat_timeout=int(env["PMBENCH_HEARTBEAT_TIMEOUT"]),
        maintenance_chance=int(env["PMBENCH_MAINTENANCE_CHANCE"]),
        socket_timeout=30,
        socket_connect_timeout=10,
    )
    broker.add_middleware(CurrentMessage())
    return broker


def from_env(env: Mapping[str, str]) -> tuple[RedisBroker, dramatiq.Actor[Any, None]]:
    """A broker and the no-op actor declared on it, from *env*."""
    namespace = env["PMBENCH_NAMESPACE"]
    broker = build_broker(env)
    client = broker.client
    key = counter_key(namespace)

    def noop(message: dict[str, Any], via: str | None = None) -> None:
        client.incr(key)

    actor: dramatiq.Actor[Any, None] = dramatiq.actor(
        broker=broker, queue_name=QUEUE_NAME, actor_name=ACTOR_NAME, max_retries=0
    )(noop)
    return broker, actor


if "PMBENCH_NAMESPACE" in os.environ and "PMBENCH_STDLIB" not in os.environ:
    broker, noop = from_env(os.environ)
