"""Trusted documents: with a manifest, platform users and anonymous viewers run only the
operations it lists; employees may still send their own (unless
GATEWAY_TRUSTED_DOCUMENTS_EMPLOYEES_ADHOC=0).

GATEWAY_TRUSTED_DOCUMENTS names a JSON manifest in either of two formats:

- The Guild's (GraphQL Code Generator's client preset): `{"<sha256 hex>": "<document>"}`;
- Apollo's persisted query list: `{"format": "apollo-persisted-query-manifest", "version": 1,
  "operations": [{"id": "<sha256 hex>", "body": "<document>", "name": ..., "type": ...}]}`.

Every id must be the SHA-256 of its document's UTF-8 text; the gateway refuses to start
otherwise. A request names its document by `documentId` (`sha256:<hex>` or `<hex>`) or by
Apollo's `extensions.persistedQuery.sha256Hash`, or sends the text itself, which runs when
the manifest lists it. Refusals (HTTP 400): an unknown hash is `PERSISTED_QUERY_NOT_FOUND`
(for everyone: there is no text to run), an unlisted text `DOCUMENT_NOT_TRUSTED`. Without a
manifest, a request with a hash and no text is `PERSISTED_QUERY_NOT_SUPPORTED`, so Apollo's
clients resend the text.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError, GatewayError
from resolvers.viewer import Viewer

APOLLO_FORMAT = "apollo-persisted-query-manifest"
_HEX = re.compile(r"[0-9a-f]{64}")


class DocumentRefused(Exception):
    """A request refused for its document; the message never quotes the request."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class TrustedDocuments:
    """The manifest's documents by hash."""

    def __init__(self, documents: Mapping[str, str], *, employees_adhoc: bool = True) -> None:
        self.by_hash = dict(documents)
        self._texts = frozenset(self.by_hash.values())
        self.employees_adhoc = employees_adhoc

    @classmethod
    def load(cls, path: Path, *, employees_adhoc: bool = True) -> TrustedDocuments:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ConfigurationError(
                f"GATEWAY_TRUSTED_DOCUMENTS {path} is not a readable JSON file "
                f"({type(exc).__name__})"
            ) from None
        return cls(parse_manifest(raw, str(path)), employees_adhoc=employees_adhoc)

    def __len__(self) -> int:
        return len(self.by_hash)

    def check(self, query: str | None, viewer: Viewer | None) -> None:
        """Raises `DocumentRefused` unless `viewer` may run `query`."""
        if query in self._texts:
            return
        if viewer is not None and viewer.is_employee and self.employees_adhoc:
            return
        raise DocumentRefused(
            "DOCUMENT_NOT_TRUSTED",
            "this gateway runs only trusted documents for this viewer: send the documentId "
            "of an operation in its manifest (GATEWAY_TRUSTED_DOCUMENTS)",
        )


def parse_manifest(raw: Any, where: str) -> dict[str, str]:
    """`{hash: document}` from either format, every hash checked against its document."""
    if isinstance(raw, dict) and raw.get("format") == APOLLO_FORMAT:
        if raw.get("version") != 1 or not isinstance(raw.get("operations"), list):
            raise ConfigurationError(f"{where}: an Apollo manifest needs version 1 and operations")
        pairs = []
        for i, operation in enumerate(raw["operations"]):
            if not isinstance(operation, dict):
                raise ConfigurationError(f"{where}: operations[{i}] is not an object")
            pairs.append((operation.get("id"), operation.get("body"), f"operations[{i}]"))
    elif isinstance(raw, dict):
        pairs = [(key, value, f"entry {key!r}") for key, value in raw.items()]
    else:
        raise ConfigurationError(f"{where}: a manifest is a JSON object")
    documents: dict[str, str] = {}
    for key, body, name in pairs:
        digest = _digest(key)
        if digest is None or not isinstance(body, str):
            raise ConfigurationError(f"{where}: {name} needs a sha256 hex id and a document string")
        if sha256_hex(body) != digest:
            raise ConfigurationError(f"{where}: {name}: the id is not the sha256 of its document")
        documents[digest] = body
    if not documents:
        raise ConfigurationError(f"{where}: the manifest lists no documents")
    return documents


def _digest(value: Any) -> str | None:
    """The hex of `sha256:<hex>` or `<hex>`; None for anything else."""
    if not isinstance(value, str):
        return None
    hex_part = value.removeprefix("sha256:").lower()
    return hex_part if _HEX.fullmatch(hex_part) else None


def requested_hash(payload: Mapping[str, Any]) -> str | None:
    """The hash a request names its document by, if any."""
    document_id = payload.get("documentId")
    persisted = (payload.get("extensions") or {}).get("persistedQuery")
    if document_id is None and persisted is None:
        return None
    if document_id is None:
        if not isinstance(persisted, dict) or persisted.get("version", 1) != 1:
            raise DocumentRefused(
                "BAD_REQUEST", "`extensions.persistedQuery` must be {version: 1, sha256Hash}"
            )
        document_id = persisted.get("sha256Hash")
    digest = _digest(document_id)
    if digest is None:
        raise DocumentRefused(
            "BAD_REQUEST", "a document id is sha256:<64 hex digits> (or the 64 digits alone)"
        )
    return digest


def resolve_query(documents: TrustedDocuments | None, payload: Mapping[str, Any]) -> str:
    """The text of the operation a request's payload sends or names (its `query` is a
    string or absent). Whether its viewer may run it is `TrustedDocuments.check`'s call."""
    query = payload.get("query")
    digest = requested_hash(payload)
    if query is not None:
        if documents is not None and digest is not None and sha256_hex(query) != digest:
            raise DocumentRefused("BAD_REQUEST", "the query is not the document its hash names")
        return str(query)
    if digest is None:
        raise DocumentRefused("BAD_REQUEST", "the request has no `query`")
    if documents is None:
        raise DocumentRefused(
            "PERSISTED_QUERY_NOT_SUPPORTED",
            "this gateway keeps no trusted documents (GATEWAY_TRUSTED_DOCUMENTS): send the query",
        )
    listed = documents.by_hash.get(digest)
    if listed is None:
        raise DocumentRefused(
            "PERSISTED_QUERY_NOT_FOUND",
            "no trusted document has this hash (GATEWAY_TRUSTED_DOCUMENTS)",
        )
    return listed


def build_manifest(paths: Iterable[Path]) -> dict[str, str]:
    """A manifest in the Guild's format of each file's exact text, each checked against
    the schema first: clients must then send these texts byte for byte, or their hashes."""
    from graphql import parse, validate
    from graphql.error import GraphQLSyntaxError

    from schema.build import build_schema

    schema = build_schema()._schema
    documents: dict[str, str] = {}
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise GatewayError(f"{path} is not UTF-8 text") from None
        try:
            errors = validate(schema, parse(text))
        except GraphQLSyntaxError as exc:
            raise GatewayError(f"{path}: {exc.message}") from None
        if errors:
            raise GatewayError(f"{path}: {errors[0].message}")
        documents[sha256_hex(text)] = text
    return documents
