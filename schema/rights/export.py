"""Access and portability (Art. 4.1; GDPR Art. 15, 20): `requestDataExport`, and the export
document read from the `@personal` declarations.

What goes in is derived, not listed: every `@personal` field of the schema, grouped by its
data category, for every row in which the subject plays the field's role (`SOURCES`). The
objects are built by each type's own `.build(ctx, rows)` with the subject as viewer, so
`project()` decides and masks them exactly as for a GraphQL read: other people on them
(chat partners, counterparties) appear as the subject sees them there. Each category says
where its data comes from, why it is processed and on what basis, who sees it and how
(from the policy tables, for the subject's current state) and how long it is kept.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import strawberry
from graphql import GraphQLObjectType
from sqlalchemy import ColumnElement
from strawberry.types import Info
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.types.lazy_type import LazyType

from directives.decision import Action
from directives.masking import Strategy
from directives.policy import Audience, Policy, SubjectState, audiences
from directives.sdl import EACH, Personal
from directives.sdl import retained as sdl_retained
from directives.taxonomy import Category, DeletionState
from resolvers import visibility
from resolvers.context import Context
from resolvers.rights.export import download
from resolvers.rights.export.categories import FieldFacts, Result, describe
from resolvers.rights.export.filing import ExportFormat, request_export
from resolvers.rights.export.records import plain, refs, you
from resolvers.rights.export.snapshot import Sessions, chunks, count
from resolvers.rights.export.sources import CATEGORIES, PERSON, SOURCES, Source
from resolvers.rights.export.writers import Event
from schema import catalog
from schema.privacy import Kind, PersonalField, SchemaPrivacyError, listed, outcome, personal_fields
from schema.rights.types import PrivacyRequest, Refused, attempt

strawberry.enum(ExportFormat, description="What an export is written as.")

Doc = dict[str, Any]
Role = str | None  # a field's role: its `subject`, None for the record's own, `each`
ERASED = SubjectState(DeletionState.ERASED, analytics_consent=False)
_MEDIA = {ExportFormat.JSON: "application/json", ExportFormat.HTML: "text/html"}


@strawberry.type(description="Where to download an export, and until when the link works.")
class ExportDownload:
    url: str = strawberry.field(
        description="/exports/<request id>?token=<signed token>, relative to the gateway."
    )
    expires_at: datetime
    format: ExportFormat
    media_type: str


@strawberry.type(description="The export request filed (or the open one), its link, or why not.")
class DataExportPayload:
    request: PrivacyRequest | None = None
    created: bool = strawberry.field(
        default=False, description="False when the open request of this format came back."
    )
    download: ExportDownload | None = None
    errors: list[Refused] = strawberry.field(default_factory=list)


@strawberry.type
class ExportMutations:
    @strawberry.mutation(
        description="A copy of all your personal data (Art. 4.1): files an EXPORT request and "
        "returns a link that works for GATEWAY_EXPORT_TTL_SECONDS (or download it with your "
        "own token). It is generated when downloaded; no copy is kept."
    )
    async def request_data_export(
        self, info: Info[Context, None], format: ExportFormat = ExportFormat.JSON
    ) -> DataExportPayload:
        result = await attempt(lambda: request_export(info.context, format))
        if isinstance(result, list):
            return DataExportPayload(errors=result)
        row, created, token, link = result
        return DataExportPayload(
            request=PrivacyRequest.build(row, info.context.clock()),
            created=created,
            download=ExportDownload(
                url=link.url(token),
                expires_at=link.expires_at,
                format=format,
                media_type=_MEDIA[format],
            ),
        )


class ExportHost(download.ExportHost, Protocol):
    schema: strawberry.Schema


def export_endpoint(host: ExportHost) -> Callable[..., Any]:
    """`GET /exports/{id}`; refuses to start if a personal field has no row source."""
    return download.endpoint(host, Exporter(host.schema, host.policy).events)


# -- the plan: what is exported, read from the schema ----------------------------------------


@dataclass(frozen=True, slots=True)
class TypeInfo:
    name: str
    cls: Any
    fields: tuple[PersonalField, ...]
    details: tuple[tuple[str, str], ...]  # (attribute, name) of plain non-personal fields
    retained: bool
    targets: dict[str, str]  # link attribute -> the GraphQL type it leads to


@dataclass(frozen=True, slots=True)
class Holding:
    """The subject's fields of one category on one type, in one role, and their rows."""

    info: TypeInfo
    role: Role
    source: Source
    fields: tuple[PersonalField, ...]
    others: tuple[PersonalField, ...]  # other people's fields on the same records

    def head(self) -> Doc:
        return {
            "type": self.info.name,
            "subject": self.role,
            "as": self.source.label,
            "fields": [f.name for f in self.fields],
            "others": [{"field": f.name, "of": _whose(self.info, f)} for f in self.others],
        }


def role_of(field: PersonalField) -> Role:
    return EACH if field.kind is Kind.EACH else field.subject


def plan(schema: strawberry.Schema) -> list[tuple[Category, list[Holding]]]:
    """Every category's holdings, checked against `SOURCES` and `CATEGORIES`."""
    types = _personal_types(schema)
    problems = [
        f"category {c.value} has no row in CATEGORIES" for c in Category if c not in CATEGORIES
    ]
    problems += [
        f"{info.name} has more than one list of people"
        for info in types.values()
        if sum(f.kind is Kind.EACH for f in info.fields) > 1
    ]
    holdings: dict[Category, list[Holding]] = {}
    used = set()
    for info in types.values():
        for role in dict.fromkeys(role_of(f) for f in info.fields):
            source = SOURCES.get((info.name, role))
            if source is None:
                problems.append(f"{info.name} fields of subject {role or 'self'} have no source")
                continue
            used.add((info.name, role))
            problems += _check_links(info, role, source)
            # Other people's fields, and every list of people (whoever else it lists).
            others = tuple(f for f in info.fields if role_of(f) != role or f.kind is Kind.EACH)
            for category in dict.fromkeys(f.category for f in info.fields if role_of(f) == role):
                own = tuple(f for f in info.fields if role_of(f) == role and f.category is category)
                holding = Holding(info, role, source, own, others)
                holdings.setdefault(category, []).append(holding)
    problems += [
        f"SOURCES row {key} matches no personal field" for key in SOURCES if key not in used
    ]
    if problems:
        raise SchemaPrivacyError(
            "the export cannot cover every personal field: "
            + "; ".join(problems)
            + " (add the row to resolvers/rights/export/sources.py)"
        )
    return [(c, holdings[c]) for c in Category if c in holdings]


def _check_links(info: TypeInfo, role: Role, source: Source) -> list[str]:
    problems = []
    for field in info.fields:
        if role_of(field) != role:
            continue
        where = f"{info.name}.{field.name}"
        if field.kind is Kind.EACH and source.people is None:
            problems.append(f"{where} lists people, but its source names no `people`")
        if field.kind is not Kind.LINK:
            continue
        target = info.targets[field.attr]
        if target == PERSON and source.column is None:
            problems.append(f"{where} links to a person, but its source names no column")
        elif target != PERSON and _edge(f"{info.name}.{field.attr}") is None:
            problems.append(f"{where} lists {target} records, but no source is its `edge`")
    return problems


def _edge(name: str) -> tuple[str, Role] | None:
    return next((key for key, source in SOURCES.items() if source.edge == name), None)


def _personal_types(schema: strawberry.Schema) -> dict[str, TypeInfo]:
    found = {}
    for name, gql_type in sorted(schema._schema.type_map.items()):
        if not isinstance(gql_type, GraphQLObjectType) or name.startswith("__"):
            continue
        definition = (gql_type.extensions or {}).get("strawberry-definition")
        cls = getattr(definition, "origin", None)
        if cls is None or not personal_fields(cls):
            continue
        # The fields GraphQL serves (not the private ones), from the strawberry definitions.
        served = [
            (key, f.extensions["strawberry-definition"]) for key, f in gql_type.fields.items()
        ]
        plain = [
            (field.python_name, key)
            for key, field in served
            if field.base_resolver is None
            and not any(isinstance(d, Personal) for d in field.directives)
        ]
        targets = {
            field.python_name: _target(field.type) for _, field in served if field.base_resolver
        }
        found[name] = TypeInfo(
            name,
            cls,
            personal_fields(cls),
            tuple((attr, key) for attr, key in plain if attr != "id"),
            sdl_retained(cls) is not None,
            targets,
        )
    return found


def _target(field_type: Any) -> str:
    while isinstance(field_type, StrawberryOptional | StrawberryList):
        field_type = field_type.of_type
    if isinstance(field_type, LazyType):
        field_type = field_type.resolve_type()
    definition = getattr(field_type, "__strawberry_definition__", None)
    return str(definition.name) if definition is not None else ""


def _whose(info: TypeInfo, field: PersonalField) -> str:
    if field.kind is Kind.EACH:
        return "each person listed"
    return SOURCES[(info.name, field.subject)].label


# -- the document --------------------------------------------------------------------------


class Exporter:
    def __init__(self, schema: strawberry.Schema, policy: Policy) -> None:
        self.schema = schema
        self.policy = policy
        self.categories = plan(schema)
        self.types = _personal_types(schema)
        self.person = self.types[PERSON]
        self._decided: dict[SubjectState, Outcomes] = {}

    async def events(self, snapshot: download.Snapshot) -> AsyncIterator[Event]:
        subject = snapshot.subject
        state = SubjectState(DeletionState(subject.deletion_state), subject.analytics_consent)
        now, after = self._outcomes(state), self._outcomes(ERASED)
        for category, holdings in self.categories:
            opened = False
            for holding in holdings:
                total = 0
                where = holding.source.names(subject.id)
                async for rows in chunks(snapshot.sessions, holding.source.model, where):
                    records = await self._records(snapshot, holding, rows)
                    if not records:
                        continue
                    if not opened:
                        opened = True
                        yield "category", self._meta(category, holdings, now, after)
                    if not total:
                        yield "holding", holding.head()
                    total += len(records)
                    yield "records", records
                if total:
                    yield "end_holding", total
            if opened:
                yield "end_category", None

    def _outcomes(self, state: SubjectState) -> Outcomes:
        """Per subject state (a handful exist), computed once per process."""
        found = self._decided.get(state)
        if found is None:
            found = self._decided[state] = _outcomes(self.schema, self.types, self.policy, state)
        return found

    async def _records(
        self, snapshot: download.Snapshot, holding: Holding, rows: Sequence[Any]
    ) -> list[Doc]:
        ctx = snapshot.context()  # fresh loaders per chunk: caches never outgrow a chunk
        objects = await holding.info.cls.build(ctx, rows)
        by_id = {row.id: row for row in rows}
        me = snapshot.subject.id
        linked = [
            getattr(by_id[int(obj.id)], SOURCES[(holding.info.name, f.subject)].column or "")
            for obj in objects
            for f in holding.others
            if f.kind is Kind.LINK and f.attr not in obj.withheld
        ]
        people = await self._people(ctx, [i for i in linked if i is not None])
        each = [f for f in (*holding.fields, *holding.others) if f.kind is Kind.EACH]
        lists = await self._lists(
            ctx, snapshot.sessions, holding, [int(o.id) for o in objects], each
        )
        edges = await self._edges(snapshot.sessions, holding, me)
        records = []
        for obj in objects:
            row = by_id[int(obj.id)]
            record: Doc = {
                "id": str(obj.id),
                "details": {key: plain(getattr(obj, attr)) for attr, key in holding.info.details},
            }
            if references := refs(row):
                record["refs"] = references
            record["values"] = {
                f.name: self._own(obj, f, me, edges, lists.get(int(obj.id), []))
                for f in holding.fields
            }
            if holding.others:
                record["others"] = {
                    f.name: self._other(
                        obj, row, holding, f, people, lists.get(int(obj.id), []), me
                    )
                    for f in holding.others
                }
            records.append(record)
        return records

    def _own(self, obj: Any, field: PersonalField, me: int, edges: Doc, listed_: list[Doc]) -> Any:
        if field.kind is Kind.VALUE:
            return plain(getattr(obj, field.attr))
        if field.kind is Kind.EACH:
            return you(me) if any(p["id"] == str(me) for p in listed_) else None
        if field.attr in obj.withheld:
            return None
        return edges.get(field.attr, you(me))

    def _other(
        self,
        obj: Any,
        row: Any,
        holding: Holding,
        field: PersonalField,
        people: dict[int, Doc | None],
        listed_: list[Doc],
        me: int,
    ) -> Any:
        if field.kind is Kind.VALUE:
            return plain(getattr(obj, field.attr))
        if field.kind is Kind.EACH:
            return [p for p in listed_ if p["id"] != str(me)]
        if field.attr in obj.withheld:
            return None
        person = getattr(row, SOURCES[(holding.info.name, field.subject)].column or "")
        return None if person is None else people.get(person)

    async def _people(self, ctx: Context, user_ids: Iterable[int]) -> dict[int, Doc | None]:
        """People as the subject finds them through a link (`load_user`): not purged, not
        wholly hidden."""
        wanted = sorted(set(user_ids))
        if not wanted:
            return {}
        rows = await ctx.loaders.user_by_id.load_many(wanted)
        users = await self.person.cls.build(
            ctx, [row for row in rows if row is not None and row.deletion_state != "PURGED"]
        )
        found = {int(user.id): self._person(user) for user in users}
        return {user_id: found.get(user_id) for user_id in wanted}

    async def _lists(
        self,
        ctx: Context,
        sessions: Sessions,
        holding: Holding,
        ids: list[int],
        fields: list[PersonalField],
    ) -> dict[int, list[Doc]]:
        """For a list of people (`each`): who each record lists, as the subject may know."""
        source = SOURCES.get((holding.info.name, EACH))
        if not fields or not ids or source is None or source.people is None:
            return {}
        async with sessions() as session:
            pairs = (await session.execute(source.people(ids))).all()
        rows = [
            r for r in await ctx.loaders.user_by_id.load_many(sorted({u for _, u in pairs})) if r
        ]
        views = await ctx.privacy.views_of_users(rows)
        kept = [
            row
            for row, keep in zip(rows, listed(ctx, fields[0].category, views), strict=True)
            if keep
        ]
        found = {
            int(user.id): self._person(user) for user in await self.person.cls.build(ctx, kept)
        }
        result: dict[int, list[Doc]] = {}
        for record_id, user_id in pairs:
            if user_id in found:
                result.setdefault(record_id, []).append(found[user_id])
        return result

    async def _edges(self, sessions: Sessions, holding: Holding, me: int) -> Doc:
        """Edges from the subject to their records: how many, and which holding lists them."""
        edges: Doc = {}
        for field in holding.fields:
            key = _edge(f"{holding.info.name}.{field.attr}") if field.kind is Kind.LINK else None
            if key is None:
                continue
            source = SOURCES[key]
            where: ColumnElement[bool] = source.names(me)
            edges[field.attr] = {
                "type": key[0],
                "subject": key[1],
                "count": await count(sessions, source.model, where),
            }
        return edges

    def _person(self, user: Any) -> Doc:
        doc: Doc = {"id": str(user.id)}
        doc.update({key: plain(getattr(user, attr)) for attr, key in self.person.details})
        doc.update(
            {
                f.name: plain(getattr(user, f.attr))
                for f in self.person.fields
                if f.kind is Kind.VALUE
            }
        )
        return doc

    def _meta(
        self, category: Category, holdings: list[Holding], now: Outcomes, after: Outcomes
    ) -> Doc:
        facts = [
            FieldFacts(
                f"{h.info.name}.{f.name}",
                sdl_retained(h.info.cls),
                now[(h.info.name, f.name)],
                after[(h.info.name, f.name)],
            )
            for h in holdings
            for f in h.fields
        ]
        return describe(category, self.policy, facts)


Outcomes = dict[tuple[str, str], list[Result]]


def _outcomes(
    schema: strawberry.Schema, types: dict[str, TypeInfo], policy: Policy, state: SubjectState
) -> Outcomes:
    """What every viewer class gets of each field of a subject in `state`: the action from
    `catalog.outcomes` (the code `redactionStatus` uses), the mask from the same decision."""
    everyone = audiences()
    result: Outcomes = {}
    for type_name, field_name, _, decided in catalog.outcomes(schema, policy, state):
        info = types[type_name]
        field = next(f for f in info.fields if f.name == field_name)
        result[(type_name, field_name)] = [
            (
                action,
                _strategy(policy, audience, info, field, state) if action is Action.MASK else None,
            )
            for audience, (_, action, _) in zip(everyone, decided, strict=True)
        ]
    return result


def _strategy(
    policy: Policy, audience: Audience, info: TypeInfo, field: PersonalField, state: SubjectState
) -> Strategy | None:
    entity = visibility.ENTITY_OF.get(info.name, info.name)
    if not visibility.audience_sees(audience, entity):
        return None
    decision = policy.decide(
        audience,
        field.category,
        state,
        retained=field.retained(info.retained),
        strategy=field.own_strategy,
    )
    return outcome(decision, field)[2]
