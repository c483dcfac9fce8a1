"""Property-based leak test: queries generated from the schema (hypothesis-graphql),
disguised with random aliases, inline fragments and named fragments, run over HTTP against
the canary database as several viewer classes. No response is a 5xx or an unexpected
error, and no canary reaches a viewer the policy masks or strips it for."""

from __future__ import annotations

import base64
import itertools

import graphql
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import queries

from schema.build import build_schema
from tests.leakcheck import CanaryGateway, canary_fixture

canary = canary_fixture()

SCHEMA = graphql.build_schema(build_schema().as_str())
VIEWERS = (
    "anonymous",
    "buyer (self)",
    "other buyer",
    "seller (counterparty)",
    "logistics (assigned)",
    "SUPPORT/SUPPORT",
    "FINANCE/BILLING",
    "ANALYST/ANALYTICS",
    "DPO/LEGAL",
    "SECURITY/SECURITY",
    "FINANCE/ANALYTICS",  # a purpose outside the role: everything stripped
)
MAX_ID = 160  # a little past the largest table of the 80-user seed


def _cursor(row_id: int) -> str:
    return base64.urlsafe_b64encode(f"id:{row_id}".encode()).decode()


# Arguments that reach rows: ids that exist (and some that do not), small pages, cursors
# the gateway issues (and some it never would).
ARGUMENTS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "ID": st.one_of(
        st.integers(1, MAX_ID).map(str),
        st.sampled_from(["0", "-1", "abc", "99999999999999999999"]),
    ).map(lambda v: graphql.StringValueNode(value=v)),
    "Int": st.integers(-1, 12).map(lambda v: graphql.IntValueNode(value=str(v))),
    "String": st.one_of(st.integers(0, MAX_ID).map(_cursor), st.text(max_size=8)).map(
        lambda v: graphql.StringValueNode(value=v)
    ),
}
GENERATED = queries(SCHEMA, custom_scalars=ARGUMENTS, print_ast=lambda document: document)


@st.composite
def disguised(draw: st.DrawFn, document: graphql.DocumentNode) -> str:
    """The same query with random aliases, inline and named fragments, and `id` selected
    (under an alias) wherever an object has one, so the oracle can tell whose data it is."""
    fragments: list[graphql.FragmentDefinitionNode] = []
    counter = itertools.count()

    def rewrite(
        type_: graphql.GraphQLObjectType, selection: graphql.SelectionSetNode
    ) -> graphql.SelectionSetNode:
        out: list[graphql.SelectionNode] = []
        for node in selection.selections:
            if isinstance(node, graphql.InlineFragmentNode):
                out.append(
                    graphql.InlineFragmentNode(
                        type_condition=node.type_condition,
                        selection_set=rewrite(type_, node.selection_set),
                    )
                )
                continue
            assert isinstance(node, graphql.FieldNode)
            child = None
            if node.selection_set is not None:
                target = graphql.get_named_type(type_.fields[node.name.value].type)
                assert isinstance(target, graphql.GraphQLObjectType)
                child = rewrite(target, node.selection_set)
            alias = node.alias
            if alias is None and draw(st.booleans()):
                alias = graphql.NameNode(value=f"k{next(counter)}_{node.name.value}")
            out.append(
                graphql.FieldNode(
                    alias=alias, name=node.name, arguments=node.arguments, selection_set=child
                )
            )
        if "id" in type_.fields:
            out.append(_field("id", alias="leakId"))
        return graphql.SelectionSetNode(selections=tuple(_group(type_, out)))

    def _group(
        type_: graphql.GraphQLObjectType, nodes: list[graphql.SelectionNode]
    ) -> list[graphql.SelectionNode]:
        split = draw(st.integers(0, len(nodes)))
        head, tail = nodes[:split], nodes[split:]
        how = draw(st.sampled_from(["plain", "inline", "typed-inline", "named"]))
        if how == "plain" or not tail:
            return nodes
        inner = graphql.SelectionSetNode(selections=tuple(tail))
        condition = graphql.NamedTypeNode(name=graphql.NameNode(value=type_.name))
        if how == "inline":
            return [*head, graphql.InlineFragmentNode(type_condition=None, selection_set=inner)]
        if how == "typed-inline":
            return [
                *head,
                graphql.InlineFragmentNode(type_condition=condition, selection_set=inner),
            ]
        name = f"F{next(counter)}"
        fragments.append(
            graphql.FragmentDefinitionNode(
                name=graphql.NameNode(value=name), type_condition=condition, selection_set=inner
            )
        )
        return [*head, graphql.FragmentSpreadNode(name=graphql.NameNode(value=name))]

    (operation,) = document.definitions
    assert isinstance(operation, graphql.OperationDefinitionNode)
    assert SCHEMA.query_type is not None
    rewritten = graphql.OperationDefinitionNode(
        operation=operation.operation,
        name=graphql.NameNode(value="Generated"),
        selection_set=rewrite(SCHEMA.query_type, operation.selection_set),
    )
    query = graphql.print_ast(graphql.DocumentNode(definitions=(rewritten, *fragments)))
    assert not graphql.validate(SCHEMA, graphql.parse(query)), query
    return query


def _field(name: str, *, alias: str | None = None) -> graphql.FieldNode:
    return graphql.FieldNode(
        alias=graphql.NameNode(value=alias) if alias else None, name=graphql.NameNode(value=name)
    )


QUERIES: st.SearchStrategy[str] = GENERATED.flatmap(disguised)


@settings(
    max_examples=500,
    deadline=None,
    database=None,  # no .hypothesis directory in the repository
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(viewer=st.sampled_from(VIEWERS), query=QUERIES)
async def test_generated_queries_never_fail_and_never_leak(
    canary: CanaryGateway, viewer: str, query: str
) -> None:
    body, result = await canary.run(canary.viewers[viewer], query)
    assert "data" in body, body.get("errors")
    leaks = "\n".join(str(f) for f in result.leaks)
    assert not result.leaks, f"{canary.backend}: {viewer} (viewer | path | why):\n{leaks}"
