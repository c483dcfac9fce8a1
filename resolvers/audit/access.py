"""Who may check the chain: the DPO (purpose LEGAL) and the security team (SECURITY or
LEGAL). Checking reads no personal data: it is not itself an audit event."""

from __future__ import annotations

from directives.taxonomy import Purpose, Role
from resolvers.audit.chain import Verdict, verify
from resolvers.context import Context
from resolvers.rights.refusals import staff

AUDITORS: dict[Role, frozenset[str]] = {
    Role.DPO: frozenset({Purpose.LEGAL.value}),
    Role.SECURITY: frozenset({Purpose.SECURITY.value, Purpose.LEGAL.value}),
}


async def verify_chain(ctx: Context) -> Verdict:
    """The chain's verdict; refuses (Refusal) anyone but the auditors."""
    staff(ctx, AUDITORS, "verify the audit chain")
    async with ctx.sessions() as session:
        conn = await session.connection()
        return await verify(conn)
