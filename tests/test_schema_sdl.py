"""The committed SDL is the printed schema, and the schema refuses unenforceable personal fields."""

from __future__ import annotations

from pathlib import Path

import pytest
import strawberry

from directives.masking import Strategy
from directives.taxonomy import Category
from schema.build import build_schema, check_personal_fields_nullable
from schema.privacy import SchemaPrivacyError
from schema.types.common import personal

ROOT = Path(__file__).resolve().parent.parent


def test_committed_schema_matches_printed_schema() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    printed = build_schema().as_str() + "\n"
    assert committed == printed, "run `privacy-gateway export-schema > schema.graphql`"


def test_sdl_carries_privacy_directives() -> None:
    sdl = build_schema().as_str()
    assert "directive @personal(" in sdl
    assert "email: String @personal(category: USER_CONTACT_EMAIL" in sdl
    assert "type Invoice @retained(basis: LEGAL_OBLIGATION, years: 5)" in sdl


def test_a_non_nullable_personal_field_is_refused_with_its_name() -> None:
    @strawberry.type
    class Leaky:
        email: str = personal(Category.USER_CONTACT_EMAIL, Strategy.EMAIL)

    with pytest.raises(SchemaPrivacyError, match=r"Leaky\.email is @personal but not nullable"):
        check_personal_fields_nullable([Leaky])


def test_nullable_personal_fields_pass() -> None:
    @strawberry.type
    class Fine:
        email: str | None = personal(Category.USER_CONTACT_EMAIL, Strategy.EMAIL)

    check_personal_fields_nullable([Fine])
