"""Logging for a service: one line per event on stdout, which journald files at its level.

Repeated messages are rate-limited: a flood of bad requests or refused connections once
wrote about 200 MB of journal in 35 s, which on a Pi's SD card pushes out the lines that
matter and wears the card.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time

# sd-daemon(3) priority prefixes: journald files each line at its level.
_JOURNAL_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{_JOURNAL_PRIORITY.get(record.levelname, 6)}>{super().format(record)}"


class RateLimit(logging.Filter):
    """At most `burst` lines per message template (logger and unformatted message) in each
    `window_s`; the first line let through after a quiet spell says how many were dropped."""

    def __init__(self, burst: int = 10, window_s: float = 60.0, clock=time.monotonic):
        super().__init__()
        self.burst, self.window_s, self.clock = burst, window_s, clock
        self._seen: dict[tuple[str, str], list] = {}  # key -> [window start, let through, dropped]
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg))
        now = self.clock()
        with self._lock:
            if len(self._seen) > 10_000:  # templates are few; this only bounds memory
                self._seen.clear()
            state = self._seen.setdefault(key, [now, 0, 0])
            if now - state[0] >= self.window_s:
                dropped = state[2]
                state[:] = [now, 0, 0]
                if dropped:
                    record.msg = f"{record.msg} [{dropped} more like this dropped in the last {self.window_s:g} s]"
            if state[1] >= self.burst:
                state[2] += 1
                return False
            state[1] += 1
            return True


def configure_logging() -> None:
    """One line per event on stdout; journald adds the time, so only a terminal gets one."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RateLimit())
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
