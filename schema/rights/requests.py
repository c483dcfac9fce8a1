"""Requests as GraphQL: the subject's own list, the DPO queue, and the mutations on them."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from directives.deadlines import RequestKind
from resolvers.context import Context
from resolvers.rights import deletion, handling, inquiries, queue
from schema.rights.types import (
    PrivacyRequest,
    PrivacyRequestPayload,
    PrivacyRequestStatus,
    request_payload,
)
from schema.types.common import Page, PageInfo, parse_id

strawberry.enum(inquiries.InquiryKind, description="What an inquiry to the DPO is.")


@strawberry.type
class RequestQueries:
    @strawberry.field(description="The signed-in user's own privacy requests, newest first.")
    async def my_privacy_requests(self, info: Info[Context, None]) -> list[PrivacyRequest] | None:
        now = info.context.clock()
        return [PrivacyRequest.build(row, now) for row in await queue.mine(info.context)]

    @strawberry.field(description="The DPO queue, by legal due date (support: inquiries only).")
    async def privacy_requests(
        self,
        info: Info[Context, None],
        status: PrivacyRequestStatus | None = None,
        kind: RequestKind | None = None,
        overdue: bool | None = None,
        due_before: datetime | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> Page[PrivacyRequest] | None:
        where = queue.QueueFilter(
            status=status.value if status else None,
            kind=kind,
            overdue=overdue,
            due_before=due_before,
        )
        rows, more = await queue.page(info.context, where, first, after)
        now = info.context.clock()
        end = queue.encode_cursor(rows[-1]) if rows else None
        return Page(
            nodes=[PrivacyRequest.build(row, now) for row in rows],
            page_info=PageInfo(has_next_page=more, end_cursor=end),
        )

    @strawberry.field(description="One request: the subject's own, or in the viewer's queue.")
    async def privacy_request(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> PrivacyRequest | None:
        row = await queue.one(info.context, parse_id(id))
        return None if row is None else PrivacyRequest.build(row, info.context.clock())


@strawberry.type
class RequestMutations:
    @strawberry.mutation(description="Write to the DPO: a question, a complaint or an objection.")
    async def submit_privacy_inquiry(
        self, info: Info[Context, None], kind: inquiries.InquiryKind, message: str
    ) -> PrivacyRequestPayload:
        return await request_payload(info, lambda: inquiries.submit(info.context, kind, message))

    @strawberry.mutation(
        description="Ask for the account to be deleted (Art. 6.2): restricted at once, erased "
        "by the due date. Needs a recent sign-in."
    )
    async def request_account_deletion(
        self, info: Info[Context, None], reason: str | None = None
    ) -> PrivacyRequestPayload:
        return await request_payload(info, lambda: deletion.request_deletion(info.context, reason))

    @strawberry.mutation(
        description="Take back your account deletion during the grace period "
        "(GATEWAY_DELETION_GRACE_DAYS); the account is active again."
    )
    async def cancel_account_deletion(self, info: Info[Context, None]) -> PrivacyRequestPayload:
        return await request_payload(info, lambda: deletion.cancel_deletion(info.context))

    @strawberry.mutation(description="Withdraw one of your own open requests.")
    async def cancel_privacy_request(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> PrivacyRequestPayload:
        return await request_payload(info, lambda: handling.cancel(info.context, parse_id(id)))

    @strawberry.mutation(description="DPO or support: take a request in hand (IN_PROGRESS).")
    async def start_privacy_request(
        self, info: Info[Context, None], id: strawberry.ID
    ) -> PrivacyRequestPayload:
        return await request_payload(info, lambda: handling.start(info.context, parse_id(id)))

    @strawberry.mutation(
        description="DPO: apply the extension the law allows (GDPR +2 months, RU +5 working "
        "days); refused where it allows none. The subject sees the new date and the reason."
    )
    async def extend_privacy_request(
        self, info: Info[Context, None], id: strawberry.ID, reason: str
    ) -> PrivacyRequestPayload:
        return await request_payload(
            info, lambda: handling.extend(info.context, parse_id(id), reason)
        )

    @strawberry.mutation(
        description="DPO or support: close a request as COMPLETED or REJECTED with an answer "
        "the subject reads; completing a correction applies it."
    )
    async def resolve_privacy_request(
        self,
        info: Info[Context, None],
        id: strawberry.ID,
        status: PrivacyRequestStatus,
        answer: str,
    ) -> PrivacyRequestPayload:
        return await request_payload(
            info, lambda: handling.resolve(info.context, parse_id(id), status.value, answer)
        )
