"""What every request to the Pi's API passes before it reaches a route.

- Host: an IP address, localhost, or a name in api.allowed_hosts. A web page on another
  site that resolves its own name to the Pi (DNS rebinding) arrives with its own name, and
  is refused.
- A change (POST, PUT, PATCH, DELETE) from a browser must come from the page the Pi
  serves: an Origin of another site, or Sec-Fetch-Site cross-site, is refused, so a page
  on the internet cannot press Capture through a farm computer's browser.
- Bodies: at most MAX_BODY_BYTES, with a Content-Length (413 and 411 otherwise), read
  before anything else is, so a huge body costs nothing.
- Every answer carries a Content-Security-Policy that lets the page load only the Pi's
  own files, and refuses framing and content sniffing.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

MAX_BODY_BYTES = 64 * 1024  # a goat, a weight, a login: far below this
CHANGES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
        b"frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]


def host_name(host: str) -> str:
    """The name in a Host header, without its port ("[::1]:8080" -> "::1")."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class Guard:
    """ASGI middleware: the checks above, then the app."""

    def __init__(self, app, allowed_hosts: tuple[str, ...] = ()):
        self.app = app
        self.allowed_hosts = {"localhost", *(h.lower() for h in allowed_hosts)}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self.refusal(scope["method"], headers)
        if refusal:
            return await _answer(send, *refusal)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        return await self.app(scope, receive, with_headers)

    def refusal(self, method: str, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        name = host_name(host).lower()
        if not (is_ip(name) or name in self.allowed_hosts):
            return 400, f"this Pi does not answer to the name {name[:100]!r}: add it to api.allowed_hosts"
        if method in CHANGES:
            origin = headers.get("origin")
            if origin is not None and urlsplit(origin).netloc.lower() != host.lower():
                return 403, "a change from another web site is refused: use the Pi's own page"
            if headers.get("sec-fetch-site") == "cross-site":
                return 403, "a change from another web site is refused: use the Pi's own page"
            length = headers.get("content-length")
            if length is None:
                if headers.get("transfer-encoding"):
                    return 411, "send the request body with a Content-Length"
            elif not length.isdigit() or int(length) > MAX_BODY_BYTES:
                return 413, f"the request body is over {MAX_BODY_BYTES // 1024} KiB"
        return None


async def _answer(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + SECURITY_HEADERS})
    await send({"type": "http.response.body", "body": body})
