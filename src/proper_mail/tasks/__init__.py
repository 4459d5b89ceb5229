"""Sending later: the Dramatiq queue, tasks, payloads and the idempotency ledger.

Nothing here registers at import time: actors are declared against an explicit broker.
"""

from .delivery import GiveUp, RetryPolicy
from .ledger import Ledger, MemoryLedger, RedisLedger
from .queue import Queue, Task

__all__ = ["GiveUp", "Ledger", "MemoryLedger", "Queue", "RedisLedger", "RetryPolicy", "Task"]
