"""Structured logs: one JSON object per line, the request's id in every line written while
it is handled, and nothing personal.

A line has `time` (UTC, ISO 8601), `level`, `logger`, `message`, `request_id` (null outside
a request) and `pid`; an access line adds `method`, `path`, `status` and `duration_ms`. The
path is the route's template (`/exports/{id}`), never the path as sent, and never the query
string; an unmatched path is logged as null. No line holds a query, variables, a header's
value or a client address (an address is personal data; the rate limiter keys by a keyed
hash of it instead). An exception is logged by type and place (`file:line`), never by its
message or traceback, which may quote data.

The request id is the caller's X-Request-Id when a trusted proxy (GATEWAY_TRUSTED_PROXIES)
sent it and it is 1-64 characters of [A-Za-z0-9._-]; otherwise a fresh one. Either way it is
echoed in the response's X-Request-Id.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.serving import TrustedProxies
from gateway.settings import Settings

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)

SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
ACCESS_FIELDS = ("method", "path", "status", "duration_ms")
access_logger = logging.getLogger("gateway.access")
logger = logging.getLogger("gateway.http")


def origin(tb: TracebackType | None) -> str:
    """Where an exception was raised, as `file:line` of its innermost frame."""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "-"
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string in a library's call: its template only
        message = str(record.msg)
    entry: dict[str, Any] = {
        "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "message": message,
        "request_id": getattr(record, "request_id", None) or request_id.get(),
        "pid": record.process,
    }
    for key in ACCESS_FIELDS:
        if hasattr(record, key):
            entry[key] = getattr(record, key)
    if record.exc_info and record.exc_info[0] is not None:
        entry["error"] = record.exc_info[0].__name__
        entry["origin"] = origin(record.exc_info[2])
    return entry


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module's docstring for the fields)."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """The same fields for a person at a terminal (GATEWAY_LOG_FORMAT=text)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = _fields(record)
        extra = " ".join(
            f"{key}={entry[key]}" for key in (*ACCESS_FIELDS, "error", "origin") if key in entry
        )
        line = (
            f"{entry['time']} {entry['level']} {entry['logger']}[{entry['pid']}] "
            f"[{entry['request_id'] or '-'}] {entry['message']}"
        )
        return f"{line} {extra}" if extra else line


class _GatewayHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler `configure_logging` installs (and replaces when called again)."""


def formatter(settings: Settings) -> logging.Formatter:
    return TextFormatter() if settings.log_format == "text" else JsonFormatter()


def configure_logging(settings: Settings) -> None:
    """Send every logger's lines to stderr in GATEWAY_LOG_FORMAT at GATEWAY_LOG_LEVEL.

    uvicorn's and gunicorn's loggers are routed here too; their access loggers are turned off
    (they print client addresses and query strings): `RequestLog` writes the access lines."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _GatewayHandler)]:
        root.removeHandler(handler)
    handler = _GatewayHandler(sys.stderr)
    handler.setFormatter(formatter(settings))
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    for name in ("uvicorn", "uvicorn.error", "gunicorn", "gunicorn.error"):
        server = logging.getLogger(name)
        server.handlers.clear()
        server.propagate = True
    for name in ("uvicorn.access", "gunicorn.access"):
        logging.getLogger(name).disabled = True


class RequestLog:
    """Gives each HTTP request its id (in the logs' context and the X-Request-Id response
    header) and, with GATEWAY_ACCESS_LOG, one access line when it ends. An exception that
    escapes the app is logged by type and place and answered with a masked JSON 500."""

    def __init__(self, app: ASGIApp, *, access_log: bool, proxies: TrustedProxies) -> None:
        self.app = app
        self.access_log = access_log
        self.proxies = proxies

    def _request_id(self, scope: Scope) -> str:
        if self.proxies.peer_is_trusted(scope):
            for name, value in scope.get("headers", ()):
                if name == b"x-request-id":
                    text: str = value.decode("latin-1")
                    if SAFE_REQUEST_ID.fullmatch(text):
                        return text
                    break
        return secrets.token_hex(8)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = self._request_id(scope)
        token = request_id.set(rid)
        started = time.perf_counter()
        status: int | None = None

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(raw=message.setdefault("headers", []))["X-Request-Id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            logger.error("unexpected %s at %s", type(exc).__name__, origin(exc.__traceback__))
            if status is None:
                response = JSONResponse(
                    {
                        "errors": [
                            {
                                "message": "Internal server error.",
                                "extensions": {"code": "INTERNAL_SERVER_ERROR"},
                            }
                        ]
                    },
                    status_code=500,
                )
                await response(scope, receive, send_with_id)
        finally:
            if self.access_log:
                route = scope.get("route")
                path = getattr(route, "path", None)
                duration = round((time.perf_counter() - started) * 1000, 2)
                access_logger.info(
                    "%s %s %s",
                    scope.get("method"),
                    path or "-",
                    status if status is not None else "-",
                    extra={
                        "method": scope.get("method"),
                        "path": path,
                        "status": status,
                        "duration_ms": duration,
                    },
                )
            request_id.reset(token)
