"""Who is asking: a verified token turned into a viewer known to the database."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from directives.taxonomy import Purpose, Role
from gateway.auth import Claims, ViewerKind
from gateway.db.models import Employee, User
from gateway.errors import AuthenticationError


@dataclass(frozen=True, slots=True)
class Viewer:
    kind: ViewerKind
    purpose: Purpose
    user_id: int | None = None
    user_kind: str | None = None  # BUYER | SELLER | LOGISTICS
    employee_id: int | None = None
    role: Role | None = None
    auth_time: int | None = None  # epoch seconds of the last sign-in, from the token

    @property
    def is_employee(self) -> bool:
        return self.kind is ViewerKind.EMPLOYEE

    @property
    def is_user(self) -> bool:
        return self.kind is ViewerKind.USER

    @property
    def actor(self) -> str:
        if self.user_id is not None:
            return f"user:{self.user_id}"
        if self.employee_id is not None:
            return f"employee:{self.employee_id}"
        return "anonymous"


ANONYMOUS = Viewer(ViewerKind.ANONYMOUS, Purpose.FULFILLMENT)


async def resolve_viewer(
    sessions: async_sessionmaker[AsyncSession], claims: Claims, purpose: Purpose | None
) -> Viewer:
    """Turn claims into a viewer; an unknown, erased or inactive subject is a 401."""
    if claims.kind is ViewerKind.ANONYMOUS or claims.subject_id is None:
        return ANONYMOUS
    async with sessions() as session:
        if claims.kind is ViewerKind.USER:
            row = (
                await session.execute(
                    select(User.kind, User.deletion_state).where(User.id == claims.subject_id)
                )
            ).first()
            if row is None or row.deletion_state in ("ERASED", "PURGED"):
                raise AuthenticationError("token subject is unknown")
            return Viewer(
                ViewerKind.USER,
                Purpose.FULFILLMENT,
                user_id=claims.subject_id,
                user_kind=row.kind,
                auth_time=claims.auth_time,
            )
        employee = (
            await session.execute(
                select(Employee.roles, Employee.active).where(Employee.id == claims.subject_id)
            )
        ).first()
    if employee is None or not employee.active:
        raise AuthenticationError("token subject is unknown")
    if claims.role is None or claims.role.value not in employee.roles.split(","):
        raise AuthenticationError("employee does not hold the role the token names")
    assert purpose is not None, "the caller checks the purpose header for employees"
    return Viewer(
        ViewerKind.EMPLOYEE,
        purpose,
        employee_id=claims.subject_id,
        role=claims.role,
        auth_time=claims.auth_time,
    )
