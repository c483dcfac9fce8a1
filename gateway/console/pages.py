"""The console and GraphiQL pages, and the static files they load, all from this package.

A page names each asset as `{{ file }}` (a path under `static/`); it is served as
`/static/<file>?v=<digest of its content>`. An asset asked for with its current digest is
cached for a year (a new release changes the digest, hence the URL); without it, the
browser revalidates. The pages themselves hold no data (every datum comes from GraphQL
under the viewer's token) and are never cached stale.
"""

from __future__ import annotations

import hashlib
import re
from functools import cache
from pathlib import Path
from urllib.parse import parse_qs

from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import HTMLResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_PREFIX = "/static"
IMMUTABLE = "public, max-age=31536000, immutable"

# Only the gateway's own origin, and no inline script or style anywhere (GraphiQL's editor
# styles elements through the DOM, which a policy without 'unsafe-inline' allows).
PAGE_CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    )
)

_PLACEHOLDER = re.compile(r"\{\{ ([\w./-]+) \}\}")


@cache
def digest(name: str) -> str:
    """A short digest of `static/<name>`'s content: its URL's version."""
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:16]


def asset_url(name: str) -> str:
    return f"{STATIC_PREFIX}/{name}?v={digest(name)}"


@cache
def _page(template: str) -> str:
    text = (HERE / template).read_text(encoding="utf-8")
    return _PLACEHOLDER.sub(lambda found: asset_url(found.group(1)), text)


def _page_headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": PAGE_CSP,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }


def graphiql_html() -> str:
    return _page("graphiql.html")


def console_response() -> Response:
    return HTMLResponse(_page("console.html"), headers=_page_headers())


def graphiql_response() -> Response:
    return HTMLResponse(graphiql_html(), headers=_page_headers())


class _PackageFiles(StaticFiles):
    """StaticFiles with the cache policy above."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [""])
            current = asked[-1] == digest(Path(path).as_posix())
            response.headers["Cache-Control"] = IMMUTABLE if current else "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def static_app() -> ASGIApp:
    """The package's static files, gzipped for clients that accept it (GraphiQL is 3.5 MB)."""
    return GZipMiddleware(_PackageFiles(directory=STATIC), minimum_size=1024, compresslevel=6)
