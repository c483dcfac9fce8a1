"""Fuzzing: nothing a client sends gets a 5xx, an unmasked error, or a canary.

- Queries generated from the schema (hypothesis-graphql, valid and with one schema
  violation), with arguments that reach rows and hostile strings (huge, control characters,
  lone surrogates as JSON escapes, SQL-ish text), as literals or as variables, as several
  viewer classes, against the canary database: every response is checked by the oracle.
- Mutations generated from the schema the same way, on a canary database of their own
  (they change it, so the oracle's world would go stale): no 5xx, no unmasked error, no
  canary in any error.
- Malformed HTTP at the ASGI boundary, against a gateway with the default limits: binary
  and truncated bodies, wrong types for every request key, deep nesting, bodies around the
  size limit, content types, methods, broken query strings, lying lengths, chunks, junk
  headers: a status the HTTP layer documents and a GraphQL-shaped JSON error with a code.

The number of cases of each kind is printed when the module ends.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import string
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
import sqlalchemy
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, queries
from starlette.applications import Starlette

from directives.taxonomy import Purpose, Role
from gateway.app import create_app
from gateway.db.engine import create_engine
from gateway.seed import DEMO_EMPLOYEES, DEMO_USERS
from gateway.settings import Settings
from schema.build import build_schema
from tests.conftest import BACKENDS, exhaustive, make_database
from tests.leakcheck import TOKEN_RE, CanaryGateway, ViewerClass, canary_fixture, plant_canaries

canary = canary_fixture()

SCHEMA = graphql.build_schema(build_schema().as_str())
QUERY_VIEWERS = (
    "anonymous",
    "buyer (self)",
    "seller (counterparty)",
    "DPO/LEGAL",
    "ANALYST/ANALYTICS",
    "FINANCE/ANALYTICS",  # a purpose outside the role
)
MAX_ID = 160  # a little past the largest table of the 80-user seed
HUGE = 50_000
# Text no response may carry: a stack trace, an SQL statement, a path into the code.
# The hostile inputs below avoid every one of them, so a hit is the gateway's own words.
ROOT = f"{Path(__file__).resolve().parent.parent}/"
MARKERS = ("Traceback", "sqlalchemy", "/work/", ROOT, "site-packages", '.py"', "SELECT ")
TALLY: defaultdict[str, Counter[str]] = defaultdict(Counter)
# A finding of this fuzzing, fixed in resolvers/rights/refusals.py `text_argument`: on
# PostgreSQL, U+0000 in a stored free-text argument (an inquiry's message, a deletion's
# reason, a consent's notice version) reached the INSERT, asyncpg refused it, and the client
# got a masked "Unexpected error.". It is now refused as INVALID, naming the field.
FUZZ = settings(
    deadline=None,
    database=None,  # no .hypothesis directory in the repository
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture(scope="module", autouse=True)
def case_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    """Prints how many cases of each kind ran, per backend, when the module ends (past
    pytest's output capture, as `capsys.disabled()` does)."""
    yield
    capture = request.config.pluginmanager.getplugin("capturemanager")
    suspended = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    with suspended:
        for backend, counts in sorted(TALLY.items()):
            kinds = ", ".join(
                f"{counts[k]} {k.split(':', 1)[1]}" for k in sorted(counts) if k.startswith("http:")
            )
            print(
                f"\nfuzz ({backend}): {counts['queries']} queries, {counts['mutations']} "
                f"mutations, {counts['malformed']} malformed requests ({kinds})"
            )


# -- arguments: rows that exist, and hostile text -------------------------------------------

HOSTILE = (
    "",
    " ",
    "\x00",
    "\x00\x01\x08\x0b\x1b\x7f\x9f",
    "line\nbreak\r\n\ttab",
    "\u2028\u2029\u200b\ufeff\u202e",
    "\ud800",  # lone surrogates: JSON can escape them, UTF-8 cannot hold them
    "\udfff\ud800",
    "\U0001f600",  # a pair, as JSON escapes it
    "'; DROP TABLE users; --",
    "1' OR '1'='1",
    '" OR 1=1 --',
    "select * from users where id = 1",
    "%00%27%22%s%n",
    "${jndi:ldap://x/a}",
    "{{7*7}}<script>alert(1)</script>",
    "../../../../etc/passwd",
    "\\",
    "\\u0000\\ud800",  # text that looks like an escape
    "\u03a9\u2248\u00e7\u221a\u222b\u02dc\u00b5 陈静 Айгуль",
    "١٢٣ ²",
    "x" * HUGE,
    "é" * (HUGE // 2),
    "\U0001f4a5" * (HUGE // 4),
    # plausible values, so that some mutations get past their checks
    "new.address@example.test",
    "+49 30 1234567",
    "DE",
    "KZ",
    "10115",
    "2026-12",
    "Hauptstraße 1",
)
TEXT = st.one_of(
    st.sampled_from(HOSTILE),
    st.text(max_size=12),
    st.integers(0, MAX_ID).map(lambda i: base64.urlsafe_b64encode(f"id:{i}".encode()).decode()),
)
BAD_IDS = ("0", "-1", "01", "+1", " 1", "1e3", "\u00b2", "\u0661", "2147483648", "9" * 5000)
IDS: st.SearchStrategy[graphql.ValueNode] = st.one_of(
    st.integers(1, MAX_ID).map(lambda v: graphql.StringValueNode(value=str(v))),
    st.integers(1, MAX_ID).map(lambda v: graphql.IntValueNode(value=str(v))),
    st.sampled_from(BAD_IDS).map(lambda v: graphql.StringValueNode(value=v)),
    TEXT.map(lambda v: graphql.StringValueNode(value=v)),
)
INTS = st.one_of(
    st.integers(-1, 12),
    st.sampled_from([0, 2**31 - 1, -(2**31), 2**31, 10**30, -(10**30)]),
).map(lambda v: graphql.IntValueNode(value=str(v)))
DATES = st.sampled_from(
    [
        "2026-12-01T00:00:00+00:00",
        "2026-12-01",
        "2026-12-01T00:00:00Z",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59.999999+14:00",
        "2026-13-45T99:99:99",
        "yesterday",
        "",
        "x" * 1000,
    ]
).map(lambda v: graphql.StringValueNode(value=v))
ARGUMENTS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "ID": IDS,
    "Int": INTS,
    "String": TEXT.map(lambda v: graphql.StringValueNode(value=v)),
    "DateTime": DATES,
}


def _documents(make: Any, mode: Mode) -> st.SearchStrategy[graphql.DocumentNode]:
    strategy: st.SearchStrategy[graphql.DocumentNode] = make(
        SCHEMA, custom_scalars=ARGUMENTS, print_ast=lambda document: document, mode=mode
    )
    return strategy


@dataclass(frozen=True)
class Operation:
    """A GraphQL request as sent: its text, variables, Accept header, and whether the
    document passes validation as generated."""

    query: str
    variables: dict[str, Any] | None
    accept: str | None
    valid: bool

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"query": self.query}
        if self.variables is not None:
            body["variables"] = self.variables
        return body


ACCEPTS = st.sampled_from([None, "application/json", "application/graphql-response+json", "*/*"])


@st.composite
def operations(draw: st.DrawFn, make: Any, root: graphql.GraphQLObjectType) -> Operation:
    valid = draw(st.integers(0, 4)) > 0  # one in five breaks the schema once
    document = draw(_documents(make, Mode.POSITIVE if valid else Mode.NEGATIVE))
    if valid:
        document = _with_ids(document, root)
        if root is SCHEMA.mutation_type:
            document = _with_refusals(document)
    variables = None
    if valid and draw(st.booleans()):
        document, variables = _lifted(document, root)
    return Operation(graphql.print_ast(document), variables, draw(ACCEPTS), valid)


def _with_ids(
    document: graphql.DocumentNode, root: graphql.GraphQLObjectType
) -> graphql.DocumentNode:
    """`leakId: id` in every object that has an id, so the oracle knows whose data it is."""

    def rewrite(type_: Any, selection: graphql.SelectionSetNode) -> graphql.SelectionSetNode:
        out: list[graphql.SelectionNode] = []
        for node in selection.selections:
            if isinstance(node, graphql.InlineFragmentNode):
                inner = _named(node.type_condition) or type_
                out.append(
                    graphql.InlineFragmentNode(
                        type_condition=node.type_condition,
                        selection_set=rewrite(inner, node.selection_set),
                    )
                )
                continue
            assert isinstance(node, graphql.FieldNode)
            child = None
            if node.selection_set is not None:
                target = graphql.get_named_type(type_.fields[node.name.value].type)
                child = rewrite(target, node.selection_set)
            out.append(
                graphql.FieldNode(
                    alias=node.alias,
                    name=node.name,
                    arguments=node.arguments,
                    directives=node.directives,
                    selection_set=child,
                )
            )
        if isinstance(type_, graphql.GraphQLObjectType) and "id" in type_.fields:
            out.append(
                graphql.FieldNode(
                    alias=graphql.NameNode(value="leakId"), name=graphql.NameNode(value="id")
                )
            )
        return graphql.SelectionSetNode(selections=tuple(out))

    return _replace_selection(document, rewrite(root, _operation(document).selection_set))


def _with_refusals(document: graphql.DocumentNode) -> graphql.DocumentNode:
    """`fuzzRefused: errors { code message field }` in every mutation's payload, so that
    each typed refusal is checked (and counted), whatever the generated selection."""
    refused = graphql.parse("{ fuzzRefused: errors { code message field } }")
    (extra,) = _operation(refused).selection_set.selections
    selections = []
    for node in _operation(document).selection_set.selections:
        assert isinstance(node, graphql.FieldNode) and node.selection_set is not None
        inner = node.selection_set.selections
        selections.append(
            graphql.FieldNode(
                alias=node.alias,
                name=node.name,
                arguments=node.arguments,
                directives=node.directives,
                selection_set=graphql.SelectionSetNode(selections=(*inner, extra)),
            )
        )
    return _replace_selection(document, graphql.SelectionSetNode(selections=tuple(selections)))


def _lifted(
    document: graphql.DocumentNode, root: graphql.GraphQLObjectType
) -> tuple[graphql.DocumentNode, dict[str, Any]]:
    """The same operation with every argument sent as a variable (`$v0`, `$v1`, ...):
    values go through variable coercion instead of literal parsing."""
    definitions: list[graphql.VariableDefinitionNode] = []
    variables: dict[str, Any] = {}

    def rewrite(type_: Any, selection: graphql.SelectionSetNode) -> graphql.SelectionSetNode:
        out: list[graphql.SelectionNode] = []
        for node in selection.selections:
            if isinstance(node, graphql.InlineFragmentNode):
                inner = _named(node.type_condition) or type_
                out.append(
                    graphql.InlineFragmentNode(
                        type_condition=node.type_condition,
                        selection_set=rewrite(inner, node.selection_set),
                    )
                )
                continue
            assert isinstance(node, graphql.FieldNode)
            definition = type_.fields[node.name.value]
            arguments = []
            for argument in node.arguments or ():
                name = f"v{len(variables)}"
                variables[name] = graphql.value_from_ast_untyped(argument.value)
                variable = graphql.VariableNode(name=graphql.NameNode(value=name))
                declared = str(definition.args[argument.name.value].type)
                definitions.append(
                    graphql.VariableDefinitionNode(
                        variable=variable, type=graphql.parse_type(declared)
                    )
                )
                arguments.append(graphql.ArgumentNode(name=argument.name, value=variable))
            child = None
            if node.selection_set is not None:
                child = rewrite(graphql.get_named_type(definition.type), node.selection_set)
            out.append(
                graphql.FieldNode(
                    alias=node.alias,
                    name=node.name,
                    arguments=tuple(arguments),
                    directives=node.directives,
                    selection_set=child,
                )
            )
        return graphql.SelectionSetNode(selections=tuple(out))

    selection = rewrite(root, _operation(document).selection_set)
    lifted = _replace_selection(document, selection, tuple(definitions))
    return lifted, variables


def _operation(document: graphql.DocumentNode) -> graphql.OperationDefinitionNode:
    (operation,) = document.definitions
    assert isinstance(operation, graphql.OperationDefinitionNode)
    return operation


def _replace_selection(
    document: graphql.DocumentNode,
    selection: graphql.SelectionSetNode,
    variables: tuple[graphql.VariableDefinitionNode, ...] = (),
) -> graphql.DocumentNode:
    operation = _operation(document)
    return graphql.DocumentNode(
        definitions=(
            graphql.OperationDefinitionNode(
                operation=operation.operation,
                name=graphql.NameNode(value="Fuzzed"),
                variable_definitions=variables,
                selection_set=selection,
            ),
        )
    )


def _named(node: graphql.NamedTypeNode | None) -> Any:
    return None if node is None else SCHEMA.get_type(node.name.value)


assert SCHEMA.query_type is not None and SCHEMA.mutation_type is not None
QUERIES = operations(queries, SCHEMA.query_type)
MUTATIONS = operations(mutations, SCHEMA.mutation_type)


# -- what every response must be ------------------------------------------------------------


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


def _errors(body: Any) -> list[dict[str, Any]]:
    """GraphQL errors of a response, or of each response of a batch."""
    if isinstance(body, list):
        return [e for item in body for e in _errors(item)]
    errors = body.get("errors") if isinstance(body, dict) else None
    return list(errors) if isinstance(errors, list) else []


def _payload_errors(value: Any) -> Iterator[dict[str, Any]]:
    """Typed refusals inside mutation payloads: `errors { code field message }`."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("errors", "fuzzRefused") and isinstance(item, list):
                yield from (e for e in item if isinstance(e, dict))
            else:
                yield from _payload_errors(item)
    elif isinstance(value, list):
        for item in value:
            yield from _payload_errors(item)


def note(status: int, body: Any) -> None:
    """What came back, for `pytest --hypothesis-show-statistics`."""
    codes = sorted({str((e.get("extensions") or {}).get("code")) for e in _errors(body)})
    event(f"HTTP {status} {' '.join(codes) or 'no errors'}")


def check_clean(what: str, status: int, body: Any) -> None:
    """No 5xx; every error has a message and a code and is not a masked internal error; no
    text of a stack trace, SQL or a source path anywhere."""
    assert status < 500, f"{what}: HTTP {status}: {body}"
    assert isinstance(body, dict | list), f"{what}: not a GraphQL response: {body!r}"
    for error in _errors(body):
        assert isinstance(error, dict), f"{what}: error is not an object: {error!r}"
        assert isinstance(error.get("message"), str), f"{what}: error without message: {error}"
        code = (error.get("extensions") or {}).get("code")
        assert isinstance(code, str) and code, f"{what}: error without extensions.code: {error}"
        assert code != "INTERNAL_SERVER_ERROR", f"{what}: unexpected error at {error.get('path')}"
    for text in _strings(body):
        assert "Unexpected error." not in text, f"{what}: a masked internal error"
        for marker in MARKERS:
            assert marker not in text, f"{what}: response holds {marker!r}: {text[:300]!r}"


def _unencodable(payload: Any) -> bool:
    """A lone surrogate somewhere: JSON escapes it, and the gateway must refuse it."""
    try:
        json.dumps(payload, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


async def send(
    http: httpx.AsyncClient, operation: Operation, headers: dict[str, str]
) -> tuple[int, Any]:
    sent = {**headers, "Content-Type": "application/json"}
    if operation.accept is not None:
        sent["Accept"] = operation.accept
    # json.dumps escapes lone surrogates (\ud800), as a hostile client would send them.
    content = json.dumps(operation.payload()).encode()
    response = await http.post("/graphql", content=content, headers=sent)
    try:
        body = response.json()
    except ValueError:
        pytest.fail(f"HTTP {response.status_code} is not JSON: {response.text[:300]!r}")
    return response.status_code, body


def check_status(what: str, operation: Operation, status: int, body: Any) -> None:
    if _unencodable(operation.payload()):
        assert status == 400, f"{what}: a lone surrogate got HTTP {status}"
        assert [e["extensions"]["code"] for e in _errors(body)] == ["INVALID_JSON"], body
        return
    assert status in (200, 400), f"{what}: HTTP {status}: {body}"
    if status == 400:
        # Only a request that failed before execution, asked as graphql-response+json.
        assert operation.accept == "application/graphql-response+json", f"{what}: {body}"
        assert "data" not in body, f"{what}: a 400 with data: {body}"


# -- (a) queries over the canary database, checked by the oracle ----------------------------


@settings(FUZZ, max_examples=200)
@given(viewer=st.sampled_from(QUERY_VIEWERS), operation=QUERIES)
async def test_generated_queries_never_fail_unmasked_and_never_leak(
    canary: CanaryGateway, viewer: str, operation: Operation
) -> None:
    TALLY[canary.backend]["queries"] += 1
    who = canary.viewers[viewer]
    status, body = await send(canary.http, operation, who.headers(canary.settings))
    what = f"{canary.backend}: {viewer}"
    note(status, body)
    check_clean(what, status, body)
    check_status(what, operation, status, body)
    if not operation.valid or status == 400:  # refused before execution: nothing may leak
        assert body.get("data") is None, f"{what}: an invalid operation ran: {body}"
        assert not any(TOKEN_RE.search(t) for t in _strings(body)), f"{what}: {body}"
        return
    result = canary.oracle.check(who, operation.query, body)
    leaks = "\n".join(str(f) for f in result.leaks)
    assert not result.leaks, f"{what} (viewer | path | why):\n{leaks}"


# -- (a) mutations over a canary database of their own ----------------------------------------


@dataclass
class Mutable:
    backend: str
    settings: Settings
    http: httpx.AsyncClient
    viewers: dict[str, ViewerClass] = field(default_factory=dict)

    def __repr__(self) -> str:  # hypothesis prints the fixture with a falsifying example
        return f"Mutable({self.backend})"


def _mutation_viewers() -> dict[str, ViewerClass]:
    staff = {Role(role): employee_id for employee_id, role in DEMO_EMPLOYEES.values()}
    found = [
        ViewerClass("anonymous"),
        ViewerClass("buyer (self)", user_id=DEMO_USERS["buyer"]),
        ViewerClass("seller", user_id=DEMO_USERS["seller"]),
        ViewerClass("other buyer", user_id=DEMO_USERS["other_buyer"]),
    ]
    for role, purpose in (
        (Role.DPO, Purpose.LEGAL),
        (Role.SUPPORT, Purpose.SUPPORT),
        (Role.SECURITY, Purpose.SECURITY),
        (Role.ANALYST, Purpose.ANALYTICS),
        (Role.FINANCE, Purpose.ANALYTICS),  # a purpose outside the role
    ):
        label = f"{role.value}/{purpose.value}"
        found.append(ViewerClass(label, employee=(staff[role], role), purpose=purpose))
    return {v.label: v for v in found}


MUTATION_VIEWERS = tuple(_mutation_viewers())


@pytest.fixture(scope="module", params=BACKENDS)
async def mutable(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Mutable]:
    """A canary database the mutations may change, and a client of it."""
    tmp = str(tmp_path_factory.mktemp(f"fuzz-mutations-{request.param}"))
    database, drop = await asyncio.to_thread(make_database, request.param, tmp)
    engine = create_engine(database.settings)
    try:
        async with engine.begin() as conn:
            await plant_canaries(conn, seed=7)
    finally:
        await engine.dispose()
    app = create_app(exhaustive(database.settings))
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as http:
            yield Mutable(request.param, database.settings, http, _mutation_viewers())
    finally:
        await app.state.gateway.aclose()
        await asyncio.to_thread(drop)


@settings(FUZZ, max_examples=120)
@given(viewer=st.sampled_from(MUTATION_VIEWERS), operation=MUTATIONS)
async def test_generated_mutations_never_fail_unmasked(
    mutable: Mutable, viewer: str, operation: Operation
) -> None:
    TALLY[mutable.backend]["mutations"] += 1
    who = mutable.viewers[viewer]
    status, body = await send(mutable.http, operation, who.headers(mutable.settings))
    what = f"{mutable.backend}: {viewer}"
    note(status, body)
    check_clean(what, status, body)
    check_status(what, operation, status, body)
    refusals = [*_errors(body), *_payload_errors(body.get("data"))]
    event(f"payload codes: {' '.join(sorted({str(r.get('code')) for r in refusals})) or '-'}")
    for refusal in refusals:
        for text in _strings(refusal):
            assert not TOKEN_RE.search(text), f"{what}: personal data in a refusal: {refusal}"


STORED_TEXT = (
    ("submitPrivacyInquiry(kind: QUESTION, message: $text)", "String!"),
    ("requestAccountDeletion(reason: $text)", "String"),
    ("setConsent(purpose: ANALYTICS, granted: true, noticeVersion: $text)", "String!"),
)


@pytest.mark.parametrize(
    ("call", "declared"), STORED_TEXT, ids=[c.split("(")[0] for c, _ in STORED_TEXT]
)
async def test_nul_in_stored_free_text_is_not_an_unexpected_error(
    mutable: Mutable, call: str, declared: str
) -> None:
    # A user of its own per case, whom the fuzzing never signs in as: no open request, no
    # restriction, so each call reaches its INSERT.
    engine = create_engine(mutable.settings)
    try:
        async with engine.connect() as conn:
            active = await conn.execute(
                sqlalchemy.text(
                    "SELECT id FROM users WHERE deletion_state = 'ACTIVE' AND id > :demo "
                    "ORDER BY id"
                ),
                {"demo": max(DEMO_USERS.values())},
            )
            users = [row[0] for row in active]
    finally:
        await engine.dispose()
    viewer = ViewerClass(call, user_id=users[[c for c, _ in STORED_TEXT].index(call)])
    operation = Operation(
        f"mutation($text: {declared}) {{ {call} {{ errors {{ code field message }} }} }}",
        {"text": "before\x00after"},
        None,
        True,
    )
    status, body = await send(mutable.http, operation, viewer.headers(mutable.settings))
    check_clean(f"{mutable.backend}: {call}", status, body)


# -- (b) malformed HTTP at the ASGI boundary, with the default limits ------------------------

LIMIT = Settings().max_body_bytes
STATUSES = {200, 400, 401, 405, 413, 414, 415, 429}
SAFE_QUERIES = (
    "{ __typename }",
    "{ me { id kind } }",
    "query Q($n: Int) { products(first: $n) { nodes { id } } }",
    "query Q($id: ID!) { user(id: $id) { id } }",
    "mutation { __typename }",
    "subscription { __typename }",
    "{",
    "{ nope }",
    "query A { __typename } query B { __typename }",
    "{ __typename @skip(if: $x) }",
)


@dataclass
class Raw:
    """One HTTP request as an ASGI server would hand it over."""

    kind: str
    method: str = "POST"
    path: str = "/graphql"
    query_string: bytes = b""
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def __repr__(self) -> str:
        body = self.body
        shown = body[:200] + (b"..." if len(body) > 200 else b"")
        return (
            f"Raw({self.kind} {self.method} ?{self.query_string[:200]!r} "
            f"{self.headers!r} {len(body)} bytes in {len(self.chunks)} chunks: {shown!r})"
        )


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
VARIABLES = st.one_of(
    st.none(),
    st.fixed_dictionaries({}, optional={"n": JSON_VALUES, "id": JSON_VALUES, "x": JSON_VALUES}),
    JSON_VALUES,
)


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _json_header(
    draw: st.DrawFn,
) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", b"application/json")]
    accept = draw(ACCEPTS)
    if accept is not None:
        headers.append((b"accept", accept.encode()))
    return headers


def _binary() -> st.SearchStrategy[Raw]:
    return st.binary(max_size=2000).map(
        lambda body: Raw("binary", headers=[(b"content-type", b"application/json")], chunks=[body])
    )


@st.composite
def _truncated(draw: st.DrawFn) -> Raw:
    whole = _json(
        {
            "query": draw(st.sampled_from(SAFE_QUERIES)),
            "variables": draw(VARIABLES),
            "operationName": draw(st.sampled_from([None, "Q", "A"])),
        }
    )
    cut = draw(st.integers(0, len(whole) - 1))
    return Raw("truncated", headers=_json_header(draw), chunks=[whole[:cut]])


@st.composite
def _wrong_types(draw: st.DrawFn) -> Raw:
    keys = {
        "query": st.one_of(st.sampled_from(SAFE_QUERIES), JSON_VALUES),
        "variables": VARIABLES,
        "operationName": st.one_of(st.sampled_from(["Q", "A", "B", ""]), JSON_VALUES),
        "extensions": JSON_VALUES,
        "unknown": JSON_VALUES,
    }
    request = draw(st.fixed_dictionaries({}, optional=keys))
    top = draw(st.sampled_from(["object", "batch", "other"]))
    value: Any = request
    if top == "batch":
        value = draw(st.lists(st.just(request), max_size=3))
    elif top == "other":
        value = draw(JSON_VALUES)
    return Raw("wrong types", headers=_json_header(draw), chunks=[_json(value)])


@st.composite
def _deep(draw: st.DrawFn) -> Raw:
    depth = draw(st.one_of(st.integers(1, 1000), st.integers(1000, LIMIT // 2 - 100)))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    nested = opener * depth + b"1" + closer * depth
    where = draw(st.sampled_from(["top", "variables", "extensions"]))
    if where == "top":
        body = nested
    else:
        body = b'{"query": "{ __typename }", "' + where.encode() + b'": {"v": ' + nested + b"}}"
    return Raw("deep", headers=_json_header(draw), chunks=[body])


@st.composite
def _enormous(draw: st.DrawFn) -> Raw:
    size = draw(st.sampled_from([LIMIT - 200, LIMIT - 1, LIMIT, LIMIT + 1, LIMIT * 3]))
    filler = draw(st.sampled_from(["x", " ", "é", "#"]))
    where = draw(st.sampled_from(["variable", "literal", "whitespace", "comment"]))

    def build(n: int) -> bytes:
        if where == "variable":
            return _json({"query": "{ __typename }", "variables": {"s": filler * n}})
        if where == "literal":
            return _json({"query": '{ user(id: "' + "9" * n + '") { id } }'})
        if where == "whitespace":
            return _json({"query": "{ __typename" + " " * n + "}"})
        return _json({"query": "# " + filler * n + "\n{ __typename }"})

    empty = len(build(0))
    unit = len(build(1)) - empty  # a filler character as JSON escapes it
    body = build(max(0, (size - empty) // unit))
    return Raw("enormous", headers=_json_header(draw), chunks=[body])


CONTENT_TYPES = (
    None,
    "",
    "text/plain",
    "application/graphql",
    "application/json; charset=latin-1",
    "application/json;charset=utf-16",
    "multipart/form-data; boundary=x",
    "application/x-www-form-urlencoded",
    "APPLICATION/JSON",
    'application/json; charset="utf-8"',
    "application/json; charset",
    "application/json;;;",
    "application/jsonp",
    "application/graphql-response+json",
    "*/*",
)


@st.composite
def _content_type(draw: st.DrawFn) -> Raw:
    content_type = draw(
        st.one_of(
            st.sampled_from(CONTENT_TYPES),
            st.text(string.printable.strip("\r\n\x0b\x0c"), max_size=40),
        )
    )
    headers = [] if content_type is None else [(b"content-type", content_type.encode())]
    body = _json({"query": draw(st.sampled_from(SAFE_QUERIES))})
    return Raw("content types", headers=headers, chunks=[body])


@st.composite
def _method(draw: st.DrawFn) -> Raw:
    method = draw(
        st.sampled_from(
            ["PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "CONNECT", "PROPFIND", "get"]
        )
        | st.text(string.ascii_uppercase, min_size=1, max_size=10)
    )
    body = draw(st.sampled_from([b"", _json({"query": "{ __typename }"})]))
    return Raw("methods", method=method, headers=_json_header(draw), chunks=[body])


BROKEN_QUERY_STRINGS = (
    b"query=%ZZ",
    b"query=%",
    b"query=%f",
    b"query=%ff%fe%fd",
    b"query=%00",
    b"query=%ed%a0%80",  # a surrogate in UTF-8 form: not UTF-8
    b"query=%7B+__typename+%7D&query=%7B",
    b"query=%7B+__typename+%7D&variables=%7B",
    b"query=%7B+__typename+%7D&variables=%5B1%5D",
    b"query=%7B+__typename+%7D&variables=null",
    b"query=%7B+__typename+%7D&variables=%7B%22n%22%3A%5Cud800%7D",
    b'query=%7B+__typename+%7D&variables={"x":"\\ud800"}',
    b"query=%7B+__typename+%7D&extensions=1",
    b"query=%7B+__typename+%7D&operationName=%00",
    b"query=mutation+%7B+__typename+%7D",
    b"&&&==&=&query",
    b"query",
    b"variables=%7B%7D",
    b"query=%7B+__typename+%7D#fragment",
    b"query=" + b"%7B" * 10,
)


@st.composite
def _get(draw: st.DrawFn) -> Raw:
    part = st.one_of(
        st.sampled_from(BROKEN_QUERY_STRINGS),
        st.text(string.ascii_letters + string.digits + "%&=+;#?/[]{}\"'\\", max_size=60).map(
            str.encode
        ),
    )
    parts = draw(st.lists(part, min_size=1, max_size=4))
    query_string = b"&".join(parts)
    if draw(st.integers(0, 9)) == 0:
        query_string = b"query=" + b"a" * draw(st.sampled_from([LIMIT - 10, LIMIT + 1]))
    headers = []
    accept = draw(st.sampled_from([None, "application/json", "text/html", "*/*"]))
    if accept is not None:
        headers.append((b"accept", accept.encode()))
    return Raw("GET query strings", method="GET", query_string=query_string, headers=headers)


@st.composite
def _framing(draw: st.DrawFn) -> Raw:
    """Chunked bodies, and Content-Length headers that lie or are not numbers."""
    body = draw(
        st.one_of(
            st.just(_json({"query": "{ __typename }"})),
            st.integers(1, LIMIT * 2).map(lambda n: b" " * n + b'{"query": "{ __typename }"}'),
        )
    )
    pieces = draw(st.integers(1, 20))
    step = max(1, len(body) // pieces)
    chunks = [body[i : i + step] for i in range(0, len(body), step)]
    headers = [(b"content-type", b"application/json")]
    length = draw(
        st.sampled_from(
            [None, "0", "1", str(len(body)), str(len(body) + 100), "-1", "abc", "1e3", "9" * 30]
        )
    )
    if length is not None:
        headers.append((b"content-length", length.encode()))
    return Raw("framing", headers=headers, chunks=chunks)


@st.composite
def _headers(draw: st.DrawFn) -> Raw:
    """Valid bodies with junk credentials, purposes, report and accept headers."""
    header_text = st.text(
        st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"),
        max_size=60,
    )
    headers = [(b"content-type", b"application/json")]
    for name, values in (
        (b"authorization", ["Bearer", "Bearer ", "Bearer a.b.c", "Basic Zm9v", "bearer x"]),
        (b"x-processing-purpose", ["LEGAL", "legal", "MARKETING", "", "ANALYTICS,LEGAL"]),
        (b"x-privacy-report", ["full", "FULL", "none", ""]),
        (b"accept", ["application/graphql-response+json", "text/html", "*/*;q=0", "x/y"]),
    ):
        if draw(st.booleans()):
            value = draw(st.one_of(st.sampled_from(values), header_text))
            headers.append((name, value.encode("latin-1")))
    body = _json({"query": draw(st.sampled_from(SAFE_QUERIES)), "variables": draw(VARIABLES)})
    return Raw("headers", headers=headers, chunks=[body])


BUILDERS: dict[str, Any] = {
    "binary": _binary,
    "truncated": _truncated,
    "wrong types": _wrong_types,
    "deep": _deep,
    "enormous": _enormous,
    "content types": _content_type,
    "methods": _method,
    "GET query strings": _get,
    "framing": _framing,
    "headers": _headers,
}


@dataclass
class Answer:
    status: int
    headers: dict[bytes, bytes]
    body: bytes


async def call(app: Starlette, raw: Raw) -> Answer:
    """Drive the ASGI app with `raw` as a server would; the client stays connected."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": raw.method,
        "scheme": "http",
        "path": raw.path,
        "raw_path": raw.path.encode(),
        "query_string": raw.query_string,
        "root_path": "",
        "headers": [(b"host", b"gateway"), *raw.headers],
        "client": ("127.0.0.1", 50000),
        "server": ("gateway", 80),
    }
    pending = list(raw.chunks) or [b""]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if pending:
            chunk = pending.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(pending)}
        await asyncio.Event().wait()  # still connected: the answer is awaited
        raise AssertionError("unreachable")

    async def send_(message: Any) -> None:
        sent.append(message)

    await asyncio.wait_for(app(scope, receive, send_), timeout=60)
    (start,) = [m for m in sent if m["type"] == "http.response.start"]
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return Answer(start["status"], {k.lower(): v for k, v in start["headers"]}, body)


@pytest.fixture(scope="module")
async def strict(canary: CanaryGateway) -> AsyncIterator[Starlette]:
    """A gateway with the default limits (the canary client's are lifted) on the same data."""
    app = create_app(canary.settings)
    yield app
    await app.state.gateway.aclose()


@pytest.mark.parametrize("kind", sorted(BUILDERS))
@settings(FUZZ, max_examples=30)
@given(data=st.data(), viewer=st.sampled_from(["anonymous", "buyer (self)", "DPO/LEGAL"]))
async def test_malformed_http_is_refused_in_json_never_5xx(
    canary: CanaryGateway, strict: Starlette, kind: str, data: st.DataObject, viewer: str
) -> None:
    raw: Raw = data.draw(BUILDERS[kind](), label="request")
    TALLY[canary.backend]["malformed"] += 1
    TALLY[canary.backend][f"http:{raw.kind}"] += 1
    if not any(name == b"authorization" for name, _ in raw.headers):
        credentials = canary.viewers[viewer].headers(canary.settings)
        signed = [(k.lower().encode(), v.encode()) for k, v in credentials.items()]
        raw = dataclasses.replace(raw, headers=[*raw.headers, *signed])
    answer = await call(strict, raw)
    what = f"{canary.backend}: {raw.kind}"
    assert answer.status in STATUSES, f"{what}: HTTP {answer.status}: {answer.body[:500]!r}"
    content_type = answer.headers.get(b"content-type", b"")
    if raw.method == "HEAD":
        assert answer.status == 405
        return
    if content_type.startswith(b"text/html"):  # GraphiQL, for a browser's GET
        assert raw.method == "GET" and answer.status == 200, what
        return
    assert content_type.startswith((b"application/json", b"application/graphql-response+json"))
    body = json.loads(answer.body)
    note(answer.status, body)
    check_clean(what, answer.status, body)
    if answer.status != 200:
        assert isinstance(body, dict) and body.get("errors"), f"{what}: {body}"
        assert "data" not in body or body["data"] is None, f"{what}: {body}"
    for text in _strings(body):
        assert not TOKEN_RE.search(text), f"{what}: a canary in {text[:200]!r}"
    if answer.status == 413:
        assert len(raw.body) > LIMIT or _declared_length(raw) > LIMIT, f"{what}: 413 too soon"
    if len(raw.body) > LIMIT and raw.method == "POST" and answer.status not in (405, 415):
        assert answer.status in (400, 401, 413), f"{what}: over the limit, HTTP {answer.status}"


def _declared_length(raw: Raw) -> int:
    for name, value in raw.headers:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return 0


def test_the_checks_can_fail() -> None:
    internal = {"code": "INTERNAL_SERVER_ERROR"}
    masked = {"errors": [{"message": "Unexpected error.", "path": ["me"], "extensions": internal}]}
    uncoded = {"errors": [{"message": "nope"}]}
    traced = {"errors": [{"message": 'File "/srv/x.py", line 1', "extensions": {"code": "X"}}]}
    sql = {"data": {"a": "SELECT id FROM users"}}
    for what, status, body in (
        ("5xx", 500, {"errors": []}),
        ("masked", 200, masked),
        ("uncoded", 400, uncoded),
        ("traced", 200, traced),
        ("sql", 200, sql),
        ("text", 200, "Internal Server Error"),
    ):
        with pytest.raises(AssertionError):
            check_clean(what, status, body)
    check_clean("clean", 200, {"data": {"me": None}})


def test_hostile_text_avoids_the_markers() -> None:
    """A marker found in a response is the gateway's own words, never an echo of ours."""
    for text in (*HOSTILE, *BAD_IDS, *SAFE_QUERIES):
        assert not any(marker in text for marker in MARKERS), text
        assert not TOKEN_RE.search(text), text
