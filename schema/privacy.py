"""Privacy applied where objects are built: one decision per (subject, category), no field wrappers.

Each GraphQL type with personal data builds its objects through `project()`, which
reads the type's `@personal` directives once, asks the request's PrivacyScope for a
decision per subject and category, and stores what it hid on the object. Resolvers that
hand objects to GraphQL call `report()` so the redaction report names response paths.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from operator import attrgetter
from typing import Any, TypeVar

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from graphql.pyutils import Path as GraphQLPath
from strawberry.types import Info

from directives.decision import Action, Reason
from directives.masking import Mask, Strategy
from directives.report import Path, RedactionReport
from directives.sdl import personal_fields as sdl_personal_fields
from directives.taxonomy import Category
from resolvers.context import Context
from resolvers.privacy import PrivacyScope, SubjectView

T = TypeVar("T")
_redactions = attrgetter("redactions")
Redaction = tuple[str, Action, Reason]


@dataclass(frozen=True, slots=True)
class PersonalField:
    attr: str  # the Python attribute holding the value; a link field holds the linked id
    name: str  # the GraphQL field name
    category: Category
    subject: str | None
    strategy: Strategy
    is_link: bool


class SchemaPrivacyError(Exception):
    """The schema declares personal data in a way the gateway cannot enforce."""


@cache
def personal_fields(cls: type) -> tuple[PersonalField, ...]:
    """The `@personal` fields of a strawberry type, read from its directives once.

    A field with a resolver is a link to a person; its value lives in `<name>_id`.
    """
    links = {
        field.python_name
        for field in cls.__strawberry_definition__.fields  # type: ignore[attr-defined]
        if field.base_resolver is not None
    }
    return tuple(
        PersonalField(
            attr=f"{python_name}_id" if python_name in links else python_name,
            name=graphql_name,
            category=directive.category,
            subject=directive.subject,
            strategy=directive.strategy,
            is_link=python_name in links,
        )
        for python_name, graphql_name, directive in sdl_personal_fields(cls)
    )


def project(
    ctx: Context,
    cls: type[T],
    rows: Sequence[dict[str, Any]],
    views: Sequence[SubjectView | Mapping[Any, SubjectView]],
    *,
    retained: bool = False,
) -> list[T]:
    """Build `cls(**values)` per row, every personal value shown, masked or stripped.

    `views[i]` is how the viewer stands towards row i's data subject: a SubjectView for a
    type whose personal fields are all one person's, else a mapping subject -> view.
    Rows whose subjects the viewer stands towards alike share one plan and its masks.
    """
    scope = ctx.privacy
    if not scope.enforce:
        objects = [cls(**values) for values in rows]
        for obj in objects:
            obj.redactions = ()  # type: ignore[attr-defined]
        return objects
    objects = []
    plans = scope.plans.get((cls, retained))
    if plans is None:
        plans = scope.plans[(cls, retained)] = {}
    plan_for = plans.get
    of: type = cls
    subjects = _subjects(of)
    for values, view in zip(rows, views, strict=True):
        if isinstance(view, SubjectView):
            key: object = view.stance
        else:
            key = tuple([view[subject].stance for subject in subjects])
        plan = plan_for(key)
        if plan is None:
            by_subject = {subjects[0]: view} if isinstance(view, SubjectView) else view
            plan = plans[key] = _plan(scope, cls, by_subject, retained)
        for attr, mask in plan.masks:
            values[attr] = mask(values[attr])
        obj = cls(**values)
        obj.redactions = plan.redactions  # type: ignore[attr-defined]
        objects.append(obj)
    return objects


@dataclass(frozen=True, slots=True)
class _Plan:
    """What projection hides of one type for subjects the viewer stands towards alike:
    a mask per hidden attribute (STRIP masks to None), and what the report says of it."""

    masks: tuple[tuple[str, Mask], ...]
    redactions: tuple[Redaction, ...]


def _plan(
    scope: PrivacyScope, cls: type, views: Mapping[str | None, SubjectView], retained: bool
) -> _Plan:
    masks: list[tuple[str, Mask]] = []
    redactions: list[Redaction] = []
    for field in personal_fields(cls):
        decision = scope.decide(views[field.subject], field.category, retained)
        if decision.action is Action.SHOW:
            continue
        redactions.append((field.name, decision.action, decision.reason))
        if decision.action is Action.STRIP:
            masks.append((field.attr, _stripped))
        elif not field.is_link:  # a masked link still leads to an object that masks itself
            masks.append((field.attr, _mask(scope, decision.strategy or field.strategy)))
    return _Plan(tuple(masks), tuple(redactions))


def _mask(scope: PrivacyScope, strategy: Strategy) -> Mask:
    return scope.masks.get(strategy, scope.viewer.purpose.value)


def _stripped(value: object) -> None:
    return None


@cache
def _subjects(cls: type) -> tuple[str | None, ...]:
    """The distinct subjects a type's personal fields belong to, in field order."""
    return tuple(dict.fromkeys(field.subject for field in personal_fields(cls)))


def report(
    info: Info[Context, None], objects: Iterable[Any] | Any, *, nodes: str | None = None
) -> None:
    """Record what the objects just returned by this field hid, under their response paths.

    `objects` is one object, or a list (items get `[i]`); `nodes` names the list field of
    a page object (`users { nodes { ... } }`).
    """
    scope = info.context.privacy
    if not scope.enforce or objects is None:
        return
    items = objects if isinstance(objects, (list, tuple)) else None
    single: tuple[Redaction, ...] = () if items is not None else getattr(objects, "redactions", ())
    if not (single or (items and any(getattr(obj, "redactions", ()) for obj in items))):
        return  # nothing hidden: no paths to work out
    selection = _selected(info)
    if not scope.report.keeps_paths:
        _report_alike(scope.report, scope.plans, info, items, single, selection, nodes)
        return
    base = _path(info)
    if nodes is not None:
        base_paths = [(*base, key) for key in selection.get(nodes, ())]
        selection = _merge_sub(info, nodes)
    else:
        base_paths = [base]
    record = scope.report.record
    for prefix in base_paths:
        if items is None:
            _record(record, prefix, single, selection)
            continue
        for index, obj in enumerate(items):
            redactions = getattr(obj, "redactions", ())
            if redactions:
                _record(record, (*prefix, index), redactions, selection)


def _report_alike(
    report: RedactionReport,
    plans_by_type: Mapping[Any, Mapping[object, _Plan]],
    info: Info[Context, None],
    items: Sequence[Any] | None,
    single: tuple[Redaction, ...],
    selection: Mapping[str, Sequence[str]],
    nodes: str | None,
) -> None:
    """Counts only (no full report asked for): objects hidden alike are recorded together,
    by path shape (list positions collapsed), with no concrete path worked out."""
    shape = _shape(info._raw_info.path)
    shapes = [shape]
    if nodes is not None:
        shapes = [(*shape, key) for key in selection.get(nodes, ())]
        selection = _merge_sub(info, nodes)
    if items is None:
        for at in shapes:
            report.record_alike(at, single, selection)
        return
    # Objects built by one plan share its redactions tuple (found again in the plans):
    # count them by identity, record each plan's once.
    try:
        counts = Counter(map(id, map(_redactions, items)))
    except AttributeError:  # objects projection did not build hid nothing
        counts = Counter(id(getattr(obj, "redactions", ())) for obj in items)
    hidden = {
        id(plan.redactions): plan.redactions
        for plans in plans_by_type.values()
        for plan in plans.values()
        if plan.redactions and id(plan.redactions) in counts
    }
    for at in shapes:
        for key, redactions in hidden.items():
            report.record_alike((*at, -1), redactions, selection, counts[key])


def _shape(path: GraphQLPath | None) -> Path:
    """A response path with list positions as -1: ("users", "nodes", -1, "company")."""
    parts: list[str | int] = []
    while path is not None:
        parts.append(-1 if type(path.key) is int else path.key)
        path = path.prev
    parts.reverse()
    return tuple(parts)


def _record(
    record: Callable[[Path, str, Action, Reason], None],
    path: Path,
    redactions: Iterable[Redaction],
    selection: Mapping[str, Sequence[str]],
) -> None:
    for name, action, reason in redactions:
        for key in selection.get(name, ()):
            record(path, key, action, reason)


def _path(info: Info[Context, None]) -> Path:
    return tuple(info.path.as_list())


def _selected(info: Info[Context, None]) -> Mapping[str, Sequence[str]]:
    """GraphQL field name -> response keys (aliases) selected under this field."""
    raw = info._raw_info
    cache_key = id(raw.field_nodes[0])
    cache = info.context.privacy.selections
    cached = cache.get(cache_key)
    if cached is not None:
        return cached
    keys: dict[str, list[str]] = {}
    for node in raw.field_nodes:
        _collect(node.selection_set, raw.fragments, keys)
    cache[cache_key] = keys
    return keys


def _merge_sub(info: Info[Context, None], child: str) -> Mapping[str, Sequence[str]]:
    raw = info._raw_info
    keys: dict[str, list[str]] = {}
    for node in raw.field_nodes:
        for sub in _children(node.selection_set, raw.fragments):
            if sub.name.value == child:
                _collect(sub.selection_set, raw.fragments, keys)
    return keys


def _children(
    selection_set: SelectionSetNode | None, fragments: Mapping[str, Any]
) -> list[FieldNode]:
    found: list[FieldNode] = []
    if selection_set is None:
        return found
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode):
            found.extend(_children(selection.selection_set, fragments))
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                found.extend(_children(fragment.selection_set, fragments))
    return found


def _collect(
    selection_set: SelectionSetNode | None,
    fragments: Mapping[str, Any],
    keys: dict[str, list[str]],
) -> None:
    for node in _children(selection_set, fragments):
        key = node.alias.value if node.alias else node.name.value
        bucket = keys.setdefault(node.name.value, [])
        if key not in bucket:
            bucket.append(key)
