"""Query limits, checked after parsing and before validation and execution.

One walk over the document measures each operation: depth (fields on the longest path),
aliases, directives on one selection, and cost. Fragments are followed once each (memoised,
so a spread a thousand times costs one walk) and a cycle of spreads is cut, not followed.
`__schema` and `__type` subtrees add no depth or cost (GraphiQL's introspection query must
pass); their aliases count. A refusal is a GraphQL error with `extensions.code` whose
message names the measure, the limit and its setting, never a value from the query.

Cost: every field costs 1, plus its selection times a multiplier. A field with a `first`
argument multiplies by `first` (the literal, the variable, or the schema default, clamped
to 1..GATEWAY_MAX_PAGE_SIZE); on a page object (`users(first: 100)`) that multiplier goes
to the page's list (`nodes`), not to `pageInfo`. Any other list multiplies by
GATEWAY_LIST_COST.

The guard also owns the bounded parse and validation caches, keyed by the query text.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    IntValueNode,
    NamedTypeNode,
    Node,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    parse,
    validate,
)
from graphql.validation import MaxIntrospectionDepthRule
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule

from gateway.auth import ViewerKind
from gateway.settings import Settings

K = TypeVar("K")
V = TypeVar("V")

INTROSPECTION_FIELDS = frozenset({"__schema", "__type"})


def refusal(message: str, code: str, nodes: Node | Collection[Node] | None = None) -> GraphQLError:
    return GraphQLError(message, nodes, extensions={"code": code})


@dataclass(frozen=True, slots=True)
class Measure:
    depth: int = 0
    aliases: int = 0
    cost: int = 0
    directives: int = 0  # the most on one selection
    widest: Node | None = None  # where that selection is


EMPTY = Measure()


class _Walk:
    """Measures the operations of one document for one request's variables."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        variables: Mapping[str, Any],
        *,
        list_cost: int,
        max_page_size: int,
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.list_cost = list_cost
        self.max_page_size = max_page_size
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.defaults: dict[str, Any] = {}
        self.memo: dict[tuple[str, int | None], Measure] = {}
        self.active: set[str] = set()

    def operation(self, node: OperationDefinitionNode) -> Measure:
        self.defaults = {
            v.variable.name.value: v.default_value for v in node.variable_definitions or ()
        }
        self.memo.clear()
        root = self.schema.get_root_type(node.operation)
        return self.selections(node.selection_set, root, None)

    def selections(
        self, selection_set: SelectionSetNode, parent: Any, pending: int | None
    ) -> Measure:
        depth = aliases = cost = most = 0
        widest: Node | None = None
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                measure = self.field(selection, parent, pending)
            elif isinstance(selection, InlineFragmentNode):
                inner = self.named(selection.type_condition) or parent
                measure = self.selections(selection.selection_set, inner, pending)
            elif isinstance(selection, FragmentSpreadNode):
                measure = self.spread(selection.name.value, pending)
            else:  # pragma: no cover - graphql-core has no other selection kind
                continue
            depth = max(depth, measure.depth)
            aliases += measure.aliases
            cost += measure.cost
            if measure.directives > most:
                most, widest = measure.directives, measure.widest
            count = len(selection.directives or ())
            if count > most:
                most, widest = count, selection
        return Measure(depth, aliases, cost, most, widest)

    def field(self, node: FieldNode, parent: Any, pending: int | None) -> Measure:
        alias = 1 if node.alias is not None else 0
        name = node.name.value
        definition = None
        if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
            definition = parent.fields.get(name)
        child_type = None
        multiplier: int = 1
        child_pending: int | None = None
        if definition is not None:
            child_type = get_named_type(definition.type)
            is_list = isinstance(get_nullable_type(definition.type), GraphQLList)
            if "first" in definition.args:
                first = self.first(node, definition.args["first"].default_value)
                if is_list:
                    multiplier = first
                else:
                    child_pending = first  # a page: its list takes the multiplier
            elif is_list:
                multiplier = pending if pending is not None else self.list_cost
        inner = EMPTY
        if node.selection_set is not None:
            inner = self.selections(node.selection_set, child_type, child_pending)
        if name in INTROSPECTION_FIELDS:
            return Measure(0, alias + inner.aliases, 0, inner.directives, inner.widest)
        return Measure(
            1 + inner.depth,
            alias + inner.aliases,
            1 + multiplier * inner.cost,
            inner.directives,
            inner.widest,
        )

    def spread(self, name: str, pending: int | None) -> Measure:
        key = (name, pending)
        known = self.memo.get(key)
        if known is not None:
            return known
        fragment = self.fragments.get(name)
        if fragment is None or name in self.active:
            return EMPTY  # unknown or cyclic: validation reports it, if it gets there
        self.active.add(name)
        try:
            measure = self.selections(
                fragment.selection_set, self.named(fragment.type_condition), pending
            )
        finally:
            self.active.discard(name)
        self.memo[key] = measure
        return measure

    def named(self, node: NamedTypeNode | None) -> Any:
        return None if node is None else self.schema.get_type(node.name.value)

    def first(self, node: FieldNode, default: Any) -> int:
        value: Any = None
        argument = next((a for a in node.arguments or () if a.name.value == "first"), None)
        if argument is not None:
            value = self.literal(argument.value)
        if not _is_int(value) and _is_int(default):
            value = default
        if not _is_int(value):
            value = self.max_page_size
        return max(1, min(int(value), self.max_page_size))

    def literal(self, node: Any) -> Any:
        if isinstance(node, VariableNode):
            name = node.name.value
            if name in self.variables:
                return self.variables[name]
            node = self.defaults.get(name)
        if isinstance(node, IntValueNode):
            try:
                return int(node.value)
            except ValueError:  # more digits than Python converts
                return None
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Bounded(Generic[K, V]):
    """A least-recently-used map of at most `size` entries; size 0 keeps nothing."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        if self.size <= 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class NoIntrospection(ValidationRule):
    """`__schema` and `__type` refused (GATEWAY_INTROSPECTION); `__typename` stays."""

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        if node.name.value in INTROSPECTION_FIELDS:
            self.report_error(
                refusal(
                    "introspection is not available to this viewer (GATEWAY_INTROSPECTION)",
                    "INTROSPECTION_DISABLED",
                    node,
                )
            )


class QueryGuard:
    """The limits of one gateway, and its parse and validation caches."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.documents: _Bounded[str, DocumentNode] = _Bounded(settings.query_cache_size)
        self.validations: _Bounded[tuple[Any, ...], list[GraphQLError]] = _Bounded(
            settings.query_cache_size
        )

    def extension(self) -> SchemaExtension:
        """A factory for `build_schema(extensions=...)`: one extension per request."""
        return QueryGuardExtension(self)

    def parse(self, query: str) -> DocumentNode:
        document = self.documents.get(query)
        if document is not None:
            return document
        tokens = self.settings.max_query_tokens or None
        try:
            document = parse(query, max_lexical_tokens=tokens, max_comments=tokens)
        except GraphQLSyntaxError as error:
            for kind in ("token", "comment"):
                if tokens is not None and f"{kind}s. Parsing aborted" in error.message:
                    raise refusal(
                        f"query {kind} count exceeds the limit of {tokens} "
                        "(GATEWAY_MAX_QUERY_TOKENS)",
                        "QUERY_TOO_MANY_TOKENS",
                    ) from None
            error.extensions = {"code": "GRAPHQL_PARSE_FAILED"}
            raise
        self.documents.put(query, document)
        return document

    def check(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> list[GraphQLError]:
        """Refusals for every limit an operation of `document` exceeds."""
        s = self.settings
        walk = _Walk(
            schema, document, variables, list_cost=s.list_cost, max_page_size=s.max_page_size
        )
        errors: list[GraphQLError] = []
        for node in document.definitions:
            if not isinstance(node, OperationDefinitionNode):
                continue
            try:
                measure = walk.operation(node)
            except RecursionError:
                return [refusal("query is nested too deeply to measure", "QUERY_TOO_DEEP", node)]
            errors += _exceeded(s, measure, node)
        return errors

    def validate(
        self,
        schema: GraphQLSchema,
        query: str | None,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
        hide_suggestions: bool,
    ) -> list[GraphQLError]:
        key = (query, rules, hide_suggestions)
        known = self.validations.get(key) if query is not None else None
        if known is not None:
            return list(known)
        errors = validate(
            schema,
            document,
            (*rules, MaybeNullValidationRule, OneOfInputValidationRule),
            hide_suggestions=hide_suggestions,
        )
        errors = [_coded(error) for error in errors]
        if query is not None:
            self.validations.put(key, list(errors))
        return errors


def _coded(error: GraphQLError) -> GraphQLError:
    """A validation error with a code. One that wraps an exception (a literal that a scalar
    could not read, such as an Int of 5,000 digits: int() refuses) quotes the literal and
    would be masked as unexpected: it becomes a plain refusal at the same place."""
    if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
        return refusal(
            "a value in the query cannot be read as its type",
            "GRAPHQL_VALIDATION_FAILED",
            error.nodes,
        )
    if not error.extensions or "code" not in error.extensions:
        error.extensions = {**(error.extensions or {}), "code": "GRAPHQL_VALIDATION_FAILED"}
    return error


def _exceeded(s: Settings, m: Measure, node: OperationDefinitionNode) -> Iterator[GraphQLError]:
    checks = (
        ("query depth", m.depth, s.max_query_depth, "GATEWAY_MAX_QUERY_DEPTH", "QUERY_TOO_DEEP"),
        (
            "alias count",
            m.aliases,
            s.max_query_aliases,
            "GATEWAY_MAX_QUERY_ALIASES",
            "QUERY_TOO_MANY_ALIASES",
        ),
        ("query cost", m.cost, s.max_query_cost, "GATEWAY_MAX_QUERY_COST", "QUERY_TOO_COSTLY"),
    )
    for what, value, limit, setting, code in checks:
        if limit and value > limit:
            yield refusal(f"{what} {value} exceeds the limit of {limit} ({setting})", code, node)
    limit = s.max_field_directives
    if limit and m.directives > limit:
        yield refusal(
            f"directives on one field {m.directives} exceed the limit of {limit} "
            "(GATEWAY_MAX_FIELD_DIRECTIVES)",
            "QUERY_TOO_MANY_DIRECTIVES",
            m.widest,
        )


class QueryGuardExtension(SchemaExtension):
    """Parses through the cache, refuses what exceeds a limit, validates through the cache.

    Setting `pre_execution_errors` in `on_validate` makes strawberry skip its own
    validation; setting `graphql_document` in `on_parse` makes it skip its own parse.
    """

    def __init__(self, guard: QueryGuard) -> None:
        self.guard = guard

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        for error in getattr(result, "errors", None) or ():
            if not error.extensions or "code" not in error.extensions:
                # No path: variables or operation name refused before execution.
                code = "BAD_USER_INPUT" if error.path is None else "INTERNAL_SERVER_ERROR"
                error.extensions = {**(error.extensions or {}), "code": code}

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        if ctx.graphql_document is None and ctx.query:
            ctx.graphql_document = self.guard.parse(ctx.query)
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        document = ctx.graphql_document
        if ctx.pre_execution_errors is None and document is not None:
            schema = ctx.schema._schema
            errors = self.guard.check(schema, document, ctx.variables or {})
            if not errors:
                viewer = getattr(ctx.context, "viewer", None)
                anonymous = viewer is None or viewer.kind is ViewerKind.ANONYMOUS
                settings = self.guard.settings
                rules = (*ctx.validation_rules, MaxIntrospectionDepthRule)
                if not settings.allows(settings.introspection, anonymous=anonymous):
                    rules = (*rules, NoIntrospection)
                hide = not settings.allows(settings.field_suggestions, anonymous=anonymous)
                errors = self.guard.validate(schema, ctx.query, document, rules, hide)
            ctx.pre_execution_errors = errors
        yield
