from directives.taxonomy import (
    PURPOSE_BASIS,
    ROLE_PURPOSES,
    Category,
    LawfulBasis,
    Purpose,
    Role,
    withdrawable,
)


def test_member_names_are_the_uppercase_dotted_values() -> None:
    for category in Category:
        assert category.name == category.value.replace(".", "_").upper()


def test_domain_and_parent() -> None:
    assert Category.USER_CONTACT_EMAIL.domain == "user"
    assert Category.USER_CONTACT_EMAIL.parent == "user.contact"
    assert Category.COMPANY_IDENTITY_TAX_ID.domain == "company"
    assert Category.COMPANY_IDENTITY_TAX_ID.parent == "company.identity"


def test_enums_are_strings_with_their_value() -> None:
    assert isinstance(Category.USER_CONTACT_EMAIL, str)
    assert str(Category.USER_CONTACT_EMAIL) == "user.contact.email"
    assert all(purpose.value == purpose.name for purpose in Purpose)


def test_every_purpose_has_a_basis_and_only_consent_is_withdrawable() -> None:
    assert set(PURPOSE_BASIS) == set(Purpose)
    assert [p for p in Purpose if withdrawable(p)] == [Purpose.ANALYTICS]
    assert PURPOSE_BASIS[Purpose.BILLING] is LawfulBasis.LEGAL_OBLIGATION
    assert PURPOSE_BASIS[Purpose.FULFILLMENT] is LawfulBasis.CONTRACT


def test_role_purposes() -> None:
    assert set(ROLE_PURPOSES) == set(Role)
    assert ROLE_PURPOSES[Role.ANALYST] == {Purpose.ANALYTICS}
    assert ROLE_PURPOSES[Role.DPO] == {Purpose.LEGAL, Purpose.SUPPORT}
