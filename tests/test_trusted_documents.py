"""Trusted documents: with a manifest, platform users and anonymous viewers run only its
operations, named by hash (`documentId`, Apollo's `persistedQuery`) or sent as their exact
text; employees may still send their own unless that is turned off."""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import cli
from gateway.app import create_app
from gateway.errors import ConfigurationError
from gateway.settings import Settings
from gateway.trusted import TrustedDocuments, parse_manifest
from tests.conftest import Database, employee_token, user_token

ME = "query Me { me { id } }"
PRODUCTS = "query Products { products(first: 2) { nodes { id } } }"
ADHOC = "{ me { id fullName } }"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def guild(*documents: str) -> dict[str, str]:
    return {sha(d): d for d in documents}


def apollo(*documents: str) -> dict[str, Any]:
    return {
        "format": "apollo-persisted-query-manifest",
        "version": 1,
        "operations": [
            {"id": sha(d), "body": d, "name": d.split()[1], "type": "query"} for d in documents
        ],
    }


@contextlib.asynccontextmanager
async def gateway(
    db: Database, tmp_path: Path, manifest: Any, **overrides: Any
) -> AsyncIterator[httpx.AsyncClient]:
    path = tmp_path / "manifest.json"
    path.write_text(json.dumps(manifest))
    app = create_app(replace(db.settings, trusted_documents=path, **overrides))
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield http
    finally:
        await app.state.gateway.aclose()


def code(response: httpx.Response) -> str | None:
    errors = response.json().get("errors") or [{}]
    found: str | None = errors[0].get("extensions", {}).get("code")
    return found


@pytest.fixture(params=["guild", "apollo"])
def manifest(request: pytest.FixtureRequest) -> Any:
    return (guild if request.param == "guild" else apollo)(ME, PRODUCTS)


async def test_listed_documents_run_by_hash_or_text(
    db: Database, tmp_path: Path, manifest: Any
) -> None:
    buyer = {"Authorization": f"Bearer {user_token(db, 'buyer')}"}
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha(ME)}}
    async with gateway(db, tmp_path, manifest) as http:
        for body in (
            {"documentId": f"sha256:{sha(ME)}"},
            {"documentId": sha(ME).upper()},
            {"extensions": persisted},
            {"query": ME},
            {"query": ME, "extensions": persisted},
        ):
            response = await http.post("/graphql", json=body, headers=buyer)
            assert response.status_code == 200, (body, response.text)
            assert response.json()["data"]["me"]["id"] == "1"
        got = await http.get("/graphql", params={"documentId": f"sha256:{sha(PRODUCTS)}"})
        assert got.status_code == 200 and len(got.json()["data"]["products"]["nodes"]) == 2


async def test_anything_else_is_refused_for_users_and_the_public(
    db: Database, tmp_path: Path, manifest: Any
) -> None:
    buyer = {"Authorization": f"Bearer {user_token(db, 'buyer')}"}
    async with gateway(db, tmp_path, manifest) as http:
        for headers in (buyer, {}):
            untrusted = await http.post("/graphql", json={"query": ADHOC}, headers=headers)
            assert (untrusted.status_code, code(untrusted)) == (400, "DOCUMENT_NOT_TRUSTED")
            spaced = await http.post("/graphql", json={"query": ME + " "}, headers=headers)
            assert code(spaced) == "DOCUMENT_NOT_TRUSTED", "the exact text, byte for byte"
        unknown = await http.post("/graphql", json={"documentId": f"sha256:{sha(ADHOC)}"})
        assert (unknown.status_code, code(unknown)) == (400, "PERSISTED_QUERY_NOT_FOUND")
        mismatch = await http.post(
            "/graphql", json={"query": ADHOC, "documentId": f"sha256:{sha(ME)}"}
        )
        assert (mismatch.status_code, code(mismatch)) == (400, "BAD_REQUEST")
        malformed = await http.post("/graphql", json={"documentId": "md5:abc"})
        assert code(malformed) == "BAD_REQUEST"
        nothing = await http.post("/graphql", json={"variables": {}})
        assert code(nothing) == "BAD_REQUEST"
        introspection = await http.post(
            "/graphql", json={"query": "{ __schema { types { name } } }"}
        )
        assert code(introspection) == "DOCUMENT_NOT_TRUSTED"


async def test_a_batch_runs_only_if_every_operation_is_trusted(
    db: Database, tmp_path: Path
) -> None:
    async with gateway(db, tmp_path, guild(ME, PRODUCTS), max_batch_operations=2) as http:
        ok = await http.post("/graphql", json=[{"query": PRODUCTS}, {"documentId": sha(PRODUCTS)}])
        assert ok.status_code == 200 and len(ok.json()) == 2
        mixed = await http.post("/graphql", json=[{"query": PRODUCTS}, {"query": ADHOC}])
        assert (mixed.status_code, code(mixed)) == (400, "DOCUMENT_NOT_TRUSTED")


async def test_employees_may_send_their_own_unless_turned_off(db: Database, tmp_path: Path) -> None:
    dpo = {"Authorization": f"Bearer {employee_token(db, 'dpo')}", "X-Processing-Purpose": "LEGAL"}
    adhoc = {"query": "{ products(first: 1) { nodes { id } } }"}
    async with gateway(db, tmp_path, guild(ME)) as http:
        response = await http.post("/graphql", json=adhoc, headers=dpo)
        assert response.status_code == 200 and "errors" not in response.json()
        unknown = await http.post("/graphql", json={"documentId": sha(ADHOC)}, headers=dpo)
        assert code(unknown) == "PERSISTED_QUERY_NOT_FOUND", "a hash alone has no text to run"
    async with gateway(db, tmp_path, guild(ME), trusted_documents_employees_adhoc=False) as http:
        response = await http.post("/graphql", json=adhoc, headers=dpo)
        assert (response.status_code, code(response)) == (400, "DOCUMENT_NOT_TRUSTED")


async def test_without_a_manifest_a_hash_alone_is_not_supported(
    client: httpx.AsyncClient,
) -> None:
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha(ME)}}
    alone = await client.post("/graphql", json={"extensions": persisted})
    assert (alone.status_code, code(alone)) == (400, "PERSISTED_QUERY_NOT_SUPPORTED")
    with_text = await client.post(
        "/graphql", json={"query": "{ __typename }", "extensions": persisted}
    )
    assert with_text.status_code == 200, "the text runs; the hash is not checked"
    assert code(await client.post("/graphql", json={})) == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({sha(ME): ADHOC}, "the id is not the sha256 of its document"),
        ({"me": ME}, "needs a sha256 hex id and a document string"),
        ({sha(ME): 42}, "needs a sha256 hex id and a document string"),
        ({}, "lists no documents"),
        ([ME], "a manifest is a JSON object"),
        ({**apollo(ME), "version": 2}, "needs version 1 and operations"),
        ({**apollo(ME), "operations": ["x"]}, "operations[0] is not an object"),
    ],
)
def test_a_bad_manifest_stops_the_start(manifest: Any, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message.replace("[", r"\[")):
        parse_manifest(manifest, "manifest.json")


def test_a_manifest_file_is_read_once_at_start(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    path.write_text("{not json")
    with pytest.raises(ConfigurationError, match="not a readable JSON file"):
        TrustedDocuments.load(path)
    path.write_text(json.dumps({f"sha256:{sha(ME)}": ME}))
    assert TrustedDocuments.load(path).by_hash == {sha(ME): ME}
    with pytest.raises(ConfigurationError, match=r"GATEWAY_TRUSTED_DOCUMENTS .* readable file"):
        Settings.from_env({"GATEWAY_TRUSTED_DOCUMENTS": str(tmp_path / "missing.json")})
    settings = Settings.from_env(
        {"GATEWAY_TRUSTED_DOCUMENTS": str(path), "GATEWAY_TRUSTED_DOCUMENTS_EMPLOYEES_ADHOC": "0"}
    )
    assert settings.trusted_documents == path and not settings.trusted_documents_employees_adhoc


async def test_the_cli_builds_a_manifest_the_gateway_runs(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = []
    for name, text in (("me.graphql", ME + "\n"), ("products.graphql", PRODUCTS)):
        files.append(tmp_path / name)
        files[-1].write_text(text)
    assert cli.main(["trusted-documents", "build", *map(str, files)]) == 0
    manifest = json.loads(capsys.readouterr().out)
    assert manifest == guild(ME + "\n", PRODUCTS)
    async with gateway(db, tmp_path, manifest) as http:
        response = await http.post("/graphql", json={"documentId": sha(PRODUCTS)})
        assert response.status_code == 200 and "errors" not in response.json()

    broken = tmp_path / "broken.graphql"
    broken.write_text("{ noSuchField }")
    assert cli.main(["trusted-documents", "build", str(broken)]) == 1
    assert "broken.graphql: Cannot query field 'noSuchField'" in capsys.readouterr().err
