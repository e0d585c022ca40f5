"""Logging for a service: one line per event on stdout, which journald files at its level."""

from __future__ import annotations

import logging
import os
import sys

# sd-daemon(3) priority prefixes: journald files each line at its level.
_JOURNAL_PRIORITY = {"DEBUG": 7, "INFO": 6, "WARNING": 4, "ERROR": 3, "CRITICAL": 2}


class _JournalFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"<{_JOURNAL_PRIORITY.get(record.levelname, 6)}>{super().format(record)}"


def configure_logging() -> None:
    """One line per event on stdout; journald adds the time, so only a terminal gets one."""
    handler = logging.StreamHandler(sys.stdout)
    if os.environ.get("JOURNAL_STREAM"):
        handler.setFormatter(_JournalFormatter("%(name)s: %(message)s"))
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
