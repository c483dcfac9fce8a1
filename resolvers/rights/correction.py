"""Correction (Art. 4.2, 5.2): a subject keeps their profile and addresses accurate at once;
their company's legal identity changes when the DPO approves a request (`apply_approved`).

Every applied change appends a `CorrectionEvent` naming the field, never the old or the new
value. Refusals name the field and the rule, never what was submitted: it is personal data.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum, StrEnum

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from directives.deadlines import RequestKind
from gateway.db import models as m
from resolvers import ids
from resolvers.context import Context
from resolvers.errors import ForbiddenError, UnauthenticatedError
from resolvers.rights.refusals import (
    Code,
    Refusal,
    recently_signed_in,
    subject_of,
    text_argument,
)
from resolvers.rights.requests import actor_of, file_once, new_request

NAME_LIMIT = 200  # users.full_name, companies.legal_name
EMAIL_LIMIT = 254  # users.email (RFC 5321's longest path)
PHONE_LIMIT = 40  # users.phone: what a person types, spaces and dashes included
LINE1_LIMIT, CITY_LIMIT, POSTAL_CODE_LIMIT = 200, 100, 20
TAX_ID_LIMIT, REGISTERED_ADDRESS_LIMIT = 40, 300
REASON_LIMIT = 2000

# The country a phone number without "+" is read in. EU accounts span many countries,
# so theirs must carry the country code.
PHONE_REGION: dict[str, str | None] = {"EU": None, "KZ": "KZ", "RU": "RU", "CN": "CN"}

_PHONE_CHARACTERS = re.compile(r"\+?[0-9(][0-9 ()./-]*")
_POSTAL_CODE = re.compile(r"[0-9A-Za-z][0-9A-Za-z -]*")
_TAX_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z ./-]*")
# Bidirectional embeddings, overrides and isolates: they make a value display as another.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NOT_TEXT = frozenset({"Cc", "Cs", "Zl", "Zp"})  # controls, surrogates, line breaks


class Keep(Enum):
    """An input field the client left out: the stored value stays as it is."""

    KEEP = "KEEP"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class ProfileChange:
    full_name: str | Keep | None = KEEP
    email: str | Keep | None = KEEP
    phone: str | Keep | None = KEEP  # None removes the phone


@dataclass(frozen=True, slots=True)
class AddressChange:
    line1: str | Keep | None = KEEP
    city: str | Keep | None = KEEP
    postal_code: str | Keep | None = KEEP  # None: the address has none
    country: str | Keep | None = KEEP
    is_default: bool | Keep | None = KEEP


class FieldRefusals(Refusal):
    """Every field at fault in one answer, so a form can mark them all; changes nothing."""

    def __init__(self, refusals: list[Refusal]) -> None:
        first = refusals[0]
        super().__init__(first.code, first.message, first.field)
        self.refusals = refusals


# -- values ---------------------------------------------------------------------------------


def one_line(value: str | None, field: str, limit: int) -> str:
    """Trimmed NFC text of 1..limit characters, without control or bidi characters."""
    if value is None:
        raise Refusal(Code.INVALID, f"{field} cannot be removed, only corrected", field)
    text = text_argument(unicodedata.normalize("NFC", value), field, limit=limit)
    if any(unicodedata.category(c) in _NOT_TEXT or c in _BIDI_CONTROLS for c in text):
        raise Refusal(
            Code.INVALID, f"{field} must be one line of text without control characters", field
        )
    return text


def person_name(value: str | None) -> str:
    return one_line(value, "fullName", NAME_LIMIT)


def email_address(value: str | None) -> str:
    """The normalized form (domain lowercased, Unicode NFC); syntax only, no DNS lookup."""
    if value is None:
        raise Refusal(Code.INVALID, "email cannot be removed, only corrected", "email")
    text = text_argument(value, "email", limit=EMAIL_LIMIT)
    try:
        normalized: str = validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError:
        # Its message quotes the address: say the rule instead.
        raise Refusal(
            Code.INVALID,
            "email is not a valid address: a name, one @ and a domain such as example.org",
            "email",
        ) from None
    if len(normalized) > EMAIL_LIMIT:
        raise Refusal(Code.TOO_LONG, f"email is longer than {EMAIL_LIMIT} characters", "email")
    return normalized


def phone_number(value: str | None, jurisdiction: str) -> str | None:
    """E.164 (`+4915143464097`); None removes the phone."""
    if value is None:
        return None
    text = unicodedata.normalize("NFKC", value).strip()  # full-width digits become ASCII
    if not text:
        raise Refusal(Code.INVALID, "phone must not be empty; send null to remove it", "phone")
    if len(text) > PHONE_LIMIT:
        raise Refusal(Code.TOO_LONG, f"phone is longer than {PHONE_LIMIT} characters", "phone")
    region = PHONE_REGION.get(jurisdiction)
    rule = (
        f"phone must be a valid number, with + and the country code or a {region} number"
        if region
        else "phone must be a valid number written with + and the country code"
    )
    if _PHONE_CHARACTERS.fullmatch(text) is None:
        raise Refusal(Code.INVALID, f"{rule}: digits, spaces, ( ) . / - only", "phone")
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        raise Refusal(Code.INVALID, rule, "phone") from None
    if not phonenumbers.is_valid_number(number):
        raise Refusal(Code.INVALID, rule, "phone")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def postal_code(value: str | None) -> str | None:
    if value is None:
        return None
    text = text_argument(
        unicodedata.normalize("NFKC", value), "postalCode", limit=POSTAL_CODE_LIMIT
    )
    if _POSTAL_CODE.fullmatch(text) is None:
        raise Refusal(
            Code.INVALID, "postalCode holds letters, digits, spaces and hyphens only", "postalCode"
        )
    return text


def country_code(value: str | None) -> str:
    """ISO 3166-1 alpha-2, any case in, upper case out; whether it is assigned is not checked."""
    text = (value or "").strip()
    if not (len(text) == 2 and text.isascii() and text.isalpha()):
        raise Refusal(
            Code.INVALID, "country is a two-letter ISO 3166-1 code such as DE or KZ", "country"
        )
    return text.upper()


def tax_id(value: str | None) -> str:
    text = one_line(value, "proposedValue", TAX_ID_LIMIT)
    if _TAX_ID.fullmatch(text) is None:
        raise Refusal(
            Code.INVALID,
            "a tax id holds letters, digits, spaces and . / - only",
            "proposedValue",
        )
    return text


# -- the profile ----------------------------------------------------------------------------

PROFILE_COLUMNS = {"fullName": "full_name", "email": "email", "phone": "phone"}


async def email_in_use(session: AsyncSession, email: str, subject_id: int) -> bool:
    """Whether another account uses this address, in any letter case (whose is not said)."""
    found = await session.scalar(
        select(m.User.id)
        .where(func.lower(m.User.email) == email.lower(), m.User.id != subject_id)
        .limit(1)
    )
    return found is not None


async def update_profile(ctx: Context, change: ProfileChange) -> m.User:
    """Apply the given fields that differ from the stored ones; all of them or none."""
    subject_id = subject_of(ctx)
    async with ctx.sessions() as session, session.begin():
        user = await own_account(session, subject_id)
        now = ctx.clock()
        wanted: dict[str, str | None] = {}
        refusals: list[Refusal] = []
        checks: tuple[tuple[str, str | Keep | None, Callable[[str | None], str | None]], ...] = (
            ("fullName", change.full_name, person_name),
            ("email", change.email, email_address),
            ("phone", change.phone, lambda v: phone_number(v, user.jurisdiction)),
        )
        for field, value, check in checks:
            if isinstance(value, Keep):
                continue
            try:
                cleaned = check(value)
            except Refusal as exc:
                refusals.append(exc)
                continue
            if cleaned != getattr(user, PROFILE_COLUMNS[field]):
                wanted[field] = cleaned
        if "email" in wanted:
            try:
                recently_signed_in(ctx, now.timestamp(), "changing the email")
            except Refusal as exc:
                # Fresh sign-in first: a stale token must not learn which addresses are taken.
                refusals.append(Refusal(exc.code, exc.message, "email"))
            else:
                if await email_in_use(session, str(wanted["email"]), subject_id):
                    refusals.append(_taken())
        if refusals:
            raise FieldRefusals(refusals)
        for field, cleaned in wanted.items():
            setattr(user, PROFILE_COLUMNS[field], cleaned)
        try:
            await session.flush()
        except IntegrityError:
            if "email" not in wanted:
                raise
            raise _taken() from None  # lost a race for the address: the UNIQUE constraint
        record(session, ctx, subject_id, list(wanted), now)
    return user


def _taken() -> Refusal:
    return Refusal(Code.TAKEN, "another account uses this email address", "email")


async def own_account(session: AsyncSession, subject_id: int) -> m.User:
    """The subject's row, locked: their corrections run one after another (PostgreSQL)."""
    user = await session.scalar(select(m.User).where(m.User.id == subject_id).with_for_update())
    if user is None:
        raise Refusal(Code.UNAUTHENTICATED, "the signed-in account no longer exists")
    if user.deletion_state != "ACTIVE":
        raise Refusal(
            Code.NOT_ALLOWED,
            "the account is being deleted: cancel the deletion to correct its data",
        )
    return user


def record(
    session: AsyncSession,
    ctx: Context,
    subject_id: int,
    fields: list[str],
    now: datetime,
    request_id: int | None = None,
) -> None:
    """That these fields changed, when, by whom, on which request: never a value."""
    for field in fields:
        session.add(
            m.CorrectionEvent(
                subject_id=subject_id,
                field=field,
                occurred_at=now,
                actor=actor_of(ctx),
                request_id=request_id,
            )
        )


# -- addresses ------------------------------------------------------------------------------

ADDRESS_COLUMNS = {
    "line1": "line1",
    "city": "city",
    "postalCode": "postal_code",
    "country": "country",
    "isDefault": "is_default",
}


def _address_values(change: AddressChange, *, adding: bool) -> dict[str, object]:
    """The cleaned values of the given fields, by GraphQL name; every refusal at once."""
    checks: tuple[tuple[str, object, Callable[[object], object]], ...] = (
        ("line1", change.line1, lambda v: one_line(_text(v), "line1", LINE1_LIMIT)),
        ("city", change.city, lambda v: one_line(_text(v), "city", CITY_LIMIT)),
        ("postalCode", change.postal_code, lambda v: postal_code(_text(v))),
        ("country", change.country, lambda v: country_code(_text(v))),
        ("isDefault", change.is_default, _flag),
    )
    values: dict[str, object] = {}
    refusals: list[Refusal] = []
    for field, value, check in checks:
        if isinstance(value, Keep):
            if adding and field in ("line1", "city", "country"):
                refusals.append(Refusal(Code.INVALID, f"{field} is required", field))
            continue
        try:
            values[field] = check(value)
        except Refusal as exc:
            refusals.append(exc)
    if refusals:
        raise FieldRefusals(refusals)
    return values


def _text(value: object) -> str | None:
    assert value is None or isinstance(value, str)
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise Refusal(Code.INVALID, "isDefault is true or false", "isDefault")
    return value


async def _addresses(session: AsyncSession, subject_id: int) -> list[m.Address]:
    rows = await session.scalars(
        select(m.Address).where(m.Address.user_id == subject_id).order_by(m.Address.id)
    )
    return list(rows.all())


def _only_default(
    session: AsyncSession,
    ctx: Context,
    chosen: m.Address,
    others: list[m.Address],
    now: datetime,
) -> None:
    """One default address: choosing one clears the others, in the same transaction."""
    cleared = [a for a in others if a.id != chosen.id and a.is_default]
    for address in cleared:
        address.is_default = False
    record(session, ctx, chosen.user_id, [f"address.{a.id}.isDefault" for a in cleared], now)


async def add_address(ctx: Context, change: AddressChange) -> m.Address:
    subject_id = subject_of(ctx)
    values = _address_values(change, adding=True)
    async with ctx.sessions() as session, session.begin():
        await own_account(session, subject_id)
        now = ctx.clock()
        address = m.Address(user_id=subject_id, postal_code=None, is_default=False)
        for field, value in values.items():
            setattr(address, ADDRESS_COLUMNS[field], value)
        others = await _addresses(session, subject_id)
        session.add(address)
        await session.flush()
        record(session, ctx, subject_id, [f"address.{address.id}.added"], now)
        if address.is_default:
            _only_default(session, ctx, address, others, now)
    return address


async def update_address(ctx: Context, address_id: str, change: AddressChange) -> m.Address:
    subject_id = subject_of(ctx)
    row_id = _address_id(address_id)
    values = _address_values(change, adding=False)
    async with ctx.sessions() as session, session.begin():
        await own_account(session, subject_id)
        now = ctx.clock()
        mine = await _addresses(session, subject_id)
        address = _own_address(mine, row_id)
        changed = [f for f, v in values.items() if getattr(address, ADDRESS_COLUMNS[f]) != v]
        for field in changed:
            setattr(address, ADDRESS_COLUMNS[field], values[field])
        record(session, ctx, subject_id, [f"address.{address.id}.{f}" for f in changed], now)
        if "isDefault" in changed and address.is_default:
            _only_default(session, ctx, address, mine, now)
    return address


async def remove_address(ctx: Context, address_id: str) -> int:
    """Deletes the row (`secure_delete` on SQLite); no other address becomes the default."""
    subject_id = subject_of(ctx)
    row_id = _address_id(address_id)
    async with ctx.sessions() as session, session.begin():
        await own_account(session, subject_id)
        address = _own_address(await _addresses(session, subject_id), row_id)
        await session.delete(address)
        record(session, ctx, subject_id, [f"address.{address.id}.removed"], ctx.clock())
    return address.id


def _address_id(text: str) -> int | None:
    try:
        return ids.parse_id(text)
    except ids.MalformedIdError as exc:
        raise Refusal(Code.INVALID, str(exc), "id") from None


def _own_address(mine: list[m.Address], address_id: int | None) -> m.Address:
    """Another person's address is not found, exactly like one that does not exist."""
    for address in mine:
        if address.id == address_id:
            return address
    raise Refusal(Code.NOT_FOUND, "you have no address with this id", "id")


# -- the company: through the DPO -----------------------------------------------------------


class CompanyField(StrEnum):
    LEGAL_NAME = "LEGAL_NAME"
    TAX_ID = "TAX_ID"
    REGISTERED_ADDRESS = "REGISTERED_ADDRESS"


@dataclass(frozen=True, slots=True)
class CompanyRule:
    target: str  # the request's target and the history's field
    column: str
    check: Callable[[str | None], str]


COMPANY_RULES: dict[CompanyField, CompanyRule] = {
    CompanyField.LEGAL_NAME: CompanyRule(
        "company.legalName", "legal_name", lambda v: one_line(v, "proposedValue", NAME_LIMIT)
    ),
    CompanyField.TAX_ID: CompanyRule("company.taxId", "tax_id", tax_id),
    CompanyField.REGISTERED_ADDRESS: CompanyRule(
        "company.registeredAddress",
        "registered_address",
        lambda v: one_line(v, "proposedValue", REGISTERED_ADDRESS_LIMIT),
    ),
}
_BY_TARGET = {rule.target: rule for rule in COMPANY_RULES.values()}


async def request_correction(
    ctx: Context, field: CompanyField, proposed_value: str, reason: str
) -> tuple[m.PrivacyRequest, bool]:
    """File a CORRECTION for the DPO, one open per field; the value waits on the request."""
    subject_of(ctx)  # anonymous callers and staff are refused before their input is read
    rule = COMPANY_RULES[field]
    value = rule.check(proposed_value)
    details = text_argument(reason, "reason", limit=REASON_LIMIT)

    async def work(session: AsyncSession, subject: m.User, now: datetime) -> m.PrivacyRequest:
        if subject.deletion_state != "ACTIVE":
            raise Refusal(
                Code.NOT_ALLOWED,
                "the account is being deleted: cancel the deletion to correct its data",
            )
        await spoken_for(session, subject)
        return await new_request(
            session,
            ctx,
            subject,
            RequestKind.CORRECTION,
            now=now,
            target=rule.target,
            details=details,
            proposed_value=value,
        )

    return await file_once(ctx, RequestKind.CORRECTION, rule.target, work)


async def spoken_for(session: AsyncSession, subject: m.User) -> m.Company:
    """The subject's company, locked, if they are its contact person.

    No company is NOT_FOUND; a member who is not the contact person is FORBIDDEN: they see
    their company already, and learn only that someone else speaks for it."""
    company = None
    if subject.company_id is not None:
        company = await session.scalar(
            select(m.Company).where(m.Company.id == subject.company_id).with_for_update()
        )
    if company is None:
        raise Refusal(Code.NOT_FOUND, "your account belongs to no company")
    if company.contact_person_id != subject.id:
        raise Refusal(
            Code.FORBIDDEN, "only the company's contact person may ask to correct its details"
        )
    return company


async def apply_approved(
    ctx: Context, session: AsyncSession, request: m.PrivacyRequest, now: datetime
) -> None:
    """The COMPLETION of a CORRECTION (in `handling.resolve`'s transaction): check the
    proposed value again, write it, record it. `move` then wipes the proposed value."""
    rule = _BY_TARGET.get(request.target or "")
    if rule is None or request.proposed_value is None:
        raise Refusal(Code.NOT_ALLOWED, "this request carries no correction to apply", "id")
    subject = await session.get(m.User, request.subject_id)
    assert subject is not None  # privacy_requests.subject_id is a foreign key
    try:
        company = await spoken_for(session, subject)
    except Refusal:
        raise Refusal(
            Code.NOT_ALLOWED,
            "the requester no longer speaks for a company: reject the request",
            "id",
        ) from None
    try:
        value = rule.check(request.proposed_value)
    except Refusal as exc:
        raise Refusal(
            Code.NOT_ALLOWED,
            f"the proposed value breaks a rule ({exc.message}): reject the request",
            "id",
        ) from None
    setattr(company, rule.column, value)
    record(session, ctx, subject.id, [rule.target], now, request.id)


# -- the history ----------------------------------------------------------------------------


async def corrections(ctx: Context) -> list[m.CorrectionEvent]:
    """The signed-in user's correction history, newest first."""
    viewer = ctx.viewer
    if viewer.is_employee:
        raise ForbiddenError("myCorrections is a platform user's own history")
    if viewer.user_id is None:
        raise UnauthenticatedError("sign in to see your correction history")
    event = m.CorrectionEvent
    async with ctx.sessions() as session:
        rows = await session.scalars(
            select(event)
            .where(event.subject_id == viewer.user_id)
            .order_by(event.occurred_at.desc(), event.id.desc())
        )
        return list(rows.all())
