"""The audit trail as GraphQL: who saw my data (`myDisclosures`) and whether the chain
holds (`verifyAuditChain`)."""

from __future__ import annotations

from datetime import date

import strawberry
from strawberry.types import Info

from directives.taxonomy import Purpose, Role
from resolvers.audit import access, disclosures
from resolvers.audit.chain import Break
from resolvers.context import Context
from resolvers.errors import ForbiddenError, InputError, UnauthenticatedError
from resolvers.rights.refusals import Code, Refusal
from schema.rights import consent as _registers_purpose  # noqa: F401  (the Purpose enum)
from schema.types.common import Page, PageInfo

strawberry.enum(Role, name="EmployeeRole", description="An employee's role (Art. 3.2).")
strawberry.enum(Break, name="AuditBreak", description="How the audit chain fails at an event.")


@strawberry.type(description="One category of your data and how many reads carried it.")
class DisclosedCategory:
    category: str = strawberry.field(description="A data category, e.g. user.contact.email.")
    reads: int


@strawberry.type(
    description="Staff of one role, for one purpose, read your data on this day (UTC): which "
    "categories, how often, in how many requests. Never which employee."
)
class Disclosure:
    day: date
    role: Role
    purpose: Purpose
    requests: int
    categories: list[DisclosedCategory]

    @classmethod
    def of(cls, item: disclosures.Disclosure) -> Disclosure:
        return cls(
            day=item.day,
            role=Role(item.role),
            purpose=Purpose(item.purpose),
            requests=item.requests,
            categories=[DisclosedCategory(category=c, reads=n) for c, n in item.categories],
        )


@strawberry.type(description="Whether the audit chain holds, and if not, where it breaks.")
class AuditChainVerdict:
    intact: bool
    events: int = strawberry.field(description="Events checked, in id order.")
    head_id: strawberry.ID | None = strawberry.field(description="The chain head's last event.")
    head_hash: str = strawberry.field(
        description="The head's hash: write it down elsewhere to compare later (an anchor)."
    )
    broken_at: strawberry.ID | None = strawberry.field(
        description="The first event that does not hold (or is missing)."
    )
    reason: Break | None
    message: str


@strawberry.type
class AuditQueries:
    @strawberry.field(
        description="Who saw my data (GDPR Art. 15(1)(c)): per day, role and purpose, the "
        "categories staff read, newest first. For the signed-in platform user."
    )
    async def my_disclosures(
        self, info: Info[Context, None], first: int = 20, after: str | None = None
    ) -> Page[Disclosure] | None:
        key = None if after is None else disclosures.decode_cursor(after)  # as every list
        try:
            items, more = await disclosures.disclosures(info.context, first, key)
        except Refusal as exc:
            raise as_error(exc) from None
        end = disclosures.encode_cursor(items[-1]) if items else None
        return Page(
            nodes=[Disclosure.of(item) for item in items],
            page_info=PageInfo(has_next_page=more, end_cursor=end),
        )

    @strawberry.field(
        description="DPO (LEGAL) or security (SECURITY, LEGAL): walk the audit chain and name "
        "the first event whose hash or link does not hold."
    )
    async def verify_audit_chain(self, info: Info[Context, None]) -> AuditChainVerdict | None:
        try:
            verdict = await access.verify_chain(info.context)
        except Refusal as exc:
            raise as_error(exc) from None
        return AuditChainVerdict(
            intact=verdict.intact,
            events=verdict.events,
            head_id=strawberry.ID(str(verdict.head_id)) if verdict.head_id else None,
            head_hash=verdict.head_hash,
            broken_at=None if verdict.broken_at is None else strawberry.ID(str(verdict.broken_at)),
            reason=verdict.reason,
            message=verdict.message,
        )


def as_error(exc: Refusal) -> InputError:
    """A query's refusal as a coded GraphQL error (a mutation's goes in its payload)."""
    if exc.code == Code.UNAUTHENTICATED:
        return UnauthenticatedError(exc.message)
    return ForbiddenError(exc.message)
