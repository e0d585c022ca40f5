"""sd_notify(3) without libsystemd: tell systemd we are ready, alive, stopping, and what we are doing.

Every function is a harmless no-op returning False outside systemd (no $NOTIFY_SOCKET), so the
daemon calls them unconditionally. The units use Type=notify, NotifyAccess=main and WatchdogSec=.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def _socket_address(value: str) -> str | None:
    if value.startswith("@"):
        return "\0" + value[1:]  # Linux abstract namespace
    if value.startswith("/"):
        return value
    return None  # vsock:... and other forms systemd may add; we only run on a local socket


def notify(message: str) -> bool:
    """Send one datagram ("READY=1", "STATUS=...", newline-separated assignments) to $NOTIFY_SOCKET.

    False when not run by systemd, or when sending failed (logged: systemd will then time us out
    or restart us, and the log should say why).
    """
    value = os.environ.get("NOTIFY_SOCKET")
    if not value:
        return False
    address = _socket_address(value)
    if address is None:
        log.warning("NOTIFY_SOCKET=%r is not a Unix socket path; systemd is not notified", value)
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(message.encode("utf-8"))
    except OSError as exc:
        log.warning("could not notify systemd (%s) of %r: %s", value, message.split("\n", 1)[0], exc)
        return False
    return True


def ready() -> bool:
    return notify("READY=1")


def stopping() -> bool:
    return notify("STOPPING=1")


def watchdog_ping() -> bool:
    return notify("WATCHDOG=1")


def watchdog_interval_s() -> float | None:
    """WatchdogSec= of our unit in seconds, or None when no watchdog watches this process.

    Ping at half this interval: systemd kills and restarts us if a whole interval passes
    without a ping. $WATCHDOG_PID, when set, names the process meant; a child that inherited
    the environment must not think the watchdog is its own.
    """
    pid = os.environ.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            return None
    try:
        usec = int(os.environ.get("WATCHDOG_USEC", ""))
    except ValueError:
        return None
    return usec / 1_000_000 if usec > 0 else None
