"""Which browsers may use the API: the `Host` and `Origin` checks.

A web page the user visits can send requests to Hearth on loopback or the LAN. It
cannot read the answers (CORS), but it can change things (a form POST, a WebSocket)
and, through DNS rebinding (its own name pointed at Hearth's address), read them too.
So every request must name this server by a known name (`Host`), and every
state-changing request and WebSocket upgrade from a browser must come from this
server's own pages or an origin in `server.cors_origins` (`Origin`). Clients that
send no `Origin` (curl, SDKs, the `openai` package, Home Assistant) are no browser
and pass.

Known names: the loopback names, the address Hearth listens on, `server.allowed_hosts`,
and, when it listens on the LAN, this machine's own name (`pi`, `pi.local`) and any of
its addresses that a request arrived on (`http://192.168.1.5:8000`). A DNS-rebinding
page has a name of the attacker's, which is none of these.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from hearth.config import ServerSettings

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
WILDCARDS = frozenset({"0.0.0.0", "::", ""})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def known_names(server: ServerSettings) -> frozenset[str]:
    """The host names this server answers to (addresses a request arrived on aside)."""
    names = set(LOOPBACK_NAMES) | {_name(h) for h in server.allowed_hosts}
    bind = _name(server.host)
    if bind not in WILDCARDS:
        names.add(bind)
    if bind not in LOOPBACK_NAMES and not _is_loopback(bind):  # on the LAN: its own name too
        machine = _name(socket.gethostname())
        short = machine.split(".")[0]
        names |= {machine, short, f"{short}.local"}
    return frozenset(names)


class HostAndOriginCheck:
    """400 for a request to an unknown host name; 403 for a browser's state-changing
    request or WebSocket from another origin."""

    def __init__(self, app: ASGIApp, server: ServerSettings) -> None:
        self.app = app
        self.names = known_names(server)
        self.origins = {o.rstrip("/").lower() for o in server.cors_origins}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        origin = headers.get(b"origin", b"").decode("latin-1")
        problem = self._host_problem(host, scope)
        if problem is not None:
            await _refuse(scope, send, 400, "unknown_host", problem)
            return
        changes = scope["type"] == "websocket" or scope["method"] not in SAFE_METHODS
        if changes and origin and not self._origin_allowed(origin, host, scope):
            await _refuse(scope, send, 403, "foreign_origin", (
                f"a page at {origin} may not use this server: browsers may only change "
                "things or open a socket from Hearth's own pages; if you trust that origin, "
                "add it to server.cors_origins"))
            return
        await self.app(scope, receive, send)

    def _host_problem(self, host: str, scope: Scope) -> str | None:
        if not host:  # HTTP/1.0 without one: no browser, so no rebinding
            return None
        name, _ = _split_host(host)
        if name is not None and (name in self.names or _arrived_on(name, scope)):
            return None
        return (f"this server does not answer to the name {host!r} (the Host header), which "
                "guards against DNS rebinding; if that is how you reach it, add the name "
                "to server.allowed_hosts")

    def _origin_allowed(self, origin: str, host: str, scope: Scope) -> bool:
        if origin.rstrip("/").lower() in self.origins or "*" in self.origins:
            return True
        scheme: str = scope["scheme"]
        scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        if host:
            name, port = _split_host(host)
        else:
            name, port = _name(scope["server"][0]), scope["server"][1]
        try:
            parts = urlsplit(origin)
            theirs = (parts.scheme, parts.hostname, parts.port or DEFAULT_PORTS.get(parts.scheme))
        except ValueError:  # a port out of range, a bracket unclosed
            return False
        return theirs == (scheme, name, port or DEFAULT_PORTS.get(scheme))


def _name(host: str) -> str:
    return host.strip().lower().rstrip(".").strip("[]")


def _split_host(host: str) -> tuple[str | None, int | None]:
    """`Host` as (name, port): 'a:80' -> ('a', 80), '[::1]' -> ('::1', None); (None, None)
    when it is not a host at all."""
    try:
        parts = urlsplit(f"//{host}")
        return _name(parts.hostname or "") or None, parts.port
    except ValueError:
        return None, None


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _arrived_on(name: str, scope: Scope) -> bool:
    """Whether `name` is the address of this machine that the request arrived on."""
    server = scope.get("server")
    if not server:
        return False
    try:
        mine, theirs = ipaddress.ip_address(server[0]), ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(mine, ipaddress.IPv6Address) and mine.ipv4_mapped is not None:
        mine = mine.ipv4_mapped  # listening on '::', reached over IPv4
    return mine == theirs


async def _refuse(scope: Scope, send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if scope["type"] == "http":
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
    elif "websocket.http.response" in scope.get("extensions", {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": headers})
        await send({"type": "websocket.http.response.body", "body": body})
    else:  # the server answers the handshake with 403
        await send({"type": "websocket.close", "code": 1008, "reason": code})
