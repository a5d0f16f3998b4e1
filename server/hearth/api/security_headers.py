"""Headers that tell a browser what the web client may do: on every HTTP response.

The web client loads its scripts and styles from /web (no inline ones), shows avatars
from the API, plays voice previews from `blob:` URLs and talks over the voice
WebSocket; nothing else is allowed, nothing is sniffed, and no page may frame it
(clickjacking).
"""

from __future__ import annotations

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
          "media-src 'self' blob:; connect-src 'self'{sockets}; object-src 'none'; "
          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
_PLAIN_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")


def content_security_policy(host: str) -> str:
    """The policy for a page served as `host`. CSP 3 lets 'self' cover the page's own
    ws:/wss: URLs, but older Safari does not: they are named when the host is plain."""
    sockets = f" ws://{host} wss://{host}" if _PLAIN_HOST.fullmatch(host) else ""
    return POLICY.format(sockets=sockets)


class SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", content_security_policy(host))
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
            await send(message)

        await self.app(scope, receive, send_with_headers)
