"""Consent (Art. 4.3; GDPR Art. 7(3)): a ledger appended to, never overwritten, and the
current state kept in step with it in the same transaction.

The current state is written first (`UPDATE users ...`), which takes the subject's row
lock on PostgreSQL (and the write lock on SQLite) before the ledger row is added: of two
concurrent toggles, the second waits for the first to commit, so the last ledger row is
always the current state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from directives.deadlines import RequestKind
from directives.taxonomy import PURPOSE_BASIS, LawfulBasis, Purpose, withdrawable
from gateway.db import models as m
from resolvers.context import Context
from resolvers.rights.refusals import Code, Refusal, subject_of, text_argument
from resolvers.rights.requests import actor_of, move, new_request

# The purposes the privacy notice asks users about (Art. 2.2); the others (SUPPORT,
# SECURITY, LEGAL) are staff purposes, never a user's choice.
NOTICE_PURPOSES = (Purpose.IDENTIFICATION, Purpose.FULFILLMENT, Purpose.BILLING, Purpose.ANALYTICS)
NOTICE_VERSION_LIMIT = 20
CHANNEL = "API"
# Where each consent-based purpose keeps its current state, beside the ledger.
CURRENT_STATE = {Purpose.ANALYTICS: m.User.analytics_consent}

_WHY = {
    LawfulBasis.CONTRACT: "it is needed to provide the service you signed up for",
    LawfulBasis.LEGAL_OBLIGATION: "the law obliges the platform to keep these records",
    LawfulBasis.LEGITIMATE_INTEREST: "it protects users and the platform (fraud, disputes)",
}


class NotWithdrawable(Refusal):
    """Withdrawing a purpose that rests on the contract or the law: not possible without
    closing the account (Art. 4.3); the way out is account deletion."""

    def __init__(self, purpose: Purpose) -> None:
        self.purpose = purpose
        self.basis = PURPOSE_BASIS[purpose]
        self.why = _WHY[self.basis]
        super().__init__(
            Code.NOT_WITHDRAWABLE,
            f"{purpose.value} rests on {self.basis.value}, not on consent: {self.why}. "
            "To stop it, delete the account (requestAccountDeletion); records the law "
            "requires are kept (Art. 6.5).",
            "purpose",
        )


@dataclass(frozen=True, slots=True)
class PurposeState:
    purpose: Purpose
    basis: LawfulBasis
    withdrawable: bool
    granted: bool
    since: datetime | None
    notice_version: str | None


async def set_consent(
    ctx: Context, purpose: Purpose, granted: bool, notice_version: str
) -> PurposeState:
    subject_id = subject_of(ctx)
    version = text_argument(notice_version, "noticeVersion", limit=NOTICE_VERSION_LIMIT)
    if purpose not in NOTICE_PURPOSES:
        raise Refusal(
            Code.INVALID,
            f"{purpose.value} is a staff purpose, not one the privacy notice asks you about",
            "purpose",
        )
    if not withdrawable(purpose):
        if not granted:
            raise NotWithdrawable(purpose)
        raise Refusal(
            Code.INVALID,
            f"{purpose.value} rests on {PURPOSE_BASIS[purpose].value}, not on consent: "
            "there is nothing to grant",
            "purpose",
        )
    async with ctx.sessions() as session, session.begin():
        now = ctx.clock()
        changed = await session.execute(
            update(m.User)
            .where(m.User.id == subject_id, m.User.deletion_state == "ACTIVE")
            .values({CURRENT_STATE[purpose]: granted})
        )
        if changed.rowcount != 1:  # type: ignore[attr-defined]
            raise Refusal(
                Code.NOT_ALLOWED,
                "consent cannot be changed while the account is being deleted",
            )
        session.add(
            m.Consent(
                subject_id=subject_id,
                purpose=purpose.value,
                granted=granted,
                notice_version=version,
                method=CHANNEL,
                recorded_at=now,
            )
        )
        if not granted:
            await _record_withdrawal(session, ctx, subject_id, purpose, now)
    return PurposeState(purpose, PURPOSE_BASIS[purpose], True, granted, now, version)


async def _record_withdrawal(
    session: AsyncSession, ctx: Context, subject_id: int, purpose: Purpose, now: datetime
) -> None:
    """A withdrawal is done at once; the request records it, with the deadline the law set
    for stopping (RU: 30 days to destroy), for the subject's list and the DPO's."""
    subject = await session.get(m.User, subject_id)
    assert subject is not None
    request = await new_request(
        session,
        ctx,
        subject,
        RequestKind.CONSENT_WITHDRAWAL,
        now=now,
        target=purpose.value,
        details=f"{purpose.value} consent withdrawn through the API",
    )
    request.open_key = None  # done at once: never the open one a later request returns
    request.outcome = f"{purpose.value} consent withdrawn; acts from the next request on"
    move(session, request, "COMPLETED", actor=actor_of(ctx), now=now, note=request.outcome)


async def consents(ctx: Context) -> tuple[list[PurposeState], list[m.Consent]]:
    """The current state of each purpose of the notice, and the whole ledger, newest first."""
    subject_id = subject_of(ctx)
    async with ctx.sessions() as session:
        user = await session.get(m.User, subject_id)
        ledger = list(
            (
                await session.scalars(
                    select(m.Consent)
                    .where(m.Consent.subject_id == subject_id)
                    .order_by(m.Consent.id.desc())
                )
            ).all()
        )
    assert user is not None
    latest: dict[str, m.Consent] = {}
    for row in ledger:
        latest.setdefault(row.purpose, row)
    states = []
    for purpose in NOTICE_PURPOSES:
        last = latest.get(purpose.value)
        consent_based = withdrawable(purpose)
        if consent_based:
            granted = bool(getattr(user, CURRENT_STATE[purpose].key))
        else:  # the contract's purposes last as long as the account
            granted = user.deletion_state == "ACTIVE"
        states.append(
            PurposeState(
                purpose,
                PURPOSE_BASIS[purpose],
                consent_based,
                granted,
                last.recorded_at if last else None,
                last.notice_version if last else None,
            )
        )
    return states, ledger
