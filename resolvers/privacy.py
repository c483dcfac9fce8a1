"""Per-request privacy state: who the viewer is to each subject, and the decisions that follow.

A decision is a pure function of (audience, category, subject state, retention); the
scope memoises it, so a 5,000-row list costs a handful of policy evaluations, and each
subject's view is built once per request however many paths reach it. Subjects the viewer
stands towards alike share one interned Stance, which projection keys its plans on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from directives.decision import Decision
from directives.masking import ProcessMasks, Strategy
from directives.policy import Audience, Policy, SubjectState
from directives.report import RedactionReport
from directives.taxonomy import Category, DeletionState, Purpose, Relationship
from gateway.db.models import User
from resolvers.audit.reads import ReadLog
from resolvers.loaders import Loaders
from resolvers.relationships import RelationshipBySubject
from resolvers.viewer import Viewer

DecisionKey = tuple[Audience, Category, SubjectState, bool, Strategy | None]
StanceKey = tuple[Relationship, str | None, bool | None]


@dataclass(frozen=True, slots=True, eq=False)
class Stance:
    """The viewer's audience and a subject's state: what every decision about the subject
    depends on. One object per distinct pair in a request, so it hashes by identity."""

    audience: Audience
    state: SubjectState


@dataclass(frozen=True, slots=True, eq=False)
class SubjectView:
    """How one request's viewer stands towards a data subject. Subjects the viewer stands
    towards alike share one view (interned per request), so a page of 5,000 people costs
    a dictionary lookup each, not an object each. When an employee's reads are audited,
    each subject gets a view of its own (naming them, sharing the stance), so the objects
    projection builds know whose data they carry."""

    stance: Stance
    subject_id: int | None = None

    @property
    def audience(self) -> Audience:
        return self.stance.audience

    @property
    def state(self) -> SubjectState:
        return self.stance.state


@dataclass(eq=False)
class PrivacyScope:
    policy: Policy
    viewer: Viewer
    loaders: Loaders
    pseudonym_key: bytes
    # The gateway process's masks, remembering results across requests by fingerprint.
    masks: ProcessMasks
    enforce: bool = True
    full_report: bool = False
    report: RedactionReport = field(default_factory=RedactionReport)
    _views: dict[int, SubjectView] = field(default_factory=dict)
    _stances: dict[StanceKey, SubjectView] = field(default_factory=dict)
    _decisions: dict[DecisionKey, Decision] = field(default_factory=dict)
    _relationships: RelationshipBySubject | None = None
    # Selected sub-fields per field AST node (ids are stable: the document lives as long as
    # the request does).
    selections: dict[int, dict[str, list[str]]] = field(default_factory=dict)
    # Projection plans (what to hide of a type) per (type, retained, stances): schema/privacy.py.
    plans: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    # The gateway process's plans by value (types x viewer classes x states), shared by its
    # requests: a plan is a pure function of those (schema/privacy.py). None: per request.
    shared_plans: dict[tuple[Any, ...], Any] | None = None
    # An employee's reads, recorded where projection decides (None: not audited).
    audit: ReadLog | None = None

    def decide(
        self,
        view: SubjectView,
        category: Category,
        retained: bool,
        strategy: Strategy | None = None,
    ) -> Decision:
        key = (view.audience, category, view.state, retained, strategy)
        decision = self._decisions.get(key)
        if decision is None:
            decision = self.policy.decide(
                view.audience, category, view.state, retained=retained, strategy=strategy
            )
            self._decisions[key] = decision
        return decision

    async def views(
        self,
        subject_ids: Sequence[int | None],
        *,
        detached_as: Relationship = Relationship.PUBLIC,
    ) -> list[SubjectView]:
        if not self.enforce:  # the benchmark's baseline: no privacy work at all
            return [_UNENFORCED] * len(subject_ids)
        return await self.lookup_views(subject_ids, detached_as=detached_as)

    async def views_of_users(self, users: Sequence[User]) -> list[SubjectView]:
        """The views of subjects whose rows are at hand (a page of users): no lookup."""
        if not self.enforce:
            return [_UNENFORCED] * len(users)
        known = self._views
        facts = _facts(users)
        fresh = [fact for fact in facts if fact[0] not in known]
        if fresh:
            relationships = await self._relationships_of([fact[0] for fact in fresh])
            interned = self._stances
            for (user_id, state, consent), relationship in zip(fresh, relationships, strict=True):
                if user_id not in known:
                    view = interned.get((relationship, state, consent)) or self._stance_of(
                        relationship, state, consent
                    )
                    known[user_id] = view if self.audit is None else _named(view, user_id)
        return [known[fact[0]] for fact in facts]

    async def lookup_views(
        self,
        subject_ids: Sequence[int | None],
        *,
        detached_as: Relationship = Relationship.PUBLIC,
    ) -> list[SubjectView]:
        """The views, looked up even with enforcement off (the benchmark's field wrapper)."""
        known = self._views
        if len(subject_ids) == 1 and subject_ids[0] in known:  # order.buyer, 1,000 times over
            return [known[subject_ids[0]]]
        # Membership per id asked for, not a set difference with every view known so far:
        # a shipment's two subjects, 1,000 times over, must not cost 1,000 walks of them all.
        missing = sorted({sid for sid in subject_ids if sid is not None and sid not in known})
        if missing:
            users: list[User | None] = await self.loaders.user_by_id.load_many(missing)
            relationships = await self._relationships_of(missing)
            for sid, user, relationship in zip(missing, users, relationships, strict=True):
                view = self._stance(relationship, user)
                self._views[sid] = view if self.audit is None else _named(view, sid)
        detached = self.detached(detached_as)
        return [self._views[sid] if sid is not None else detached for sid in subject_ids]

    def detached(self, relationship: Relationship = Relationship.PUBLIC) -> SubjectView:
        """The view of a subject whose link was cut by erasure (a chat sender, say).

        Who the viewer was to them cannot be looked up any more; the caller knows it from
        context (whoever may read a message shares its conversation: a PARTICIPANT).
        """
        return self._stance(relationship, None)

    def _stance(self, relationship: Relationship, user: User | None) -> SubjectView:
        if user is None:
            return self._stance_of(relationship, None, None)
        return self._stance_of(relationship, user.deletion_state, user.analytics_consent)

    def _stance_of(
        self, relationship: Relationship, deletion_state: str | None, consent: bool | None
    ) -> SubjectView:
        """The interned view for a relationship and a subject state (None: no subject)."""
        key: StanceKey = (relationship, deletion_state, consent)
        view = self._stances.get(key)
        if view is None:
            state = (
                ERASED_STATE
                if deletion_state is None
                else SubjectState(DeletionState(deletion_state), analytics_consent=bool(consent))
            )
            view = self._stances[key] = SubjectView(Stance(self._audience(relationship), state))
        return view

    def _audience(self, relationship: Relationship) -> Audience:
        if self.viewer.is_employee:
            return Audience(Relationship.EMPLOYEE, self.viewer.role, self.viewer.purpose)
        return Audience(relationship, None, self.viewer.purpose)

    async def _relationships_of(self, subject_ids: list[int]) -> list[Relationship]:
        viewer_id = self.viewer.user_id
        if self.viewer.is_employee or viewer_id is None:
            return [Relationship.PUBLIC] * len(subject_ids)
        if self._relationships is None:
            self._relationships = RelationshipBySubject(self.loaders.sessions, viewer_id)
        result: list[Relationship] = await self._relationships.load_many(subject_ids)
        return result


ERASED_STATE = SubjectState(DeletionState.ERASED, analytics_consent=False)


def _named(view: SubjectView, subject_id: int) -> SubjectView:
    return SubjectView(view.stance, subject_id)


_read_facts = itemgetter("id", "deletion_state", "analytics_consent")


def _facts(users: Sequence[User]) -> list[tuple[int, str, bool]]:
    """Each user row's id, deletion state and analytics consent: what a view depends on.

    Read from the instance dicts, where SQLAlchemy keeps loaded columns: a page of 5,000
    users pays the attribute instrumentation once, in its builder, not here again.
    """
    try:
        return list(map(_read_facts, map(vars, users)))
    except KeyError:  # a column expired or not loaded: let the ORM fetch it
        return [(user.id, user.deletion_state, user.analytics_consent) for user in users]


# Handed out when enforcement is off (benchmark baseline only); projection never reads it.
_UNENFORCED = SubjectView(
    Stance(Audience(Relationship.PUBLIC, None, Purpose.FULFILLMENT), ERASED_STATE)
)
