"""The ASGI application: `create_app(settings)` wires HTTP, auth, the schema and the database.

Every refusal is JSON shaped like a GraphQL response, `{"errors": [{"message", "extensions":
{"code"}}]}`, never text/plain and never a 500 for bad input. Execution runs under
GATEWAY_EXECUTION_TIMEOUT_SECONDS and is cancelled when the client disconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TypeVar

import strawberry
from cross_web import AsyncHTTPRequestAdapter, HTTPException
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.extensions import SchemaExtension
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.base import BaseRequestProtocol
from strawberry.types import ExecutionResult, SubscriptionExecutionResult

from directives.deadlines import DeadlineRuleError, load_rules
from directives.masking import ProcessMasks
from directives.policy import DEFAULT_POLICY, Policy
from directives.report import RedactionReport
from gateway.auth import ANONYMOUS_CLAIMS, parse_authorization, parse_purpose, verify_token
from gateway.console import (
    STATIC_PREFIX,
    console_response,
    graphiql_html,
    graphiql_response,
    static_app,
)
from gateway.db.engine import create_engine, is_unavailable, ping, session_factory
from gateway.errors import (
    AuthenticationError,
    ConfigurationError,
    DatabaseUnavailable,
    PurposeError,
)
from gateway.grace import check_grace
from gateway.logs import RequestLog, configure_logging
from gateway.metrics import (
    RequestMetrics,
    audit_events_written,
    metrics_endpoint,
    observe_requests,
)
from gateway.ratelimit import RateLimited, RateLimits
from gateway.serving import TrustedProxies, middleware
from gateway.settings import Settings
from gateway.trusted import DocumentRefused, TrustedDocuments, resolve_query
from resolvers.audit import ReadWriter, request_actor
from resolvers.audit.actions import audited, for_request
from resolvers.audit.chain import KnownHead
from resolvers.audit.reads import ReadLog
from resolvers.context import Context
from resolvers.loaders import Loaders
from resolvers.privacy import PrivacyScope
from resolvers.viewer import Viewer, resolve_viewer
from schema.build import build_schema
from schema.limits import QueryGuard
from schema.rights.export import export_endpoint

T = TypeVar("T")
logger = logging.getLogger("gateway.http")

GRAPHQL_RESPONSE = "application/graphql-response+json"
METHODS = ("GET", "POST")
# Codes for the refusals strawberry still raises itself (a bad operation name, GET mutation).
_STRAWBERRY_CODES = {400: "BAD_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}


class Refused(Exception):
    """An HTTP-layer refusal; its message is safe to show (it never quotes the request)."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers

    def response(self) -> Response:
        return _error(self.status, self.code, self.message, self.headers)


class ClientGone(Exception):
    """The client disconnected while its request ran: the work was cancelled, nothing is sent."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


# Set per operation by GatewayGraphQL; _DatabaseOutage notes there that a resolver could not
# reach the database, before MaskErrors turns the error into "Unexpected error.".
_outage: ContextVar[list[str] | None] = ContextVar("privacy_gateway_outage", default=None)


class _DatabaseOutage(SchemaExtension):
    """An operation whose resolvers lost the database is answered 503, not 200 with masked
    errors: listed last among the extensions, it sees the errors before they are masked."""

    def on_operation(self) -> Iterator[None]:
        yield
        noted = _outage.get()
        errors = getattr(self.execution_context.result, "errors", None) or ()
        if noted is not None:
            noted += [
                type(e.original_error).__name__
                for e in errors
                if e.original_error is not None and is_unavailable(e.original_error)
            ]


class GatewayGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI app with a per-request Context, strict request parsing, per-operation
    contexts for batches, and supervised execution (timeout, disconnect)."""

    def __init__(self, gateway: Gateway) -> None:
        super().__init__(
            gateway.schema, graphql_ide="graphiql" if gateway.settings.graphiql else None
        )
        self.gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self.run(request)
        except Refused as exc:
            response = exc.response()
        except HTTPException as exc:
            code = _STRAWBERRY_CODES.get(exc.status_code, "BAD_REQUEST")
            response = _error(exc.status_code, code, exc.reason)
        except (ClientGone, ClientDisconnect):
            logger.info("client disconnected; its request was cancelled")
            return
        await response(scope, receive, send)

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        """For `application/graphql-response+json`, a request that failed before execution
        (parse, validation, variable coercion) answers without `data`, as the spec asks."""
        processed = await super().process_result(request, result)
        if _wants_graphql_response(request.headers) and _failed_before_execution(processed):
            processed.pop("data", None)
        return processed

    # The package's own GraphiQL page and assets (gateway/console), not a CDN's.
    @property
    def graphql_ide_html(self) -> str:
        return graphiql_html()

    async def render_graphql_ide(self, request: Request) -> Response:
        return graphiql_response()

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        # A GET that names a trusted document by `documentId` is an operation.
        named = request.query_params.get("documentId") is not None
        return not named and super().should_render_graphql_ide(request)

    async def get_context(self, request: Request, response: Response) -> Context:  # type: ignore[override]
        viewer: Viewer = request.scope["state"]["viewer"]
        full = request.headers.get("x-privacy-report", "").lower() == "full"
        return self.gateway.context(viewer, full_report=full)

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method == "GET":
            params = request.query_params
            payload: dict[str, Any] = {
                "query": params.get("query"),
                "operationName": params.get("operationName"),
                "documentId": params.get("documentId"),
            }
            for key in ("variables", "extensions"):
                raw = params.get(key)
                payload[key] = _decode_json(raw.encode(), f"`{key}`") if raw else None
            return _operation(payload, self.gateway.documents)
        body = _decode_json(await request.get_body(), "the request body")
        limit = self.gateway.settings.max_batch_operations
        return _operations(body, limit, self.gateway.documents)

    async def execute_operation(
        self,
        request: Request,
        request_adapter: AsyncHTTPRequestAdapter,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: Context,
        root_value: None,
        sub_response: Response,
    ) -> ExecutionResult | list[ExecutionResult] | SubscriptionExecutionResult:
        async def one(data: GraphQLRequestData, ctx: Context) -> ExecutionResult:
            lost: list[str] = []
            _outage.set(lost)
            result = await self.execute_single(
                request=request,
                request_adapter=request_adapter,
                sub_response=sub_response,
                context=ctx,
                root_value=root_value,
                request_data=data,
            )
            if lost:  # nothing of a partial answer is sent, so no read is recorded
                raise DatabaseUnavailable(f"the database does not answer ({lost[0]})")
            # The reads are written once the data is computed, whatever becomes of the
            # response (a cancellation now does not cut the write short).
            await asyncio.shield(self.gateway.record_reads(ctx))
            return result

        async def run() -> ExecutionResult | list[ExecutionResult]:
            if not isinstance(request_data, list):
                return await one(request_data, context)
            # One context per operation: each gets its own redaction report.
            results = [await one(request_data[0], context)]
            for data in request_data[1:]:
                results.append(await one(data, await self.get_context(request, sub_response)))
            return results

        documents = self.gateway.documents
        if documents is not None:
            for data in request_data if isinstance(request_data, list) else [request_data]:
                _unless_refused(documents.check, data.query, context.viewer)
        timeout = self.gateway.settings.execution_timeout_seconds
        return await _supervised(run(), request.receive, timeout)


class Gateway:
    """What one running gateway holds: settings, engine, schema, policy, query guard."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: Policy = DEFAULT_POLICY,
        enforce: bool = True,
        schema: strawberry.Schema | None = None,
        clock: Callable[[], datetime] = _utc_now,
        audit: bool = True,
    ) -> None:
        self.settings = settings
        self.policy = policy
        self.clock = clock
        try:
            self.rules = load_rules()
        except DeadlineRuleError as exc:
            raise ConfigurationError(str(exc)) from None
        check_grace(settings, self.rules)
        self.enforce = enforce
        self.engine = create_engine(settings)
        self.sessions = session_factory(self.engine)
        # The audit trail (resolvers/audit): off only for the benchmark's baseline.
        self.audit = audit
        self.audit_failures = 0  # requests whose reads could not be written (logged)
        self.audit_head = KnownHead()
        self.read_writer = ReadWriter(self.engine)
        if audit:
            audited(self.sessions, clock, self.audit_head)
        self.guard = QueryGuard(settings)
        self.schema = schema or build_schema(
            extensions=[self.guard.extension, RequestMetrics, _DatabaseOutage]
        )
        self._key = settings.pseudonym_key.encode()
        self.masks = ProcessMasks(self._key, remember=settings.mask_memo)
        self.plans: dict[tuple[Any, ...], Any] = {}  # projection plans by value (schema/privacy.py)
        self.proxies = TrustedProxies(settings.trusted_proxies)
        self.rate_limits = RateLimits(settings)
        self.documents = (
            TrustedDocuments.load(
                settings.trusted_documents,
                employees_adhoc=settings.trusted_documents_employees_adhoc,
            )
            if settings.trusted_documents is not None
            else None
        )

    def context(self, viewer: Viewer, *, full_report: bool = False) -> Context:
        actor = request_actor(viewer)
        sessions = for_request(self.sessions, actor) if self.audit else self.sessions
        loaders = Loaders(sessions)
        privacy = PrivacyScope(
            policy=self.policy,
            viewer=viewer,
            loaders=loaders,
            pseudonym_key=self._key,
            masks=self.masks,
            shared_plans=self.plans,
            enforce=self.enforce,
            full_report=full_report,
            report=RedactionReport(keep_paths=full_report),
            audit=ReadLog(actor) if self.audit and viewer.is_employee else None,
        )
        return Context(self.settings, viewer, sessions, loaders, privacy, self.rules, self.clock)

    async def record_reads(self, ctx: Context) -> None:
        """Write an employee's reads of this request; a failure is logged and counted, and
        changes nothing in the response."""
        log = ctx.privacy.audit
        if not log:
            return
        try:
            written = await self.read_writer.write(log, self.clock(), self.audit_head)
        except Exception as exc:
            self.audit_failures += 1
            logger.error("audit: reads of a request not recorded (%s)", type(exc).__name__)
        else:
            audit_events_written.inc(written)

    async def aclose(self) -> None:
        """Release what the gateway holds: rate-limit storage, the audit writer's
        connections, the engine's pool (the app's shutdown; tests and benches call it)."""
        await self.rate_limits.aclose()
        await self.read_writer.aclose()
        await self.engine.dispose()

    async def authenticate(self, request: Request) -> Viewer:
        token = parse_authorization(request.headers.get("authorization"))
        claims = ANONYMOUS_CLAIMS if token is None else verify_token(self.settings, token)
        purpose = None
        if claims.role is not None:
            purpose = parse_purpose(request.headers.get("x-processing-purpose"))
        return await resolve_viewer(self.sessions, claims, purpose)


def create_app(
    settings: Settings,
    *,
    enforce_privacy: bool = True,
    schema: strawberry.Schema | None = None,
    clock: Callable[[], datetime] = _utc_now,
    audit: bool = True,
) -> Starlette:
    """Build the app. `enforce_privacy=False`, `audit=False` and `schema` exist for the
    benchmarks only; `clock` for tests that need a known "now" (deadlines)."""
    gateway = Gateway(settings, enforce=enforce_privacy, schema=schema, clock=clock, audit=audit)
    graphql = GatewayGraphQL(gateway)

    async def graphql_endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse malformed HTTP and authenticate before strawberry sees the request."""
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await _serve_graphql(gateway, graphql, scope, receive, tracked)
        except Exception as exc:
            if is_unavailable(exc):  # the database is down or restarting: a clean 503
                logger.warning("database does not answer (%s): HTTP 503", type(exc).__name__)
                if not started:
                    message = str(exc) if isinstance(exc, DatabaseUnavailable) else None
                    message = message or f"the database does not answer ({type(exc).__name__})"
                    await _error(503, "DATABASE_UNAVAILABLE", message)(scope, receive, send)
                return
            # a bug: masked, logged by kind and place, never a traceback
            where = _origin(exc)
            logger.error("unexpected %s in /graphql at %s", type(exc).__name__, where)
            if not started:
                response = _error(500, "INTERNAL_SERVER_ERROR", "Internal server error.")
                await response(scope, receive, send)

    async def healthz(request: Request) -> Response:
        try:
            await ping(gateway.engine)
        except DatabaseUnavailable:
            return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
        return JSONResponse({"status": "ok", "database": "up"})

    async def console(request: Request) -> Response:
        return console_response()

    async def sdl(request: Request) -> Response:
        return PlainTextResponse(gateway.schema.as_str() + "\n", media_type="application/graphql")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await gateway.aclose()

    # The pages' assets and the DPO console, all from the package (gateway/console); /metrics.
    served: list[BaseRoute] = [Mount(STATIC_PREFIX, static_app())]
    if settings.console:
        served.append(Route("/console", console))
    if settings.metrics:
        served.append(
            Route("/metrics", metrics_endpoint(gateway.sessions, settings, gateway.clock))
        )

    app = Starlette(
        routes=[
            # Any method: 405 is ours, in JSON. Counted and timed for /metrics.
            Route("/graphql", _Asgi(observe_requests(graphql_endpoint))),
            *served,
            Route("/healthz", healthz),
            Route("/schema.graphql", sdl),
            # The subject's data export, streamed (schema/rights/export.py); refuses to
            # start if a personal field has no row source.
            Route("/exports/{id}", _Asgi(export_endpoint(gateway))),
        ],
        lifespan=lifespan,
        middleware=[
            Middleware(RequestLog, access_log=settings.access_log, proxies=gateway.proxies),
            *middleware(settings, graphiql_html=graphql.graphql_ide_html),
        ],
    )
    app.state.gateway = gateway
    return app


def app_from_env() -> Starlette:
    """The app for `uvicorn --factory gateway.app:app_from_env`, gunicorn, and each process
    of `privacy-gateway serve --workers N`: settings from the environment, logs configured."""
    settings = Settings.from_env()
    configure_logging(settings)
    return create_app(settings)


async def _serve_graphql(
    gateway: Gateway, graphql: GatewayGraphQL, scope: Scope, receive: Receive, send: Send
) -> None:
    request = Request(scope, receive)
    settings = gateway.settings
    address = gateway.proxies.client_address(scope)
    try:
        _check_http(request, settings)
        await gateway.rate_limits.check_address(address)
    except Refused as exc:
        await exc.response()(scope, receive, send)
        return
    except RateLimited as exc:
        await _rate_limited(exc)(scope, receive, send)
        return
    wants_ide = "text/html" in request.headers.get("accept", "")
    asks = "query" in request.query_params or "documentId" in request.query_params
    if request.method == "GET" and wants_ide and not asks:
        # GraphiQL's page (gateway/console) needs no viewer and no GraphQL context.
        page = graphiql_response() if settings.graphiql else _no_graphiql()
        await page(scope, receive, send)
        return
    try:
        viewer = await gateway.authenticate(request)
    except AuthenticationError as exc:
        headers = {"WWW-Authenticate": "Bearer"}
        await _error(401, "UNAUTHENTICATED", str(exc), headers)(scope, receive, send)
        return
    except PurposeError as exc:
        await _error(400, "PURPOSE_REQUIRED", str(exc))(scope, receive, send)
        return
    except DatabaseUnavailable as exc:
        await _error(503, "DATABASE_UNAVAILABLE", str(exc))(scope, receive, send)
        return
    try:
        await gateway.rate_limits.check_viewer(viewer, address)
    except RateLimited as exc:
        await _rate_limited(exc)(scope, receive, send)
        return
    scope.setdefault("state", {})["viewer"] = viewer
    limited = _limited(receive, settings.max_body_bytes)
    if _wants_graphql_response(request.headers):
        send = _GraphQLResponseSender(send)
    await graphql(scope, limited, send)


def _no_graphiql() -> Response:
    message = "GraphiQL is off here (GATEWAY_GRAPHIQL=0): send GraphQL with POST or GET ?query="
    return _error(404, "NOT_FOUND", message)


def _check_http(request: Request, settings: Settings) -> None:
    """What can be refused from the request line and headers alone, before any I/O."""
    if request.method not in METHODS:
        raise Refused(
            405,
            "METHOD_NOT_ALLOWED",
            f"{request.method} is not supported: send GraphQL with GET or POST",
            {"Allow": ", ".join(METHODS)},
        )
    limit = settings.max_body_bytes
    if request.method == "GET":
        if len(request.scope.get("query_string", b"")) > limit:
            raise Refused(
                414,
                "URI_TOO_LONG",
                f"query string exceeds the limit of {limit} bytes (GATEWAY_MAX_BODY_BYTES)",
            )
        return
    _check_content_type(request.headers.get("content-type"))
    length = request.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length) > limit:
        raise _too_large(limit, int(length))


def _check_content_type(raw: str | None) -> None:
    mime, _, parameters = (raw or "").partition(";")
    charsets = [
        value.strip().strip('"').lower()
        for key, _, value in (p.partition("=") for p in parameters.split(";"))
        if key.strip().lower() == "charset"
    ]
    if mime.strip().lower() != "application/json" or any(
        c not in ("utf-8", "utf8") for c in charsets
    ):
        raise Refused(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "send the request body as Content-Type: application/json (UTF-8)",
        )


def _too_large(limit: int, size: int | None = None) -> Refused:
    told = f"of {size} bytes " if size is not None else ""
    return Refused(
        413,
        "BODY_TOO_LARGE",
        f"request body {told}exceeds the limit of {limit} bytes (GATEWAY_MAX_BODY_BYTES)",
    )


def _limited(receive: Receive, limit: int) -> Receive:
    """`receive`, refusing a body (chunked or lying about its length) past `limit` bytes."""
    seen = 0

    async def receive_limited() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _too_large(limit)
        return message

    return receive_limited


def _decode_json(raw: bytes, what: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refused(400, "INVALID_JSON", f"{what} is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        raise Refused(400, "INVALID_JSON", f"{what} is not valid JSON") from None
    # Strict UTF-8 input cannot hold a lone surrogate, but a JSON escape (\ud800) can.
    if "\\u" in text:
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, RecursionError):
            message = f"{what} holds a string that is not valid Unicode (a lone surrogate)"
            raise Refused(400, "INVALID_JSON", message) from None
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _operations(
    value: Any, limit: int, documents: TrustedDocuments | None
) -> GraphQLRequestData | list[GraphQLRequestData]:
    if not isinstance(value, list):
        return _operation(value, documents)
    if not value:
        raise Refused(400, "BAD_REQUEST", "an empty batch: send at least one operation")
    if len(value) > limit:
        raise Refused(
            400,
            "BATCH_TOO_LARGE",
            f"batch of {len(value)} operations exceeds the limit of {limit} "
            "(GATEWAY_MAX_BATCH_OPERATIONS)",
        )
    return [_operation(item, documents) for item in value]


def _operation(value: Any, documents: TrustedDocuments | None) -> GraphQLRequestData:
    if not isinstance(value, dict):
        raise Refused(400, "BAD_REQUEST", 'a GraphQL request is a JSON object: {"query": "..."}')
    if value.get("query") is not None and not isinstance(value["query"], str):
        raise Refused(400, "BAD_REQUEST", "`query` must be a string")
    for key, kind, name in (
        ("variables", dict, "an object"),
        ("extensions", dict, "an object"),
        ("operationName", str, "a string"),
    ):
        if value.get(key) is not None and not isinstance(value[key], kind):
            raise Refused(400, "BAD_REQUEST", f"`{key}` must be {name} or null")
    # The text sent, or the trusted document its hash names.
    query = _unless_refused(resolve_query, documents, value)
    return GraphQLRequestData(
        query=query,
        variables=value.get("variables"),
        operation_name=value.get("operationName"),
        extensions=value.get("extensions"),
    )


async def _supervised(work: Awaitable[T], receive: Receive, timeout: float) -> T:
    """Run `work`; cancel it on a client disconnect or after `timeout` seconds (0: never)."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        await asyncio.wait(
            (task, gone), timeout=timeout or None, return_when=asyncio.FIRST_COMPLETED
        )
    except asyncio.CancelledError:
        task.cancel()
        gone.cancel()
        raise
    if task.done():
        gone.cancel()
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)  # let it unwind: sessions close
    if gone.done():
        raise ClientGone
    gone.cancel()
    raise Refused(
        504,
        "EXECUTION_TIMEOUT",
        f"execution exceeded the limit of {timeout:g} seconds (GATEWAY_EXECUTION_TIMEOUT_SECONDS)",
    )


async def _disconnected(receive: Receive) -> None:
    """Returns once the client has gone (the body is read by now, so nothing else listens).
    A receive that fails means the connection is broken: gone too."""
    try:
        while (await receive())["type"] != "http.disconnect":
            pass
    except Exception:
        return


def _wants_graphql_response(headers: Mapping[str, str]) -> bool:
    return GRAPHQL_RESPONSE in headers.get("accept", "")


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
            if start["status"] == 200 and _without_data(body):
                start["status"] = 400
        else:
            headers = list(start.get("headers", []))
        await self._send({**start, "headers": headers})
        await self._send({"type": "http.response.body", "body": body})


def _without_data(body: bytes) -> bool:
    """A response without `data`: the request failed before execution (`process_result`
    or an HTTP-layer refusal). A batch answers each operation in its own entry: its status
    stays 200."""
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and "data" not in payload


def _failed_before_execution(response: Mapping[str, Any]) -> bool:
    """Null data with only path-less errors: a parse, validation or variable failure (an
    execution error always has a path)."""
    errors = response.get("errors") or []
    return (
        response.get("data") is None
        and bool(errors)
        and all(isinstance(e, dict) and "path" not in e for e in errors)
    )


class _Asgi:
    """Starlette treats plain functions as request handlers; this marks a raw ASGI endpoint."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def _origin(exc: BaseException) -> str:
    """Where an exception was raised, as `file:line` (no message: it may quote data)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "-"
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"


def _unless_refused(check: Callable[..., T], *args: Any) -> T:
    """`check(*args)`, its `DocumentRefused` an HTTP 400 with the refusal's code."""
    try:
        return check(*args)
    except DocumentRefused as exc:
        raise Refused(400, exc.code, str(exc)) from None


def _rate_limited(exc: RateLimited) -> Response:
    return _error(429, "RATE_LIMITED", str(exc), {"Retry-After": str(exc.retry_after)})


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": code}}]},
        status_code=status,
        headers=headers,
    )
