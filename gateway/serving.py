"""How the app meets the network: client addresses behind proxies, security headers, CORS,
and the uvicorn options `serve` runs with (fast path, TLS, no logs of uvicorn's own).

A proxy's word (X-Forwarded-For, X-Request-Id) is believed only from an address listed in
GATEWAY_TRUSTED_PROXIES; uvicorn's own proxy-header handling is off so that this is the one
place deciding. uvicorn's access log is off too: it prints client addresses and query
strings, which carry queries and their variables. `gateway.logs` writes the access lines.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import ipaddress
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.settings import Settings

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# JSON answers need nothing from a browser: no scripts, no frames, no fetches.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
HSTS = "max-age=31536000"
CORS_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "X-Processing-Purpose",
    "X-Privacy-Report",
    "X-Request-Id",
)


class TrustedProxies:
    """The addresses whose X-Forwarded-For and X-Request-Id are believed."""

    def __init__(self, entries: Iterable[str]) -> None:
        self.networks: tuple[Network, ...] = tuple(
            ipaddress.ip_network(entry, strict=False) for entry in entries
        )

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusts(self, address: str | None) -> bool:
        if address is None or not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    def peer_is_trusted(self, scope: Scope) -> bool:
        return self.trusts(_peer(scope))

    def client_address(self, scope: Scope) -> str | None:
        """The client's address: the peer's, or, when the peer is a trusted proxy, the
        nearest X-Forwarded-For hop that is not one (read right to left, as each proxy
        appends). A hop that is not an address ends the walk at the proxy that sent it."""
        peer = _peer(scope)
        if not self.trusts(peer):
            return peer
        hops: list[str] = [
            hop.strip()
            for name, value in scope.get("headers", ())
            if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")
        ]
        nearest = peer
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return nearest
            if not self.trusts(hop):
                return hop
            nearest = hop
        return nearest


def _peer(scope: Scope) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


class SecurityHeaders:
    """Headers on every response unless the endpoint set them: nosniff, no referrer, no
    framing, no caching of answers that may hold personal data, a Content-Security-Policy
    (`API_CSP`, or the GraphiQL page's own), and HSTS when the gateway speaks TLS itself."""

    def __init__(self, app: ASGIApp, *, graphiql_html: str | None, tls: bool) -> None:
        self.app = app
        common = [
            ("X-Content-Type-Options", "nosniff"),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
            ("Cross-Origin-Opener-Policy", "same-origin"),
            ("Cache-Control", "no-store"),
        ]
        if tls:
            common.append(("Strict-Transport-Security", HSTS))
        self.api = [*common, ("Content-Security-Policy", API_CSP)]
        html_csp = graphiql_csp(graphiql_html) if graphiql_html is not None else API_CSP
        self.html = [*common, ("Content-Security-Policy", html_csp)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(raw=message.setdefault("headers", []))
                html = headers.get("content-type", "").startswith("text/html")
                for name, value in self.html if html else self.api:
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_LOADED = re.compile(r"<(script|link)\b[^>]*?\b(?:src|href)=\"([^\"]+)\"", re.I)


def graphiql_csp(html: str) -> str:
    """A policy for a GraphiQL page that sets none itself: its inline scripts by hash, its
    scripts and stylesheets from the origins it names (this origin for relative URLs;
    strawberry's own page loads GraphiQL from a CDN, with subresource integrity), inline
    styles (GraphiQL's editor sets them), and requests to this origin only."""
    scripts = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]
    loaded: dict[str, set[str]] = {"script": set(), "link": set()}
    for tag, url in _LOADED.findall(html):
        parts = urlsplit(url)
        if parts.scheme == "data":
            continue
        loaded[tag.lower()].add(f"{parts.scheme}://{parts.netloc}" if parts.netloc else "'self'")
    script_origins, style_origins = sorted(loaded["script"]), sorted(loaded["link"])
    directives = (
        ("default-src", "'none'"),
        ("script-src", *(script_origins + scripts or ["'none'"])),
        ("style-src", *style_origins, "'unsafe-inline'"),
        ("font-src", *style_origins, "data:"),
        ("img-src", "'self'", "data:"),
        ("connect-src", "'self'"),
        ("base-uri", "'none'"),
        ("form-action", "'none'"),
        ("frame-ancestors", "'none'"),
    )
    return "; ".join(" ".join(directive) for directive in directives)


def middleware(settings: Settings, *, graphiql_html: str | None) -> list[Middleware]:
    """Security headers outside CORS, so preflight answers carry them too."""
    stack: list[Middleware] = []
    if settings.security_headers:
        stack.append(Middleware(SecurityHeaders, graphiql_html=graphiql_html, tls=settings.tls))
    if settings.cors_origins:
        stack.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=list(CORS_HEADERS),
                expose_headers=["X-Request-Id", "Retry-After"],
                allow_credentials=False,  # bearer tokens, never cookies
                max_age=600,
            )
        )
    return stack


def fast_path() -> tuple[str, str]:
    """uvicorn's event loop and HTTP parser: uvloop and httptools when installed."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") is not None else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") is not None else "h11"
    return loop, http


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.run` or `uvicorn.Config`, besides the app and where
    to listen. Logging is configured by `gateway.logs.configure_logging`, not by uvicorn."""
    loop, http = fast_path()
    options: dict[str, Any] = {
        "loop": loop,
        "http": http,
        "ws": "none",
        "lifespan": "on",
        "log_config": None,
        "log_level": settings.log_level.lower(),
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
    }
    if settings.tls_cert_file is not None:
        options["ssl_certfile"] = str(settings.tls_cert_file)
        options["ssl_keyfile"] = str(settings.tls_key_file)
    return options
