"""One request cannot stop the server, and no input gets a 500.

Query limits (depth, aliases, tokens, directives, cost), the body size and batch limits, the
execution timeout, cancellation on disconnect, strict ids and cursors, `extensions.code` on
every refusal, and the parse and validation caches. Apps here are built with the limits'
defaults spelt out, whatever the shared test settings say.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import fields, replace
from typing import Any

import graphql
import httpx
import pytest
import uvicorn
from hypothesis import given
from hypothesis import strategies as st

from gateway.app import create_app
from gateway.errors import ConfigurationError
from gateway.settings import Settings
from resolvers import ids, queries
from resolvers.errors import ForbiddenError, InputError
from schema.build import build_schema
from schema.limits import QueryGuard
from tests.conftest import Database, employee_token, user_token

LIMIT_FIELDS = (
    "max_query_depth",
    "max_query_aliases",
    "max_query_tokens",
    "max_field_directives",
    "max_query_cost",
    "list_cost",
    "max_body_bytes",
    "max_batch_operations",
    "execution_timeout_seconds",
    "query_cache_size",
    "introspection",
    "field_suggestions",
)
DEFAULTS = {f.name: f.default for f in fields(Settings) if f.name in LIMIT_FIELDS}
SCHEMA = graphql.build_schema(build_schema().as_str())
PAGE_ROOTS = sorted(n for n, f in SCHEMA.query_type.fields.items() if "after" in f.args)  # type: ignore[union-attr]


def test_the_defaults_are_graphql_armors() -> None:
    assert DEFAULTS["max_query_depth"] == 6
    assert DEFAULTS["max_query_aliases"] == 15
    assert DEFAULTS["max_query_tokens"] == 1000
    assert DEFAULTS["max_field_directives"] == 50
    assert DEFAULTS["max_query_cost"] == 5000
    assert set(DEFAULTS) == set(LIMIT_FIELDS)


@contextlib.asynccontextmanager
async def gateway(db: Database, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(replace(db.settings, **{**DEFAULTS, **overrides}))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http
    finally:
        await app.state.gateway.aclose()


@pytest.fixture
async def http(db: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with gateway(db) as client:
        yield client


async def post(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> dict[str, Any]:
    response = await http.post(
        "/graphql", json={"query": query, "variables": variables}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def codes(body: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in body.get("errors", ())]


def refused_json(response: httpx.Response, status: int, code: str) -> str:
    """The body of an HTTP-layer refusal: JSON, GraphQL-shaped, one error with `code`."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == code, error
    assert "Traceback" not in response.text
    message: str = error["message"]
    return message


# -- ids and cursors ------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "row_id"), [("1", 1), ("42", 42), ("2147483647", 2**31 - 1)])
def test_well_formed_ids(text: str, row_id: int) -> None:
    assert ids.parse_id(text) == row_id


def test_id_zero_is_well_formed_and_matches_nothing() -> None:
    assert ids.parse_id("0") is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "01",
        "007",
        "-1",
        "+1",
        " 1",
        "1 ",
        "1e3",
        "1.0",
        "0x1",
        "abc",
        "\u00b2",  # superscript two: str.isdigit() says yes, int() says no
        "\u0661",  # Arabic-Indic one: int() reads it as 1
        "\uff11",  # fullwidth one
        "2147483648",
        "99999999999999999999",
        "9" * 5000,
    ],
)
def test_malformed_ids_are_bad_user_input(text: str) -> None:
    with pytest.raises(InputError) as raised:
        ids.parse_id(text)
    assert raised.value.extensions == {"code": "BAD_USER_INPUT"}
    with pytest.raises(InputError) as reference:
        ids.parse_id("abc")
    assert str(raised.value) == str(reference.value), "the message never quotes the input"


@given(st.integers(0, ids.MAX_ID))
def test_every_cursor_the_gateway_issues_decodes_to_its_id(row_id: int) -> None:
    assert ids.decode_cursor(ids.encode_cursor(row_id)) == row_id


def _b64(text: str, *, pad: bool = True) -> str:
    encoded = base64.urlsafe_b64encode(text.encode()).decode()
    return encoded if pad else encoded.rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "nope",
        _b64("id:" + "9" * 30),  # beyond 64 bits: an OverflowError in SQL before
        _b64(f"id:{2**31}"),
        _b64("id:01"),
        _b64("id:-1"),
        _b64("id:\u00b2"),
        _b64("id:\u0661"),
        _b64("user:1"),
        _b64("id:12", pad=False),
        _b64("id:1") + "==",
        "\u00e9\u00e9\u00e9\u00e9",
        base64.b64encode(b"id:1\xff").decode(),
    ],
)
def test_cursors_the_gateway_never_issued_decode_to_none(cursor: str) -> None:
    assert ids.decode_cursor(cursor) is None


@given(st.text(max_size=40))
def test_decode_cursor_never_raises_and_accepts_only_issued_text(cursor: str) -> None:
    row_id = ids.decode_cursor(cursor)
    assert row_id is None or ids.encode_cursor(row_id) == cursor


def test_refusals_carry_codes() -> None:
    assert InputError("x").extensions == {"code": "BAD_USER_INPUT"}
    assert ForbiddenError("x").extensions == {"code": "FORBIDDEN"}


async def test_ids_in_other_digits_are_refused_not_matched(
    http: httpx.AsyncClient, db: Database
) -> None:
    token = user_token(db, "buyer")
    ok = await post(http, '{ user(id: "1") { id } }', Authorization=f"Bearer {token}")
    assert ok["data"]["user"] == {"id": "1"}
    for text in ("\u00b2", "01", "\u0661", "99999999999999999999"):
        body = await post(
            http, "query($id: ID!) { user(id: $id) { id } }", {"id": text},
            Authorization=f"Bearer {token}",
        )  # fmt: skip
        assert body["data"]["user"] is None, text
        assert codes(body) == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["path"] == ["user"]
        assert text not in body["errors"][0]["message"]


@pytest.mark.parametrize("root", PAGE_ROOTS)
async def test_a_cursor_beyond_64_bits_is_bad_user_input_in_every_list(
    http: httpx.AsyncClient, db: Database, root: str
) -> None:
    cursor = _b64("id:" + "9" * 30)
    body = await post(
        http,
        f"query($after: String) {{ {root}(first: 1, after: $after) "
        "{ pageInfo { endCursor } } }",
        {"after": cursor},
        Authorization=f"Bearer {employee_token(db, 'dpo')}",
        **{"X-Processing-Purpose": "LEGAL"},
    )
    assert codes(body) == ["BAD_USER_INPUT"], body
    assert body["errors"][0]["path"] == [root]


async def test_refusals_in_resolvers_carry_codes(http: httpx.AsyncClient, db: Database) -> None:
    auth = {"Authorization": f"Bearer {user_token(db, 'buyer')}"}
    forbidden = await post(http, '{ redactionStatus(subjectId: "1") { subjectId } }', **auth)
    assert codes(forbidden) == ["FORBIDDEN"]
    assert forbidden["errors"][0]["path"] == ["redactionStatus"]
    page = await post(http, "{ products(first: 0) { nodes { id } } }", **auth)
    assert codes(page) == ["BAD_USER_INPUT"]
    cursor = await post(http, '{ products(after: "nope") { nodes { id } } }', **auth)
    assert codes(cursor) == ["BAD_USER_INPUT"]
    invalid = await post(http, "{ me { nope } }", **auth)
    assert codes(invalid) == ["GRAPHQL_VALIDATION_FAILED"]
    syntax = await post(http, "{ me { ", **auth)
    assert codes(syntax) == ["GRAPHQL_PARSE_FAILED"]
    variables = await post(http, "query($n: Int!) { products(first: $n) { nodes { id } } }", **auth)
    assert codes(variables) == ["BAD_USER_INPUT"]
    for digits, says in ((20, "non 32-bit"), (5000, "cannot be read as its type")):
        query = f"{{ products(first: {'9' * digits}) {{ nodes {{ id }} }} }}"
        body = await post(http, query, **auth)  # int() refuses more than 4300 digits
        assert body["data"] is None
        assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"], body
        assert says in body["errors"][0]["message"]


async def test_unexpected_errors_are_masked_with_a_code(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("SELECT secret FROM users WHERE email = 'a@b.c'")

    monkeypatch.setattr(queries, "page", broken)
    body = await post(http, "{ products(first: 1) { nodes { id } } }")
    (error,) = body["errors"]
    assert error["message"] == "Unexpected error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR"}
    assert "secret" not in json.dumps(body)


# -- HTTP: no 500, ever ---------------------------------------------------------------------

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        pytest.param(b'"a string"', "BAD_REQUEST", id="string"),
        pytest.param(b"42", "BAD_REQUEST", id="number"),
        pytest.param(b"null", "BAD_REQUEST", id="null"),
        pytest.param(b"true", "BAD_REQUEST", id="true"),
        pytest.param(b"[]", "BAD_REQUEST", id="empty-batch"),
        pytest.param(b"[1]", "BAD_REQUEST", id="batch-of-number"),
        pytest.param(b"{}", "BAD_REQUEST", id="no-query"),
        pytest.param(b'{"query": null}', "BAD_REQUEST", id="null-query"),
        pytest.param(b'{"query": 5}', "BAD_REQUEST", id="number-query"),
        pytest.param(
            b'{"query": "{ me { id } }", "variables": []}', "BAD_REQUEST", id="variables-list"
        ),
        pytest.param(
            b'{"query": "{ me { id } }", "variables": "{}"}', "BAD_REQUEST", id="variables-string"
        ),
        pytest.param(
            b'{"query": "{ me { id } }", "operationName": 5}',
            "BAD_REQUEST",
            id="operation-name-number",
        ),
        pytest.param(
            b'{"query": "{ me { id } }", "extensions": 1}', "BAD_REQUEST", id="extensions-number"
        ),
        pytest.param(
            b'{"query": "{ user(id: \\"\\ud800\\") { id } }"}',
            "INVALID_JSON",
            id="lone-surrogate-in-query",
        ),
        pytest.param(
            b'{"query": "{ me { id } }", "variables": {"\\udfff": 1}}',
            "INVALID_JSON",
            id="lone-surrogate-key",
        ),
        pytest.param(b"\xff\xfe{}", "INVALID_JSON", id="not-utf8-bom16"),
        pytest.param(b'{"query": "\xc3\x28"}', "INVALID_JSON", id="invalid-utf8-in-string"),
        pytest.param(b"{", "INVALID_JSON", id="truncated"),
        pytest.param(b"", "INVALID_JSON", id="empty"),
        pytest.param(b"NaN", "INVALID_JSON", id="nan"),
        pytest.param(
            b'{"query": "{ me { id } }", "variables": {"n": Infinity}}',
            "INVALID_JSON",
            id="infinity",
        ),
        pytest.param(b"[" * 100_001, "BODY_TOO_LARGE", id="too-large"),
        pytest.param(b"[" * 50_000 + b"]" * 49_999, "INVALID_JSON", id="too-deep"),
        pytest.param(b'{"n": ' + b"9" * 5000 + b"}", "INVALID_JSON", id="huge-int"),
    ],
)
async def test_malformed_bodies_are_4xx_json(
    http: httpx.AsyncClient, body: bytes, code: str
) -> None:
    response = await http.post("/graphql", content=body, headers=JSON)
    refused_json(response, 413 if code == "BODY_TOO_LARGE" else 400, code)


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/graphql", "multipart/form-data; boundary=x",
     "application/json; charset=latin-1", "application/jsonp"],
)  # fmt: skip
async def test_other_content_types_are_415(
    http: httpx.AsyncClient, content_type: str | None
) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    response = await http.post("/graphql", content=b'{"query": "{ me { id } }"}', headers=headers)
    refused_json(response, 415, "UNSUPPORTED_MEDIA_TYPE")


async def test_json_with_utf8_charset_is_accepted(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql",
        content=b'{"query": "{ me { id } }"}',
        headers={"Content-Type": "Application/JSON; charset=UTF-8"},
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"me": None}


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE", "OPTIONS"])
async def test_other_methods_are_405_json(http: httpx.AsyncClient, method: str) -> None:
    response = await http.request(method, "/graphql", content=b"{}", headers=JSON)
    refused_json(response, 405, "METHOD_NOT_ALLOWED")
    assert response.headers["allow"] == "GET, POST"


async def test_get_with_bad_variables_is_400_json(http: httpx.AsyncClient) -> None:
    for variables, code in (("{", "INVALID_JSON"), ("[1]", "BAD_REQUEST")):
        response = await http.get(
            "/graphql", params={"query": "{ me { id } }", "variables": variables}
        )
        refused_json(response, 400, code)
    response = await http.get(
        "/graphql", params={"operationName": "x"}, headers={"Accept": "application/json"}
    )
    refused_json(response, 400, "BAD_REQUEST")


async def test_strawberrys_own_refusals_are_json_too(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", json={"query": "query A { me { id } }", "operationName": "B"}
    )
    refused_json(response, 400, "BAD_REQUEST")


async def test_a_body_over_the_limit_is_413_by_header_and_by_count(db: Database) -> None:
    async with gateway(db, max_body_bytes=64) as http:
        small = await http.post("/graphql", json={"query": "{ me { id } }"})
        assert small.status_code == 200
        big = json.dumps({"query": "{ me { id } }", "variables": {"x": "y" * 64}}).encode()
        message = refused_json(
            await http.post("/graphql", content=big, headers=JSON), 413, "BODY_TOO_LARGE"
        )
        assert "GATEWAY_MAX_BODY_BYTES" in message and "64" in message

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
            for _ in range(10):
                yield b" " * 16
            yield b'{"query": "{ me { id } }"}'

        response = await http.post("/graphql", content=chunks(), headers=JSON)
        assert "content-length" not in response.request.headers
        refused_json(response, 413, "BODY_TOO_LARGE")
        long_get = await http.get("/graphql", params={"query": "{ me { id } }" + " " * 64})
        refused_json(long_get, 414, "URI_TOO_LONG")


async def test_batches_beyond_the_limit_are_refused(http: httpx.AsyncClient) -> None:
    one = {"query": "{ me { id } }"}
    response = await http.post("/graphql", json=[one, one])
    message = refused_json(response, 400, "BATCH_TOO_LARGE")
    assert "2" in message and "GATEWAY_MAX_BATCH_OPERATIONS" in message
    single = await http.post("/graphql", json=[one])
    assert single.status_code == 200
    assert [r["data"] for r in single.json()] == [{"me": None}]


async def test_a_batch_answers_each_operation_with_its_own_report(db: Database) -> None:
    token = employee_token(db, "analyst")
    headers = {"Authorization": f"Bearer {token}", "X-Processing-Purpose": "ANALYTICS"}
    users = {"query": "{ users(first: 3) { nodes { fullName } } }"}
    products = {"query": "{ products(first: 1) { nodes { id } } }"}
    async with gateway(db, max_batch_operations=3) as http:
        alone = (await http.post("/graphql", json=users, headers=headers)).json()
        response = await http.post("/graphql", json=[users, products], headers=headers)
        assert response.status_code == 200
        first, second = response.json()
        assert first["data"] == alone["data"]
        assert first["extensions"]["privacy"] == alone["extensions"]["privacy"]
        assert first["extensions"]["privacy"]["redactions"], "the analyst sees pseudonyms"
        assert second["extensions"]["privacy"]["redactions"] == []
        assert len(second["data"]["products"]["nodes"]) == 1
        graphql_response = await http.post(
            "/graphql",
            json=[users, products],
            headers={**headers, "Accept": "application/graphql-response+json"},
        )
        assert graphql_response.status_code == 200


async def test_an_unexpected_error_outside_graphql_is_a_masked_json_500(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async with gateway(db) as http:
        gateway_ = http._transport.app.state.gateway  # type: ignore[attr-defined]

        def broken(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError("user a@b.c has no row")

        monkeypatch.setattr(gateway_, "context", broken)
        response = await http.post("/graphql", json={"query": "{ me { id } }"})
    refused_json(response, 500, "INTERNAL_SERVER_ERROR")
    assert "a@b.c" not in response.text
    assert "a@b.c" not in caplog.text
    assert "unexpected RuntimeError" in caplog.text


# -- query limits ---------------------------------------------------------------------------


def nested(depth: int) -> str:
    """`me { orders { buyer { orders ... { id } } } }` with `depth` fields on its longest path."""
    selection = "id"
    for level in reversed(range(depth - 2)):
        selection = f"{'orders' if level % 2 == 0 else 'buyer'} {{ {selection} }}"
    return f"{{ me {{ {selection} }} }}"


async def test_depth_six_runs_and_depth_seven_is_refused(
    http: httpx.AsyncClient, db: Database
) -> None:
    auth = {"Authorization": f"Bearer {user_token(db, 'buyer')}"}
    six = await post(http, nested(6), **auth)
    assert "errors" not in six, six
    assert six["data"]["me"]["orders"], "the demo buyer has orders"
    seven = await post(http, nested(7), **auth)
    assert seven["data"] is None
    assert codes(seven) == ["QUERY_TOO_DEEP"], "depth alone: its cost is within the limit"
    assert seven["errors"][0]["message"] == (
        "query depth 7 exceeds the limit of 6 (GATEWAY_MAX_QUERY_DEPTH)"
    )


async def test_depth_thirty_is_refused_before_execution_in_milliseconds(
    http: httpx.AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    auth = {"Authorization": f"Bearer {user_token(db, 'buyer')}"}
    await post(http, "{ me { id } }", **auth)  # warm: the first request builds caches
    executed = []
    original = queries.one

    async def spy(*args: Any, **kwargs: Any) -> Any:
        executed.append(args)
        return await original(*args, **kwargs)

    monkeypatch.setattr(queries, "one", spy)
    started = time.perf_counter()
    body = await post(http, nested(30).replace("{ me {", '{ order(id: "1") {'), **auth)
    elapsed = time.perf_counter() - started
    assert "QUERY_TOO_DEEP" in codes(body)
    assert "query depth 30 exceeds the limit of 6" in body["errors"][0]["message"]
    assert executed == [], "refused before any resolver ran"
    assert elapsed < 1.0, f"{elapsed:.3f}s"  # milliseconds; the bound allows a loaded machine


async def test_depth_follows_fragments_and_survives_cycles(http: httpx.AsyncClient) -> None:
    via_fragments = (
        "{ ...A } fragment A on Query { me { ...B } } "
        "fragment B on User { orders { buyer { orders { buyer { orders { id } } } } } }"
    )
    body = await post(http, via_fragments)
    assert "QUERY_TOO_DEEP" in codes(body)
    assert body["errors"][0]["message"].startswith("query depth 7 exceeds")
    cycle = "{ ...A } fragment A on Query { ...B me { id } } fragment B on Query { ...A }"
    started = time.perf_counter()
    refused = await post(http, cycle)
    assert time.perf_counter() - started < 1.0
    assert codes(refused) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "within itself" in refused["errors"][0]["message"]


def test_the_measure_of_a_fragment_cycle_and_a_fragment_bomb_terminates() -> None:
    guard = QueryGuard(replace(Settings(), **DEFAULTS))
    schema = build_schema()._schema
    cycle = graphql.parse(
        "{ ...A } fragment A on Query { me { ...B } } fragment B on User { ...B }"
    )
    assert guard.check(schema, cycle, {}) == []
    # 2**40 expanded fields if fragments were inlined; memoised, each is measured once.
    chain = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(40))
    bomb = graphql.parse(f"{{ ...F0 }} {chain} fragment F40 on Query {{ a: me {{ id }} }}")
    started = time.perf_counter()
    errors = guard.check(schema, bomb, {})
    assert time.perf_counter() - started < 1.0
    assert {e.extensions["code"] for e in errors} == {  # type: ignore[index]
        "QUERY_TOO_MANY_ALIASES",
        "QUERY_TOO_COSTLY",
    }
    assert f"alias count {2**40} exceeds" in errors[0].message


async def test_aliases_fifteen_run_sixteen_are_refused(http: httpx.AsyncClient) -> None:
    def aliased(n: int) -> str:
        return (
            "{ "
            + " ".join(f"p{i}: products(first: 1) {{ nodes {{ id }} }}" for i in range(n))
            + " }"
        )

    fifteen = await post(http, aliased(15))
    assert "errors" not in fifteen
    assert len(fifteen["data"]) == 15
    sixteen = await post(http, aliased(16))
    assert codes(sixteen) == ["QUERY_TOO_MANY_ALIASES"]
    assert sixteen["errors"][0]["message"] == (
        "alias count 16 exceeds the limit of 15 (GATEWAY_MAX_QUERY_ALIASES)"
    )
    via_fragment = await post(
        http,
        "{ ...F ...F } fragment F on Query { "
        + " ".join(f"a{i}: me {{ id }}" for i in range(8))
        + " }",
    )
    assert codes(via_fragment) == ["QUERY_TOO_MANY_ALIASES"]


async def test_tokens_beyond_the_limit_are_refused_while_parsing(
    http: httpx.AsyncClient,
) -> None:
    guard = QueryGuard(replace(Settings(), **DEFAULTS))
    guard.parse("{ " + "__typename " * 998 + "}")  # 998 names and two braces: at the limit
    over = await post(http, "{ " + "__typename " * 999 + "}")
    assert over["data"] is None
    assert codes(over) == ["QUERY_TOO_MANY_TOKENS"]
    assert over["errors"][0]["message"] == (
        "query token count exceeds the limit of 1000 (GATEWAY_MAX_QUERY_TOKENS)"
    )
    big = "{ " + "__typename " * 9000 + "}"
    started = time.perf_counter()
    assert codes(await post(http, big)) == ["QUERY_TOO_MANY_TOKENS"]
    assert time.perf_counter() - started < 1.0
    comments = await post(http, "{ me { id } }" + "\n#" * 1001)
    assert codes(comments) == ["QUERY_TOO_MANY_TOKENS"]
    assert "comment count" in comments["errors"][0]["message"]


async def test_directives_on_one_field_beyond_the_limit_are_refused(db: Database) -> None:
    async with gateway(db, max_field_directives=3) as http:
        three = await post(http, "{ me @skip(if: false) @a @b { id } }")
        assert set(codes(three)) == {"GRAPHQL_VALIDATION_FAILED"}, "within the limit: validated"
        four = await post(http, "{ me { id @a @b @c @d } }")
        assert codes(four) == ["QUERY_TOO_MANY_DIRECTIVES"]
        assert four["errors"][0]["message"] == (
            "directives on one field 4 exceed the limit of 3 (GATEWAY_MAX_FIELD_DIRECTIVES)"
        )
        assert four["errors"][0]["locations"] == [{"line": 1, "column": 8}]


async def test_cost_multiplies_by_first_and_by_the_list_cost(db: Database) -> None:
    # users(first: n) { nodes { id } } costs 1 (users) + 1 (nodes) + n (an id per node).
    async with gateway(db, max_query_cost=50) as http:
        token = employee_token(db, "dpo")
        auth = {"Authorization": f"Bearer {token}", "X-Processing-Purpose": "LEGAL"}
        query = "query($n: Int!) { users(first: $n) { nodes { id } } }"
        assert "errors" not in await post(http, query, {"n": 48}, **auth)
        over = await post(http, query, {"n": 49}, **auth)
        assert codes(over) == ["QUERY_TOO_COSTLY"]
        assert over["errors"][0]["message"] == (
            "query cost 51 exceeds the limit of 50 (GATEWAY_MAX_QUERY_COST)"
        )
        literal = await post(http, "{ users(first: 49) { nodes { id } } }", **auth)
        assert codes(literal) == ["QUERY_TOO_COSTLY"]
        default = await post(http, "{ users { nodes { id } } }", **auth)  # first: 50
        assert "query cost 52 " in default["errors"][0]["message"]
        defaulted = await post(
            http, "query($n: Int = 49) { users(first: $n) { nodes { id } } }", **auth
        )
        assert "query cost 51 " in defaulted["errors"][0]["message"]
        page_info = await post(
            http, "{ users(first: 40) { nodes { id } pageInfo { hasNextPage endCursor } } }", **auth
        )
        assert "errors" not in page_info, "pageInfo is not multiplied by the page size"
    # me { <a list without first> { __typename id } }: 1 + (1 + list_cost x 2)
    user_type = SCHEMA.get_type("User")
    assert isinstance(user_type, graphql.GraphQLObjectType)
    plain_list = next(
        name
        for name, field in user_type.fields.items()
        if isinstance(graphql.get_nullable_type(field.type), graphql.GraphQLList)
        and "id" in getattr(graphql.get_named_type(field.type), "fields", {})
        and "first" not in field.args
    )
    query = f"{{ me {{ {plain_list} {{ __typename id }} }} }}"
    buyer = {"Authorization": f"Bearer {user_token(db, 'buyer')}"}
    for list_cost, limit, refused in ((10, 22, False), (10, 21, True), (3, 8, False), (3, 7, True)):
        async with gateway(db, max_query_cost=limit, list_cost=list_cost) as http:
            body = await post(http, query, **buyer)
            assert (codes(body) == ["QUERY_TOO_COSTLY"]) is refused, (list_cost, limit, body)
            assert refused or "errors" not in body, body


async def test_the_issues_alias_attack_is_refused(db: Database) -> None:
    token = employee_token(db, "analyst")
    auth = {"Authorization": f"Bearer {token}", "X-Processing-Purpose": "ANALYTICS"}
    fields_ = "id fullName email"
    attack = (
        "{ "
        + " ".join(f"a{i}: users(first: 100) {{ nodes {{ {fields_} }} }}" for i in range(1000))
        + " }"
    )
    async with gateway(db, max_query_tokens=0, max_body_bytes=10**6) as http:
        body = await post(http, attack, **auth)
        assert body["data"] is None
        assert set(codes(body)) == {"QUERY_TOO_MANY_ALIASES", "QUERY_TOO_COSTLY"}


async def test_a_limit_of_zero_is_off(db: Database) -> None:
    async with gateway(db, max_query_depth=0, max_query_cost=0) as http:
        auth = {"Authorization": f"Bearer {user_token(db, 'buyer')}"}
        assert "errors" not in await post(http, nested(9), **auth)


async def test_limit_refusals_are_400_for_graphql_response_json(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql",
        json={"query": nested(9)},
        headers={"Accept": "application/graphql-response+json"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("application/graphql-response+json")
    assert "QUERY_TOO_DEEP" in codes(response.json())


async def test_graphiqls_introspection_query_passes_the_limits(http: httpx.AsyncClient) -> None:
    query = graphql.get_introspection_query(
        descriptions=True,
        specified_by_url=True,
        directive_is_repeatable=True,
        schema_description=True,
        input_value_deprecation=True,
    )
    body = await post(http, query)
    assert "errors" not in body, body.get("errors")
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


async def test_introspection_and_suggestions_are_off_for_anonymous_in_production(
    db: Database,
) -> None:
    production = {"env": "production", "jwt_secret": "s" * 40, "pseudonym_key": "k" * 40}
    introspect = "{ __schema { queryType { name } } }"
    typo = "{ me { fullNam } }"
    async with gateway(db, **production) as http:
        settings = http._transport.app.state.gateway.settings  # type: ignore[attr-defined]
        anonymous = await post(http, introspect)
        assert codes(anonymous) == ["INTROSPECTION_DISABLED"]
        assert "Did you mean" not in json.dumps(await post(http, typo))
        assert "errors" not in await post(http, "{ __typename }")
        from gateway.auth import issue_token

        token = issue_token(settings, user_id=1)
        signed_in = await post(http, introspect, Authorization=f"Bearer {token}")
        assert signed_in["data"]["__schema"]["queryType"]["name"] == "Query"
        assert "Did you mean" in json.dumps(await post(http, typo, Authorization=f"Bearer {token}"))
    async with gateway(db, introspection="off", field_suggestions="off") as http:
        assert codes(await post(http, introspect)) == ["INTROSPECTION_DISABLED"]
        assert "Did you mean" not in json.dumps(await post(http, typo))
    async with gateway(db) as http:  # development: on
        assert "errors" not in await post(http, introspect)
        assert "Did you mean 'fullName'" in json.dumps(await post(http, typo))


# -- the parse and validation caches --------------------------------------------------------


def test_the_caches_are_bounded_lru_keyed_by_the_query_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import schema.limits as limits

    guard = QueryGuard(replace(Settings(), **{**DEFAULTS, "query_cache_size": 2}))
    schema = build_schema()._schema
    validations = []
    real_validate = limits.validate

    def counting(*args: Any, **kwargs: Any) -> Any:
        validations.append(args[1])
        return real_validate(*args, **kwargs)

    monkeypatch.setattr(limits, "validate", counting)
    rules = tuple(graphql.specified_rules)
    a, b, c = "{ me { id } }", "{ me { kind } }", "{ me { fullName } }"
    doc_a = guard.parse(a)
    assert guard.parse(a) is doc_a
    for _ in range(3):
        assert guard.validate(schema, a, guard.parse(a), rules, False) == []
    assert len(validations) == 1
    assert guard.validate(schema, a, doc_a, rules, True) == []  # another key: suggestions
    assert len(validations) == 2
    doc_b = guard.parse(b)
    guard.parse(a)  # a is now the most recent
    guard.parse(c)  # evicts b
    assert len(guard.documents) == 2
    assert guard.parse(a) is doc_a
    assert guard.parse(b) is not doc_b
    invalid = "{ me { nope } }"
    first = guard.validate(schema, invalid, guard.parse(invalid), rules, False)
    again = guard.validate(schema, invalid, guard.parse(invalid), rules, False)
    assert [e.message for e in first] == [e.message for e in again]
    again.clear()
    assert guard.validate(schema, invalid, guard.parse(invalid), rules, False), "a copy"
    off = QueryGuard(replace(Settings(), **{**DEFAULTS, "query_cache_size": 0}))
    assert off.parse(a) is not off.parse(a)


# -- timeout and disconnect -----------------------------------------------------------------


class Stall:
    """A list resolver that never finishes on its own, and says when it starts and stops."""

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def page(self, *args: Any, **kwargs: Any) -> Any:
        self.entered.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.cancelled.set()
            raise


@pytest.fixture
def stall(monkeypatch: pytest.MonkeyPatch) -> Iterator[Stall]:
    stalled = Stall()
    monkeypatch.setattr(queries, "page", stalled.page)
    yield stalled


SLOW = {"query": "{ products(first: 1) { nodes { id } } }"}


async def test_execution_past_the_timeout_is_cancelled_and_504(db: Database, stall: Stall) -> None:
    async with gateway(db, execution_timeout_seconds=0.2) as http:
        response = await http.post("/graphql", json=SLOW)
    message = refused_json(response, 504, "EXECUTION_TIMEOUT")
    assert "0.2 seconds" in message and "GATEWAY_EXECUTION_TIMEOUT_SECONDS" in message
    assert stall.entered.is_set()
    assert stall.cancelled.is_set(), "the work was cancelled before the answer"


def _scope(body: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/graphql",
        "raw_path": b"/graphql",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"gateway"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("gateway", 80),
    }


async def test_a_disconnect_cancels_the_work_at_asgi_level(db: Database, stall: Stall) -> None:
    app = create_app(replace(db.settings, **DEFAULTS))
    body = json.dumps(SLOW).encode()
    sent: list[dict[str, Any]] = []
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await stall.entered.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        await asyncio.wait_for(app(_scope(body), receive, send), timeout=10)
    finally:
        await app.state.gateway.aclose()
    assert stall.cancelled.is_set()
    assert sent == [], "nobody is listening: nothing is sent"


async def test_a_client_that_hangs_up_frees_the_worker_on_a_real_server(
    db: Database, stall: Stall
) -> None:
    app = create_app(replace(db.settings, **DEFAULTS))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_config=None, http="h11", ws="none")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        body = json.dumps(SLOW).encode()
        writer.write(
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        await asyncio.wait_for(stall.entered.wait(), timeout=10)
        writer.close()
        await writer.wait_closed()
        await asyncio.wait_for(stall.cancelled.wait(), timeout=10)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=10)
        listener.close()
        await app.state.gateway.aclose()


async def test_without_a_timeout_work_runs_to_the_end(db: Database) -> None:
    async with gateway(db, execution_timeout_seconds=0) as http:
        body = await post(http, "{ products(first: 2) { nodes { id } } }")
    assert len(body["data"]["products"]["nodes"]) == 2


# -- settings -------------------------------------------------------------------------------


def test_limits_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "GATEWAY_MAX_QUERY_DEPTH": "9",
            "GATEWAY_MAX_QUERY_ALIASES": "0",
            "GATEWAY_MAX_QUERY_TOKENS": "2000",
            "GATEWAY_MAX_FIELD_DIRECTIVES": "4",
            "GATEWAY_MAX_QUERY_COST": "123",
            "GATEWAY_LIST_COST": "7",
            "GATEWAY_MAX_BODY_BYTES": "4096",
            "GATEWAY_MAX_BATCH_OPERATIONS": "5",
            "GATEWAY_EXECUTION_TIMEOUT_SECONDS": "2.5",
            "GATEWAY_QUERY_CACHE_SIZE": "16",
            "GATEWAY_INTROSPECTION": "authenticated",
            "GATEWAY_FIELD_SUGGESTIONS": "off",
        }
    )
    assert (settings.max_query_depth, settings.max_query_aliases) == (9, 0)
    assert (settings.max_query_tokens, settings.max_field_directives) == (2000, 4)
    assert (settings.max_query_cost, settings.list_cost) == (123, 7)
    assert (settings.max_body_bytes, settings.max_batch_operations) == (4096, 5)
    assert settings.execution_timeout_seconds == 2.5
    assert settings.query_cache_size == 16
    assert (settings.introspection, settings.field_suggestions) == ("authenticated", "off")
    assert Settings.from_env({}) == Settings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"GATEWAY_MAX_QUERY_DEPTH": "-1"}, "GATEWAY_MAX_QUERY_DEPTH must be 0"),
        ({"GATEWAY_MAX_QUERY_COST": "lots"}, "must be an integer"),
        ({"GATEWAY_LIST_COST": "0"}, "GATEWAY_LIST_COST must be at least 1"),
        ({"GATEWAY_MAX_BODY_BYTES": "0"}, "GATEWAY_MAX_BODY_BYTES must be at least 1"),
        ({"GATEWAY_MAX_BATCH_OPERATIONS": "0"}, "at least 1"),
        ({"GATEWAY_EXECUTION_TIMEOUT_SECONDS": "soon"}, "must be a number"),
        ({"GATEWAY_EXECUTION_TIMEOUT_SECONDS": "nan"}, "finite"),
        ({"GATEWAY_EXECUTION_TIMEOUT_SECONDS": "-1"}, "must be 0"),
        ({"GATEWAY_INTROSPECTION": "yes"}, "GATEWAY_INTROSPECTION must be one of"),
        ({"GATEWAY_FIELD_SUGGESTIONS": "sometimes"}, "GATEWAY_FIELD_SUGGESTIONS must be one of"),
    ],
)
def test_bad_limits_are_refused(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env(env)


def test_who_is_allowed_introspection_by_environment() -> None:
    production = Settings(env="production")
    assert not production.allows(None, anonymous=True)
    assert production.allows(None, anonymous=False)
    assert Settings(env="development").allows(None, anonymous=True)
    assert Settings(env="production").allows("on", anonymous=True)
    assert not Settings().allows("off", anonymous=False)
