"""Correction as GraphQL: the profile, the addresses, company details through the DPO, and
the history of what was corrected (never the values)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import strawberry
from strawberry.types import Info

from gateway.db import models as m
from resolvers.context import Context
from resolvers.rights import correction
from resolvers.rights.correction import KEEP, AddressChange, CompanyField, ProfileChange
from resolvers.rights.refusals import Refusal
from schema.rights.types import PrivacyRequestPayload, Refused, refused, request_payload
from schema.types.common import present
from schema.types.people import Address, User

strawberry.enum(CompanyField, description="A company detail that changes only through the DPO.")


def _given(value: Any) -> Any:
    """strawberry.UNSET (left out of the input) becomes KEEP; null stays None."""
    return KEEP if value is strawberry.UNSET else value


@strawberry.input(
    description="Only the fields given change. null removes the phone; fullName and email "
    "cannot be removed. An empty string is refused, never taken as 'remove'."
)
class ProfileInput:
    full_name: str | None = strawberry.field(
        default=strawberry.UNSET, description="1 to 200 characters, one line."
    )
    email: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Checked for syntax (no lookup) and stored normalized; unique across "
        "accounts. Changing it needs a sign-in within GATEWAY_REAUTH_SECONDS.",
    )
    phone: str | None = strawberry.field(
        default=strawberry.UNSET,
        description="Stored in E.164. With + and the country code; KZ, RU and CN accounts "
        "may also give a national number of their country. null removes it.",
    )


@strawberry.input(description="A new shipping address.")
class AddressInput:
    line1: str = strawberry.field(description="Street and number, at most 200 characters.")
    city: str = strawberry.field(description="At most 100 characters.")
    country: str = strawberry.field(description="ISO 3166-1 alpha-2, e.g. DE or KZ.")
    postal_code: str | None = strawberry.field(
        default=None, description="Letters, digits, spaces and hyphens, at most 20."
    )
    is_default: bool = strawberry.field(
        default=False, description="true makes it the only default address."
    )


@strawberry.input(
    description="Changes to an address: only the fields given change; null removes the "
    "postal code and is refused for the others."
)
class AddressPatch:
    line1: str | None = strawberry.UNSET
    city: str | None = strawberry.UNSET
    country: str | None = strawberry.UNSET
    postal_code: str | None = strawberry.UNSET
    is_default: bool | None = strawberry.UNSET


@strawberry.type(description="Your profile after the change, or why nothing changed.")
class ProfilePayload:
    user: User | None = None
    errors: list[Refused] = strawberry.field(default_factory=list)


@strawberry.type(
    description="The address after the change (null once removed) and your profile, with "
    "every address; or why nothing changed."
)
class AddressPayload:
    address: Address | None = None
    removed_id: strawberry.ID | None = None
    user: User | None = None
    errors: list[Refused] = strawberry.field(default_factory=list)


@strawberry.type(
    description="That a field of yours was corrected: when, by whom, on which request. "
    "Never the old or the new value. Fields: fullName, email, phone, company.legalName, "
    "company.taxId, company.registeredAddress, address.<id>.<field>, address.<id>.added, "
    "address.<id>.removed."
)
class CorrectionRecord:
    field: str
    occurred_at: datetime
    actor: str = strawberry.field(description="user:<id>, or employee:<id> for the DPO.")
    request_id: strawberry.ID | None = strawberry.field(
        description="The correction request it applied, if it went through the DPO."
    )


@strawberry.type
class CorrectionQueries:
    @strawberry.field(description="What of yours was corrected, newest first; never values.")
    async def my_corrections(self, info: Info[Context, None]) -> list[CorrectionRecord] | None:
        return [
            CorrectionRecord(
                field=row.field,
                occurred_at=_utc(row.occurred_at),
                actor=row.actor,
                request_id=None if row.request_id is None else strawberry.ID(str(row.request_id)),
            )
            for row in await correction.corrections(info.context)
        ]


@strawberry.type
class CorrectionMutations:
    @strawberry.mutation(
        description="Correct your full name, email or phone at once (Art. 4.2). All given "
        "fields change, or none; every refusal names its field."
    )
    async def update_my_profile(
        self, info: Info[Context, None], input: ProfileInput
    ) -> ProfilePayload:
        change = ProfileChange(
            full_name=_given(input.full_name),
            email=_given(input.email),
            phone=_given(input.phone),
        )
        result = await _attempt(lambda: correction.update_profile(info.context, change))
        if isinstance(result, list):
            return ProfilePayload(errors=result)
        return ProfilePayload(user=await _fresh_user(info, result))

    @strawberry.mutation(description="Add a shipping address of your own.")
    async def add_address(self, info: Info[Context, None], input: AddressInput) -> AddressPayload:
        change = AddressChange(
            line1=input.line1,
            city=input.city,
            postal_code=input.postal_code,
            country=input.country,
            is_default=input.is_default,
        )
        return await _address_payload(info, lambda: correction.add_address(info.context, change))

    @strawberry.mutation(description="Correct one of your addresses.")
    async def update_address(
        self, info: Info[Context, None], id: strawberry.ID, input: AddressPatch
    ) -> AddressPayload:
        change = AddressChange(
            line1=_given(input.line1),
            city=_given(input.city),
            postal_code=_given(input.postal_code),
            country=_given(input.country),
            is_default=_given(input.is_default),
        )
        return await _address_payload(
            info, lambda: correction.update_address(info.context, str(id), change)
        )

    @strawberry.mutation(description="Remove one of your addresses; none becomes default.")
    async def remove_address(self, info: Info[Context, None], id: strawberry.ID) -> AddressPayload:
        result = await _attempt(lambda: correction.remove_address(info.context, str(id)))
        if isinstance(result, list):
            return AddressPayload(errors=result)
        user = await _fresh_user(info, None)
        return AddressPayload(removed_id=strawberry.ID(str(result)), user=user)

    @strawberry.mutation(
        description="Ask the DPO to correct your company's legal name, tax id or registered "
        "address (contact person only). Applied when the DPO completes the request; the "
        "proposed value is kept only until then. One open request per field: asking again "
        "returns it (created: false)."
    )
    async def request_correction(
        self,
        info: Info[Context, None],
        field: CompanyField,
        proposed_value: str,
        reason: str,
    ) -> PrivacyRequestPayload:
        return await request_payload(
            info,
            lambda: correction.request_correction(info.context, field, proposed_value, reason),
        )


async def _attempt(work: Callable[[], Awaitable[Any]]) -> Any:
    """The use case's result, or every refusal it raised as the payload's errors."""
    try:
        return await work()
    except correction.FieldRefusals as exc:
        return [refused(r) for r in exc.refusals]
    except Refusal as exc:
        return [refused(exc)]


async def _address_payload(
    info: Info[Context, None], work: Callable[[], Awaitable[m.Address]]
) -> AddressPayload:
    result = await _attempt(work)
    if isinstance(result, list):
        return AddressPayload(errors=result)
    address = await present(info, Address.build, result)
    return AddressPayload(address=address, user=await _fresh_user(info, None))


async def _fresh_user(info: Info[Context, None], row: m.User | None) -> User | None:
    """The subject as every read projects them, from what was just committed: what this
    request had loaded or built of them before the change is forgotten."""
    ctx = info.context
    user_id = ctx.viewer.user_id
    assert user_id is not None  # the use case refused everyone else
    ctx.built.pop((User, user_id), None)
    ctx.loaders.user_by_id.clear(user_id)
    ctx.loaders.addresses_by_user.clear(user_id)
    if row is None:
        row = await ctx.loaders.user_by_id.load(user_id)
    return await present(info, User.build, row)


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
