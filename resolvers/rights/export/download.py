"""`GET /exports/{id}`: the subject's export, generated now from one consistent read and
streamed as it is read.

Who may download: the subject, with their own bearer token or with the signed link
`requestDataExport` returned (until it expires). Everyone else is refused in the JSON shape
of the HTTP layer, `{"errors": [{"message", "extensions": {"code"}}]}`: no credentials or a
bad or expired link 401, an employee 403, another user's export or anything that is not a
live export of the subject 404 (whether it exists is not said).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import anyio
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from directives.deadlines import RequestKind
from directives.policy import Policy
from directives.taxonomy import Purpose
from gateway.auth import ViewerKind
from gateway.db import models as m
from gateway.errors import AuthenticationError, DatabaseUnavailable, PurposeError
from gateway.settings import Settings
from resolvers import ids
from resolvers.context import Context
from resolvers.rights.export import filing, history, links
from resolvers.rights.export.filing import ExportFormat
from resolvers.rights.export.snapshot import Sessions, bound, consistent_read
from resolvers.rights.export.writers import SCHEMA_ID, WRITERS, Event, Writer
from resolvers.viewer import Viewer

logger = logging.getLogger("gateway.export")
GONE = ("ERASED", "PURGED")
LIVE = ("RECEIVED", "IN_PROGRESS", "COMPLETED")


class ExportHost(Protocol):
    """What the download needs of the running gateway (`gateway.app.Gateway`)."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    policy: Policy
    clock: Callable[[], datetime]

    def context(self, viewer: Viewer, *, full_report: bool = False) -> Context: ...

    async def authenticate(self, request: Request) -> Viewer: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the document is read from: the snapshot's sessions, the subject's row as of it,
    and a fresh Context (the subject as viewer, its own loaders) for each chunk."""

    sessions: Sessions
    subject: m.User
    context: Callable[[], Context]


Produce = Callable[[Snapshot], AsyncIterator[Event]]


class Denied(Exception):
    """A refused download: its status, code and a message safe to show."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    def response(self) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if self.status == 401 else {}
        if self.status == 405:
            headers["Allow"] = "GET"
        body = {"errors": [{"message": self.message, "extensions": {"code": self.code}}]}
        return JSONResponse(body, status_code=self.status, headers=headers)


class SubjectGone(Exception):
    """The subject was erased between authorization and the snapshot."""


class ExportInterrupted(Exception):
    """The document could not be finished; the response is cut off, the request stays open."""


@dataclass(frozen=True, slots=True)
class Grant:
    request_id: int
    viewer: Viewer
    format: ExportFormat


def endpoint(host: ExportHost, produce: Produce) -> Callable[[Scope, Receive, Send], Any]:
    async def download(scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            grant = await authorize(host, request)
            response = await document_response(host, grant, produce)
        except Denied as exc:
            await exc.response()(scope, receive, send)
            return
        except Exception as exc:  # a bug: masked, logged by kind and place only
            logger.error("unexpected %s in /exports at %s", type(exc).__name__, _origin(exc))
            failed = Denied(500, "INTERNAL_SERVER_ERROR", "Internal server error.")
            await failed.response()(scope, receive, send)
            return
        await response(scope, receive, send)

    return download


async def authorize(host: ExportHost, request: Request) -> Grant:
    if request.method != "GET":
        raise Denied(405, "METHOD_NOT_ALLOWED", f"{request.method} is not supported: use GET")
    not_found = Denied(404, "NOT_FOUND", "no such export of yours")
    try:
        request_id = ids.parse_id(str(request.path_params.get("id", "")))
    except ids.MalformedIdError:
        raise not_found from None
    if request_id is None:
        raise not_found
    token = request.query_params.get("token")
    if token is not None:
        try:
            link = links.verify(host.settings, token, host.clock())
        except links.LinkError as exc:
            raise Denied(401, "UNAUTHENTICATED", str(exc)) from None
        if link.request_id != request_id:
            raise not_found
        subject_id = link.subject_id
    else:
        subject_id = await _bearer(host, request)
    async with host.sessions() as session:
        row = await session.get(m.PrivacyRequest, request_id)
        subject = await session.get(m.User, subject_id)
    if (
        row is None
        or subject is None
        or row.kind != RequestKind.EXPORT.value
        or row.subject_id != subject_id
        or row.status not in LIVE
        or subject.deletion_state in GONE
        or row.target is None
        or row.target not in WRITERS
    ):
        raise not_found
    viewer = Viewer(
        ViewerKind.USER, Purpose.FULFILLMENT, user_id=subject_id, user_kind=subject.kind
    )
    return Grant(request_id, viewer, ExportFormat(row.target))


async def _bearer(host: ExportHost, request: Request) -> int:
    if not request.headers.get("authorization", "").strip():
        raise Denied(
            401,
            "UNAUTHENTICATED",
            "sign in as the subject (Authorization: Bearer) or use the link requestDataExport "
            "returned",
        )
    try:
        viewer = await host.authenticate(request)
    except AuthenticationError as exc:
        raise Denied(401, "UNAUTHENTICATED", str(exc)) from None
    except PurposeError:  # an employee token: they need no purpose to be refused
        viewer = None
    except DatabaseUnavailable as exc:
        raise Denied(503, "DATABASE_UNAVAILABLE", str(exc)) from None
    if viewer is None or viewer.is_employee:
        raise Denied(
            403, "FORBIDDEN", "an export is downloaded by its subject; staff use the DPO queue"
        )
    if viewer.user_id is None:
        raise Denied(401, "UNAUTHENTICATED", "sign in as the subject of the export")
    return viewer.user_id


class ExportResponse(StreamingResponse):
    """Streams the document; if the client goes away, the document is closed at once (its
    read transaction ends), shielded from the cancellation that ends the response."""

    def __init__(self, first: bytes, document: AsyncGenerator[bytes, None], **kw: Any) -> None:
        super().__init__(_guarded(first, document), **kw)
        self.document = document

    async def stream_response(self, send: Send) -> None:
        try:
            await super().stream_response(send)
        finally:
            with anyio.CancelScope(shield=True):
                await self.document.aclose()


async def document_response(host: ExportHost, grant: Grant, produce: Produce) -> ExportResponse:
    """The response, once the snapshot is open and the subject read from it: whatever goes
    wrong before the first byte is still an error response, not a cut-off document."""
    writer = WRITERS[grant.format.value]()
    document = _document(host, grant, produce, writer)
    try:
        first = await anext(document)
    except SubjectGone:
        await document.aclose()
        raise Denied(404, "NOT_FOUND", "no such export of yours") from None
    except (DBAPIError, OSError) as exc:
        await document.aclose()
        logger.error("export not started: %s at %s", type(exc).__name__, _origin(exc))
        raise Denied(503, "DATABASE_UNAVAILABLE", "the database does not answer") from None
    name = f"cistech-export-{grant.request_id}.{writer.extension}"
    return ExportResponse(
        first,
        document,
        media_type=f"{writer.media_type}; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        },
    )


async def _guarded(first: bytes, document: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    try:
        async for chunk in document:
            yield chunk
    except Exception as exc:  # never a message: it may quote data
        logger.error("export interrupted: %s at %s", type(exc).__name__, _origin(exc))
        raise ExportInterrupted("the export could not be finished; try again") from None


async def _document(
    host: ExportHost, grant: Grant, produce: Produce, writer: Writer
) -> AsyncGenerator[bytes, None]:
    size = 0
    async with consistent_read(host.engine) as sessions:
        async for event in _events(host, grant, produce, sessions):
            data = writer.write(event)
            size += len(data)
            yield data
    try:
        await filing.complete(host.sessions, grant.request_id, _subject(grant), size, host.clock())
    except Exception as exc:  # the subject has it all; the DPO sees the request still open
        logger.error("export sent, completion not recorded: %s", type(exc).__name__)


async def _events(
    host: ExportHost, grant: Grant, produce: Produce, sessions: Sessions
) -> AsyncIterator[Event]:
    subject_id = _subject(grant)
    async with sessions() as session:
        subject = await session.get(m.User, subject_id)
    if subject is None or subject.deletion_state in GONE:
        raise SubjectGone  # erased since the request was authorized
    yield (
        "head",
        {
            "$schema": SCHEMA_ID,
            "format": "cistech.privacy-export",
            "version": 1,
            "generatedAt": host.clock().isoformat(),
            "policyVersion": host.policy.version,
            "request": {"id": str(grant.request_id), "format": grant.format.value},
            "subject": {
                "id": str(subject.id),
                "kind": subject.kind,
                "jurisdiction": subject.jurisdiction,
            },
        },
    )
    snapshot = Snapshot(sessions, subject, lambda: bound(host.context(grant.viewer), sessions))
    counts = {"categories": 0, "records": 0, "consents": 0, "privacyRequests": 0}
    async for event in produce(snapshot):
        if event[0] == "category":
            counts["categories"] += 1
        elif event[0] == "records":
            counts["records"] += len(event[1])
        yield event
    for name, read in (("consents", history.consents), ("privacyRequests", history.requests)):
        yield "list", name
        async for items in read(sessions, subject_id):
            counts[name] += len(items)
            yield "items", items
        yield "end_list", None
    yield "tail", counts


def _subject(grant: Grant) -> int:
    assert grant.viewer.user_id is not None
    return grant.viewer.user_id


def _origin(exc: BaseException) -> str:
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return "-"
    return f"{tb.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{tb.tb_lineno}"
