"""Sending later: the Dramatiq queue, tasks, payloads and the idempotency ledger.

Nothing here registers at import time: actors are declared against an explicit broker.
"""

from .ledger import Ledger, MemoryLedger, RedisLedger
from .queue import GiveUp, Queue, RetryPolicy, Task

__all__ = ["GiveUp", "Ledger", "MemoryLedger", "Queue", "RedisLedger", "RetryPolicy", "Task"]
