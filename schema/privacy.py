"""Privacy applied where objects are built: one decision per (subject, category), no field wrappers.

Each GraphQL type with personal data builds its objects through `project()`, which
reads the type's `@personal` directives once, asks the request's PrivacyScope for a
decision per subject and category, and stores what it hid on the object. Resolvers that
hand objects to GraphQL call `report()` so the redaction report names response paths, and
so an employee's reads are audited: per plan, the fields selected there and the set of
subjects (resolvers/audit/reads.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from operator import attrgetter
from typing import Any, TypeVar

from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode, SelectionSetNode
from graphql.pyutils import Path as GraphQLPath
from strawberry.types import Info
from strawberry.types.base import StrawberryList, StrawberryOptional
from strawberry.types.lazy_type import LazyType

from directives.decision import Action, Decision, Reason
from directives.masking import Mask, Strategy
from directives.report import Path, RedactionReport
from directives.sdl import EACH, is_personal_record
from directives.sdl import personal_fields as sdl_personal_fields
from directives.sdl import retained as sdl_retained
from directives.taxonomy import Category
from resolvers.audit.reads import Read, ReadLog
from resolvers.context import Context
from resolvers.privacy import PrivacyScope, SubjectView

T = TypeVar("T")
_redactions = attrgetter("redactions")
Redaction = tuple[str, Action, Reason]


class Kind(StrEnum):
    VALUE = "VALUE"  # a plain field holding the value: shown, masked or stripped (null)
    LINK = "LINK"  # a resolver field to a person or from a person to their records: null
    EACH = "EACH"  # a list of people, each listed or not by their own decision


@dataclass(frozen=True, slots=True)
class PersonalField:
    attr: str  # the Python attribute (a value) or resolver name (a link)
    name: str  # the GraphQL field name
    category: Category
    subject: str | None
    strategy: Strategy
    kind: Kind
    # An edge to records kept under legal hold (a person's orders) is decided as those
    # records are, whatever the type it hangs off: `order.buyer` and `user.orders` agree.
    to_retained: bool = False

    @property
    def own_strategy(self) -> Strategy | None:
        """The strategy the policy resolves masks with: a value's own; none for a link."""
        return self.strategy if self.kind is Kind.VALUE else None

    def retained(self, holder_retained: bool) -> bool:
        """The retention a decision on this field is taken under."""
        return holder_retained or self.to_retained

    @property
    def is_link(self) -> bool:
        return self.kind is not Kind.VALUE


class SchemaPrivacyError(Exception):
    """The schema declares personal data in a way the gateway cannot enforce."""


@cache
def personal_fields(cls: type) -> tuple[PersonalField, ...]:
    """The `@personal` fields of a strawberry type, read from its directives once.

    A field with a resolver is a link (to a person, or from a person to their records);
    one whose subject is `each` lists people who each decide for themselves.
    """
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    links = {field.python_name for field in definition.fields if field.base_resolver is not None}
    kept = {field.python_name: _lists_retained(field.type) for field in definition.fields}
    return tuple(
        PersonalField(
            attr=python_name,
            name=graphql_name,
            category=directive.category,
            subject=None if directive.subject == EACH else directive.subject,
            strategy=directive.strategy,
            kind=(
                Kind.EACH
                if directive.subject == EACH
                else Kind.LINK
                if python_name in links
                else Kind.VALUE
            ),
            to_retained=kept.get(python_name, False),
        )
        for python_name, graphql_name, directive in sdl_personal_fields(cls)
    )


def _lists_retained(field_type: Any) -> bool:
    """Whether a field's type is a list of a `@retained` type (an edge to held records)."""
    while isinstance(field_type, StrawberryOptional):
        field_type = field_type.of_type
    if not isinstance(field_type, StrawberryList):
        return False
    item = field_type.of_type
    if isinstance(item, LazyType):
        item = item.resolve_type()
    return hasattr(item, "__strawberry_definition__") and sdl_retained(item) is not None


def outcome(decision: Decision, field: PersonalField) -> tuple[Action, Reason, Strategy | None]:
    """What a field really gets under a decision: a mask that produces nothing (REDACT) is
    a STRIP, and a masked link leads to an object that masks itself (no strategy here).

    Projection and `redactionStatus` both go through here, so what the status claims is
    what answers carry.
    """
    action = decision.action
    if action is Action.MASK:
        if field.kind is not Kind.VALUE:
            return action, decision.reason, None
        strategy = decision.strategy or field.strategy
        if strategy is Strategy.REDACT:
            return Action.STRIP, decision.reason, None
        return action, decision.reason, strategy
    return action, decision.reason, None


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
    Rows whose subjects the viewer stands towards alike share one plan and its masks. A
    `@personalRecord` of which the viewer may see nothing is left out: not found.
    """
    scope = ctx.privacy
    if not scope.enforce:
        objects = [cls(**values) for values in rows]
        for obj in objects:
            obj.redactions = ()  # type: ignore[attr-defined]
            obj.withheld = _NOTHING  # type: ignore[attr-defined]
        return objects
    objects = []
    audited = scope.audit is not None
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
            plan = plans[key] = _shared_plan(scope, cls, by_subject, retained)
        if plan.absent:
            continue
        for attr, mask in plan.masks:
            values[attr] = mask(values[attr])
        obj = cls(**values)
        obj.redactions = plan.redactions  # type: ignore[attr-defined]
        obj.withheld = plan.withheld  # type: ignore[attr-defined]
        if audited:  # whose data the object carries: `report()` records it where it is sent
            whose = (
                (view.subject_id,)
                if isinstance(view, SubjectView)
                else tuple([view[subject].subject_id for subject in subjects])
            )
            obj.audited = (plan, whose)  # type: ignore[attr-defined]
        objects.append(obj)
    return objects


_NOTHING: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class _Plan:
    """What projection hides of one type for subjects the viewer stands towards alike:
    a mask per hidden value (STRIP masks to None), the links withheld (their resolvers
    answer null), whether the record is not found at all, and what the report says."""

    masks: tuple[tuple[str, Mask], ...]
    withheld: frozenset[str]
    absent: bool
    redactions: tuple[Redaction, ...]
    # For the audit: the type's name and what a response may carry, per field: the index
    # of its subject (in `_subjects` order) and the read (SHOW or MASK; STRIP is no read).
    entity: str = ""
    reads: tuple[tuple[int, Read], ...] = ()


SHARED_PLANS_MAX = 4096  # plans a process remembers (types x viewer classes x states)


def _shared_plan(
    scope: PrivacyScope, cls: type, views: Mapping[str | None, SubjectView], retained: bool
) -> _Plan:
    """The plan for these stances, from the process's plans when it has one.

    A plan is a pure function of the type, `retained`, each subject's stance (the viewer's
    audience and the subject's state, by value), the viewer's purpose (pseudonyms are per
    purpose) and the gateway's policy and masks, which never change: so it is computed
    once per process and key, not once per request. It holds no value and no subject, and
    a subject's new state (a withdrawal, an erasure) is a new key on the next request."""
    shared = scope.shared_plans
    if shared is None:
        return _plan(scope, cls, views, retained)
    stances = tuple([(views[s].audience, views[s].state) for s in _subjects(cls)])
    key = (cls, retained, scope.viewer.purpose, stances)
    plan = shared.get(key)
    if plan is None:
        if len(shared) >= SHARED_PLANS_MAX:
            shared.clear()
        plan = shared[key] = _plan(scope, cls, views, retained)
    return plan


def _plan(
    scope: PrivacyScope, cls: type, views: Mapping[str | None, SubjectView], retained: bool
) -> _Plan:
    masks: list[tuple[str, Mask]] = []
    withheld: set[str] = set()
    redactions: list[Redaction] = []
    reads: list[tuple[int, Read]] = []
    subjects = _subjects(cls)
    decided = stripped = 0
    for field in personal_fields(cls):
        if field.kind is Kind.EACH:
            continue
        decided += 1
        decision = scope.decide(
            views[field.subject], field.category, field.retained(retained), field.own_strategy
        )
        action, reason, strategy = outcome(decision, field)
        if action is not Action.STRIP:
            read = Read(field.name, action.value, field.category.value)
            reads.append((subjects.index(field.subject), read))
        if action is Action.SHOW:
            continue
        redactions.append((field.name, action, reason))
        if action is Action.STRIP:
            stripped += 1
            if field.kind is Kind.LINK:
                withheld.add(field.attr)
            else:
                masks.append((field.attr, _stripped))
        elif field.kind is Kind.VALUE:
            assert strategy is not None
            masks.append((field.attr, _mask(scope, strategy)))
    absent = bool(decided) and stripped == decided and is_personal_record(cls)
    entity = cls.__strawberry_definition__.name  # type: ignore[attr-defined]
    return _Plan(tuple(masks), frozenset(withheld), absent, tuple(redactions), entity, tuple(reads))


def found(ctx: Context, cls: type, views: Sequence[SubjectView]) -> list[bool]:
    """Whether the viewer finds a one-subject record of `cls` for each subject view: the
    plan projection would use, so a count over records agrees with the records listed."""
    scope = ctx.privacy
    if not scope.enforce:
        return [True] * len(views)
    plans = scope.plans.get((cls, False))
    if plans is None:
        plans = scope.plans[(cls, False)] = {}
    subject = _subjects(cls)[0]
    result = []
    for view in views:
        plan = plans.get(view.stance)
        if plan is None:
            plan = plans[view.stance] = _shared_plan(scope, cls, {subject: view}, False)
        result.append(not plan.absent)
    return result


async def parties(
    ctx: Context, rows: Sequence[Any], **columns: str
) -> list[dict[str | None, SubjectView]]:
    """The views of a record's several subjects, `subject=row attribute naming them`, all
    looked up at once: [{"buyer": view, "seller": view}, ...] per row."""
    names = list(columns)
    ids = [getattr(row, columns[name]) for name in names for row in rows]
    views = await ctx.privacy.views(ids)
    count = len(rows)
    return [
        {name: views[at * count + index] for at, name in enumerate(names)} for index in range(count)
    ]


def listed(ctx: Context, category: Category, views: Sequence[SubjectView]) -> list[bool]:
    """For a list of people (`subject: each`): whether each may be listed, by their view."""
    scope = ctx.privacy
    if not scope.enforce:
        return [True] * len(views)
    return [scope.decide(view, category, False).action is not Action.STRIP for view in views]


def _mask(scope: PrivacyScope, strategy: Strategy) -> Mask:
    return scope.masks.get(strategy, scope.viewer.purpose.value)


def _stripped(value: object) -> None:
    return None


@cache
def _subjects(cls: type) -> tuple[str | None, ...]:
    """The distinct subjects a type's personal fields belong to, in field order."""
    return tuple(
        dict.fromkeys(
            field.subject for field in personal_fields(cls) if field.kind is not Kind.EACH
        )
    )


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
    if scope.audit is not None:
        _audit(info, scope.audit, objects, nodes)
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


def _audit(info: Info[Context, None], log: ReadLog, objects: Any, nodes: str | None) -> None:
    """Record an employee's reads: per plan, the fields selected here and the subjects of
    the objects built by it; for a list of people, that each listed person is listed."""
    items = objects if isinstance(objects, (list, tuple)) else (objects,)
    groups: dict[int, tuple[_Plan, list[tuple[int | None, ...]]]] = {}
    for obj in items:
        stamp = getattr(obj, "audited", None)
        if stamp is None:  # not built by projection: no personal fields
            continue
        plan, whose = stamp
        group = groups.get(id(plan))
        if group is None:
            groups[id(plan)] = (plan, [whose])
        else:
            group[1].append(whose)
    if not groups:
        return
    selection = _selected(info) if nodes is None else _merge_sub(info, nodes)
    listing = _listing(info)
    for plan, whose in groups.values():
        slots: dict[int, list[Read]] = {}
        for slot, read in plan.reads:
            if read.name in selection:
                slots.setdefault(slot, []).append(read)
        for slot, reads in slots.items():
            subjects = {who[slot] for who in whose}
            subjects.discard(None)
            if subjects:
                log.saw(plan.entity, tuple(reads), subjects)  # type: ignore[arg-type]
        if listing is not None:
            people = {who[0] for who in whose}
            people.discard(None)
            if people:
                log.saw(listing[0], (listing[1],), people)  # type: ignore[arg-type]


def _listing(info: Info[Context, None]) -> tuple[str, Read] | None:
    """For a list of people (`subject: each`, like `Company.members`): its type and read."""
    raw = info._raw_info
    definition = (raw.parent_type.extensions or {}).get("strawberry-definition")
    if definition is None:
        return None
    return _each_field(definition.origin, raw.field_name)


@cache
def _each_field(cls: type, name: str) -> tuple[str, Read] | None:
    for field in personal_fields(cls):
        if field.kind is Kind.EACH and field.name == name:
            entity = cls.__strawberry_definition__.name  # type: ignore[attr-defined]
            return entity, Read(field.name, Action.SHOW.value, field.category.value)
    return None


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
