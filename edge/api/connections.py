"""Limits on the API's connections, below the HTTP layer where a middleware cannot reach.

uvicorn waits forever for a request that never finishes arriving, and accepts every
connection: a few hundred idle sockets from one machine on the farm Wi-Fi used up the
daemon's file descriptors and stopped the API. GuardedH11Protocol closes a connection
that has not sent a whole request (headers and body) within request_timeout_s, and
closes at once a connection beyond max_connections_per_client from one address. When
max_connections are open, a new one closes the one that has waited longest without
sending a request, so that a tablet still gets in during a flood of idle connections;
only when every connection is busy with a request is the new one refused. A response
being written (a capture, a tablet's event stream) is never cut: the deadline only runs
while the server waits for the client.
"""

from __future__ import annotations

import logging
import resource
import time
from collections import Counter

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from edge.config import ApiConfig
from edge.errors import GoatEdgeError

log = logging.getLogger("goat-edge.api")

# Files the daemon needs besides API connections: cameras, models, the database and its
# WAL, log and notify sockets, with room to spare.
RESERVED_FILES = 128


def check_file_limit(settings: ApiConfig) -> None:
    """Refuse to start when max_connections could use up the files this process may open."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and settings.max_connections + RESERVED_FILES > soft:
        raise GoatEdgeError(
            f"api.max_connections {settings.max_connections} leaves too few of the {soft} files this "
            f"process may open (LimitNOFILE) for the cameras and the database: set it to at most "
            f"{max(8, soft - RESERVED_FILES)}, or raise LimitNOFILE"
        )


def _waiting_for_request(connection) -> bool:
    """An HTTP connection (uvicorn's server state also lists websockets) that has sent no
    request yet, or none since its last answer."""
    conn, transport = getattr(connection, "conn", None), getattr(connection, "transport", None)
    cycle = getattr(connection, "cycle", None)
    return (
        isinstance(conn, h11.Connection)
        and conn.their_state is h11.IDLE
        and (cycle is None or cycle.response_complete)
        and transport is not None
        and not transport.is_closing()
    )


def guarded_protocol(settings: ApiConfig) -> type[H11Protocol]:
    """The protocol class for uvicorn.Config(http=...), with this config's limits."""
    per_client: Counter[str] = Counter()  # open connections by client address, this server's

    class GuardedH11Protocol(H11Protocol):
        _deadline = None
        _address: str | None = None
        _opened_s = 0.0

        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            peer = transport.get_extra_info("peername")
            self._address = peer[0] if peer else None
            per_client[self._address or ""] += 1
            self._opened_s = time.monotonic()
            if per_client[self._address or ""] > settings.max_connections_per_client:
                self._refuse(f"{settings.max_connections_per_client} connections open from {self._address}")
            elif len(self.connections) > settings.max_connections and not self._make_room():
                self._refuse(f"{len(self.connections) - 1} connections open, all busy (api.max_connections)")
            else:
                self._watch()

        def _make_room(self) -> bool:
            """Close the connection that has waited longest without sending a whole request: a
            tablet's request arrives within milliseconds of connecting, so a flood of idle
            connections pushes out its own oldest, not the tablets'."""
            waiting = [c for c in self.connections if c is not self and _waiting_for_request(c)]
            if not waiting:
                return False
            oldest = min(waiting, key=lambda c: getattr(c, "_opened_s", 0.0))
            address = getattr(oldest, "_address", "?")
            log.warning("connection from %s closed to make room (api.max_connections)", address)
            oldest.transport.abort()
            return True

        def connection_lost(self, exc) -> None:
            self._stop_watching()
            per_client[self._address or ""] -= 1
            if per_client[self._address or ""] <= 0:
                del per_client[self._address or ""]
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            self._watch()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._watch()

        def _refuse(self, why: str) -> None:
            log.warning("connection from %s closed: %s", self._address, why)
            self.transport.abort()

        def _watch(self) -> None:
            """Run the deadline while the whole request is not in yet; stop it once it is."""
            if self.transport.is_closing():
                return
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY):
                if self._deadline is None:
                    self._deadline = self.loop.call_later(settings.request_timeout_s, self._too_slow)
            else:
                self._stop_watching()

        def _stop_watching(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _too_slow(self) -> None:
            self._deadline = None
            if self.conn.their_state in (h11.IDLE, h11.SEND_BODY) and not self.transport.is_closing():
                log.warning(
                    "connection from %s closed: no whole request within %g s", self._address, settings.request_timeout_s
                )
                self.transport.close()

    return GuardedH11Protocol
