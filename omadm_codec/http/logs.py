"""Logging that backs off under floods: a ``logging.Filter`` that lets through at most
``burst`` records of one kind per ``period`` and then one line saying how many were
suppressed, installed on the loggers a hostile peer can make speak (``asyncio`` when accept
fails, ``uvicorn.error``, and this package's own ``omadm_codec.http``).

The one idea: a log line costs the server more than the request that caused it, so the same
line is never written more than a bounded number of times, whatever the rate of causes. A
record's kind is its logger, level and the first line of its unformatted message (a
traceback's frames and a message's arguments do not make a new kind).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

LOGGERS = ("asyncio", "uvicorn.error", "omadm_codec.http")
BURST = 10
PERIOD = 60.0


class RateLimitFilter(logging.Filter):
    """A token bucket per kind of record: ``burst`` at once, refilled over ``period``."""

    def __init__(self, burst: int = BURST, period: float = PERIOD, max_kinds: int = 1024) -> None:
        super().__init__()
        self.burst = burst
        self.period = period
        self.max_kinds = max_kinds
        # kind -> [tokens, last refill, suppressed since the last line let through]
        self._kinds: OrderedDict[tuple[str, int, str], list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        """True to let ``record`` through; the first one let through after a run of dropped
        ones says how many were dropped."""
        message = record.msg if isinstance(record.msg, str) else type(record.msg).__name__
        kind = (record.name, record.levelno, message.split("\n", 1)[0][:200])
        now = time.monotonic()
        with self._lock:
            state = self._kinds.get(kind)
            if state is None:
                state = self._kinds[kind] = [float(self.burst), now, 0.0]
                while len(self._kinds) > self.max_kinds:
                    self._kinds.popitem(last=False)
            else:
                self._kinds.move_to_end(kind)
                state[0] = min(float(self.burst),
                               state[0] + (now - state[1]) * self.burst / self.period)
                state[1] = now
            if state[0] < 1.0:
                state[2] += 1
                return False
            state[0] -= 1.0
            suppressed, state[2] = int(state[2]), 0.0
        if suppressed:
            record.msg = f"{record.getMessage()} [{suppressed} similar messages suppressed]"
            record.args = None
        return True


_installed: dict[str, RateLimitFilter] = {}
_install_lock = threading.Lock()


def install_log_limits(burst: int = BURST, period: float = PERIOD) -> None:
    """Put one ``RateLimitFilter`` on each of ``LOGGERS`` (once per process)."""
    with _install_lock:
        for name in LOGGERS:
            if name not in _installed:
                _installed[name] = RateLimitFilter(burst, period)
                logging.getLogger(name).addFilter(_installed[name])


__all__ = ["LOGGERS", "RateLimitFilter", "install_log_limits"]
