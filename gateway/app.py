"""The ASGI application: `create_app(settings)` wires HTTP, auth, the schema and the database."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, MutableMapping
from typing import Any

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from directives.masking import ProcessMasks
from directives.policy import DEFAULT_POLICY, Policy
from directives.report import RedactionReport
from gateway.auth import ANONYMOUS_CLAIMS, parse_authorization, parse_purpose, verify_token
from gateway.db.engine import create_engine, ping, session_factory
from gateway.errors import AuthenticationError, DatabaseUnavailable, PurposeError
from gateway.settings import Settings
from resolvers.context import Context
from resolvers.loaders import Loaders
from resolvers.privacy import PrivacyScope
from resolvers.viewer import Viewer, resolve_viewer
from schema.build import build_schema


class GatewayGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app with a per-request Context built from the verified viewer."""

    def __init__(self, gateway: Gateway, **kwargs: Any) -> None:
        super().__init__(
            gateway.schema, graphql_ide="graphiql" if gateway.settings.graphiql else None, **kwargs
        )
        self.gateway = gateway

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        viewer: Viewer = request.scope["state"]["viewer"]
        full = request.headers.get("x-privacy-report", "").lower() == "full"
        return self.gateway.context(viewer, full_report=full)


class Gateway:
    """What one running gateway holds: settings, engine, schema, policy."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: Policy = DEFAULT_POLICY,
        enforce: bool = True,
        schema: strawberry.Schema | None = None,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.enforce = enforce
        self.engine = create_engine(settings)
        self.sessions = session_factory(self.engine)
        self.schema = schema or build_schema()
        self._key = settings.pseudonym_key.encode()
        self.masks = ProcessMasks(self._key, remember=settings.mask_memo)

    def context(self, viewer: Viewer, *, full_report: bool = False) -> Context:
        loaders = Loaders(self.sessions)
        privacy = PrivacyScope(
            policy=self.policy,
            viewer=viewer,
            loaders=loaders,
            pseudonym_key=self._key,
            masks=self.masks,
            enforce=self.enforce,
            full_report=full_report,
            report=RedactionReport(keep_paths=full_report),
        )
        return Context(self.settings, viewer, self.sessions, loaders, privacy)

    async def authenticate(self, request: Request) -> Viewer:
        token = parse_authorization(request.headers.get("authorization"))
        claims = ANONYMOUS_CLAIMS if token is None else verify_token(self.settings, token)
        purpose = None
        if claims.role is not None:
            purpose = parse_purpose(request.headers.get("x-processing-purpose"))
        return await resolve_viewer(self.sessions, claims, purpose)


def create_app(
    settings: Settings, *, enforce_privacy: bool = True, schema: strawberry.Schema | None = None
) -> Starlette:
    """Build the app. `enforce_privacy=False` and `schema` exist for the benchmark only."""
    gateway = Gateway(settings, enforce=enforce_privacy, schema=schema)
    graphql = GatewayGraphQL(gateway)

    async def graphql_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        """Authenticate before strawberry sees the request: 401/400 are plain HTTP errors."""
        request = Request(scope, receive)
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            scope.setdefault("state", {})["viewer"] = None
            await graphql(scope, receive, send)
            return
        try:
            viewer = await gateway.authenticate(request)
        except AuthenticationError as exc:
            await _error(401, "UNAUTHENTICATED", str(exc), {"WWW-Authenticate": "Bearer"})(
                scope, receive, send
            )
            return
        except PurposeError as exc:
            await _error(400, "PURPOSE_REQUIRED", str(exc))(scope, receive, send)
            return
        except DatabaseUnavailable as exc:
            await _error(503, "DATABASE_UNAVAILABLE", str(exc))(scope, receive, send)
            return
        scope.setdefault("state", {})["viewer"] = viewer
        if GRAPHQL_RESPONSE in request.headers.get("accept", ""):
            await graphql(scope, receive, _GraphQLResponseSender(send))
        else:
            await graphql(scope, receive, send)

    async def healthz(request: Request) -> Response:
        try:
            await ping(gateway.engine)
        except DatabaseUnavailable:
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "up"})

    async def sdl(request: Request) -> Response:
        return PlainTextResponse(gateway.schema.as_str() + "\n", media_type="application/graphql")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await gateway.engine.dispose()

    app = Starlette(
        routes=[
            Route("/graphql", _Asgi(graphql_endpoint), methods=["GET", "POST"]),
            Route("/healthz", healthz),
            Route("/schema.graphql", sdl),
        ],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app


GRAPHQL_RESPONSE = "application/graphql-response+json"


class _GraphQLResponseSender:
    """Speak `application/graphql-response+json`: that media type, and a 4xx for a response
    without `data` (the request failed before execution), as the GraphQL-over-HTTP spec asks."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self._start: dict[str, Any] | None = None
        self._body = bytearray()

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self._start = dict(message)
            return
        if message["type"] != "http.response.body" or self._start is None:
            await self._send(message)
            return
        self._body += message.get("body", b"")
        if message.get("more_body"):
            return
        start, body = self._start, bytes(self._body)
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-type"]
        is_json = any(
            k.lower() == b"content-type" and v.startswith(b"application/json")
            for k, v in start.get("headers", [])
        )
        if is_json:
            headers.append((b"content-type", GRAPHQL_RESPONSE.encode()))
            if start["status"] == 200 and _failed_before_execution(body):
                start["status"] = 400
        else:
            headers = list(start.get("headers", []))
        await self._send({**start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})


def _failed_before_execution(body: bytes) -> bool:
    """No data, or null data with only path-less errors (parse or validation failures)."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    if "data" not in payload:
        return True
    errors = payload.get("errors") or []
    return payload["data"] is None and bool(errors) and all("path" not in e for e in errors)


class _Asgi:
    """Starlette treats plain functions as request handlers; this marks a raw ASGI endpoint."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers=headers,
    )
