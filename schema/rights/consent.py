"""Consent as GraphQL: the state of each purpose, its ledger, and setting it."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry
from strawberry.types import Info

from directives.taxonomy import LawfulBasis, Purpose
from resolvers.context import Context
from resolvers.rights import consent
from resolvers.rights.refusals import Refusal
from schema.rights.types import Refused, refused

strawberry.enum(Purpose, description="Why personal data is processed (Art. 2.2).")


@strawberry.type(description="Where one purpose of the privacy notice stands for you.")
class PurposeConsent:
    purpose: Purpose
    basis: LawfulBasis
    withdrawable: bool = strawberry.field(description="Only consent can be withdrawn (Art. 4.3).")
    granted: bool
    since: datetime | None
    notice_version: str | None

    @classmethod
    def of(cls, state: consent.PurposeState) -> PurposeConsent:
        return cls(
            purpose=state.purpose,
            basis=state.basis,
            withdrawable=state.withdrawable,
            granted=state.granted,
            since=_aware(state.since),
            notice_version=state.notice_version,
        )


@strawberry.type(description="One grant or withdrawal, as the ledger keeps it forever.")
class ConsentRecord:
    purpose: str
    granted: bool
    notice_version: str
    channel: str
    recorded_at: datetime


@strawberry.type(description="Your consent: each purpose's state and the whole ledger.")
class ConsentOverview:
    purposes: list[PurposeConsent]
    history: list[ConsentRecord]


@strawberry.type(
    description="A purpose that rests on the contract or the law cannot be withdrawn without "
    "closing the account: deleting the account is the way out (Art. 4.3)."
)
class ConsentNotWithdrawable:
    purpose: Purpose
    basis: LawfulBasis
    why: str
    way_out: str = "requestAccountDeletion"


@strawberry.type(description="The purpose's new state, or why nothing changed.")
class SetConsentPayload:
    consent: PurposeConsent | None = None
    not_withdrawable: ConsentNotWithdrawable | None = None
    errors: list[Refused] = strawberry.field(default_factory=list)


@strawberry.type
class ConsentQueries:
    @strawberry.field(description="The signed-in user's consent per purpose, and its history.")
    async def my_consents(self, info: Info[Context, None]) -> ConsentOverview | None:
        try:
            states, ledger = await consent.consents(info.context)
        except Refusal as exc:
            from resolvers.errors import ForbiddenError, UnauthenticatedError

            raise (UnauthenticatedError if exc.code == "UNAUTHENTICATED" else ForbiddenError)(
                exc.message
            ) from None
        return ConsentOverview(
            purposes=[PurposeConsent.of(state) for state in states],
            history=[
                ConsentRecord(
                    purpose=row.purpose,
                    granted=row.granted,
                    notice_version=row.notice_version,
                    channel=row.method,
                    recorded_at=_utc(row.recorded_at),
                )
                for row in ledger
            ],
        )


@strawberry.type
class ConsentMutations:
    @strawberry.mutation(
        description="Grant or withdraw consent for a purpose; acts from the next request on."
    )
    async def set_consent(
        self, info: Info[Context, None], purpose: Purpose, granted: bool, notice_version: str
    ) -> SetConsentPayload:
        try:
            state = await consent.set_consent(info.context, purpose, granted, notice_version)
        except consent.NotWithdrawable as exc:
            return SetConsentPayload(
                not_withdrawable=ConsentNotWithdrawable(
                    purpose=exc.purpose, basis=exc.basis, why=exc.why
                ),
                errors=[refused(exc)],
            )
        except Refusal as exc:
            return SetConsentPayload(errors=[refused(exc)])
        return SetConsentPayload(consent=PurposeConsent.of(state))


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
