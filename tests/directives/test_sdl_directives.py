import strawberry

from directives.masking import Strategy
from directives.sdl import Personal, Retained, personal_fields, retained
from directives.taxonomy import Category, LawfulBasis


@strawberry.type(directives=[Retained(basis=LawfulBasis.LEGAL_OBLIGATION, years=5)])
class Invoice:
    number: str
    buyer_email: str | None = strawberry.field(
        directives=[
            Personal(category=Category.USER_CONTACT_EMAIL, subject="buyer", strategy=Strategy.EMAIL)
        ]
    )
    billing_name: str | None = strawberry.field(
        name="billedTo", directives=[Personal(category=Category.USER_FINANCIAL_BILLING)]
    )


@strawberry.type
class Query:
    @strawberry.field
    def invoice(self) -> Invoice:
        return Invoice(number="1", buyer_email=None, billing_name=None)


def test_schema_prints_both_directives() -> None:
    sdl = str(strawberry.Schema(query=Query))
    assert (
        "buyerEmail: String @personal(category: USER_CONTACT_EMAIL, subject: "
        '"buyer", strategy: EMAIL)'
    ) in sdl
    assert "billedTo: String @personal(category: USER_FINANCIAL_BILLING" in sdl
    assert "type Invoice @retained(basis: LEGAL_OBLIGATION, years: 5)" in sdl
    assert "directive @personal(" in sdl and "on FIELD_DEFINITION" in sdl
    assert "directive @retained(" in sdl and "on OBJECT" in sdl
    assert "USER_CONTACT_EMAIL" in sdl.split("enum Category")[1]


def test_personal_fields_reads_the_directives() -> None:
    fields = personal_fields(Invoice)
    assert [(python, graphql) for python, graphql, _ in fields] == [
        ("buyer_email", "buyerEmail"),
        ("billing_name", "billedTo"),
    ]
    email = fields[0][2]
    assert email.category is Category.USER_CONTACT_EMAIL
    assert email.subject == "buyer" and email.strategy is Strategy.EMAIL
    billing = fields[1][2]
    assert billing.subject is None and billing.strategy is Strategy.REDACT
    assert personal_fields(Invoice, auto_camel_case=False)[0][1] == "buyer_email"


def test_retained_reads_the_type_directive() -> None:
    hold = retained(Invoice)
    assert hold is not None
    assert hold.basis is LawfulBasis.LEGAL_OBLIGATION and hold.years == 5
    assert retained(Query) is None
