"""The marketplace tables and the privacy-state tables the gateway adds (DESIGN section 3).

Relationships are not mapped: every join goes through an explicit query in a
per-request loader, so no hidden I/O can happen while building a response.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gateway.db.types import UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Marks a column holding a subject's personal data (or naming the subject): the erasure
# plan (directives/erasure.py) must say what erasure does to each one.
PERSONAL = {"personal": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# -- platform data -------------------------------------------------------------------------


class Company(Base):
    __tablename__ = "companies"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    tax_id: Mapped[str] = mapped_column(String(40), info=PERSONAL)
    registered_address: Mapped[str] = mapped_column(String(300), info=PERSONAL)
    jurisdiction: Mapped[str] = mapped_column(String(2))
    contact_person_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", use_alter=True, name="fk_companies_contact_person_id_users"),
        index=True,
        info=PERSONAL,
    )


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)  # BUYER | SELLER | LOGISTICS
    full_name: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    email: Mapped[str | None] = mapped_column(String(254), unique=True, info=PERSONAL)
    phone: Mapped[str | None] = mapped_column(String(40), info=PERSONAL)
    jurisdiction: Mapped[str] = mapped_column(String(2), index=True)  # EU | KZ | RU | CN
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, info=PERSONAL)
    deletion_state: Mapped[str] = mapped_column(
        String(20), default="ACTIVE", index=True, info=PERSONAL
    )
    erasure_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Current analytics consent, kept in step with the consent ledger in the same transaction.
    analytics_consent: Mapped[bool] = mapped_column(Boolean, default=True, info=PERSONAL)
    company_id: Mapped[int | None] = mapped_column(
        ForeignKey("companies.id"), index=True, info=PERSONAL
    )


class Employee(Base):
    __tablename__ = "employees"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    roles: Mapped[str] = mapped_column(String(200))  # comma-separated Role names
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Address(Base):
    __tablename__ = "addresses"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    line1: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    city: Mapped[str | None] = mapped_column(String(100), info=PERSONAL)
    postal_code: Mapped[str | None] = mapped_column(String(20), info=PERSONAL)
    country: Mapped[str] = mapped_column(String(2))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    rating_avg: Mapped[float | None]
    rating_count: Mapped[int] = mapped_column(Integer, default=0)


class Order(Base):
    __tablename__ = "orders"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    seller_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    status: Mapped[str] = mapped_column(String(16))  # PLACED PAID SHIPPED DELIVERED CANCELLED
    total_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    placed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    shipping_address: Mapped[str | None] = mapped_column(String(300), info=PERSONAL)


class OrderItem(Base):
    __tablename__ = "order_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)


class Shipment(Base):
    __tablename__ = "shipments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    logistics_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True, info=PERSONAL
    )
    recipient_name: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    recipient_phone: Mapped[str | None] = mapped_column(String(40), info=PERSONAL)
    recipient_address: Mapped[str | None] = mapped_column(String(300), info=PERSONAL)
    status: Mapped[str] = mapped_column(String(16))  # PENDING IN_TRANSIT DELIVERED
    tracking_code: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Payment(Base):
    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    payer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    amount_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    method: Mapped[str] = mapped_column(String(16))  # CARD WALLET TRANSFER
    card_last4: Mapped[str | None] = mapped_column(String(4), info=PERSONAL)
    status: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Invoice(Base):
    __tablename__ = "invoices"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    seller_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    number: Mapped[str] = mapped_column(String(40), unique=True)
    billing_name: Mapped[str | None] = mapped_column(String(200), info=PERSONAL)
    billing_address: Mapped[str | None] = mapped_column(String(300), info=PERSONAL)
    tax_id: Mapped[str | None] = mapped_column(String(40), info=PERSONAL)
    total_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Review(Base):
    __tablename__ = "reviews"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    rating: Mapped[int] = mapped_column(Integer, info=PERSONAL)
    text: Mapped[str] = mapped_column(Text, info=PERSONAL)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Video(Base):
    __tablename__ = "videos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    url: Mapped[str] = mapped_column(String(300), info=PERSONAL)
    caption: Mapped[str] = mapped_column(String(500), info=PERSONAL)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    video_id: Mapped[int | None] = mapped_column(ForeignKey("videos.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    text: Mapped[str] = mapped_column(Text, info=PERSONAL)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Conversation(Base):
    __tablename__ = "conversations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic: Mapped[str] = mapped_column(String(200))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ConversationParticipant(Base):
    __tablename__ = "conversation_participants"
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id"), primary_key=True, index=True, info=PERSONAL
    )


class Message(Base):
    __tablename__ = "messages"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    # Null once the sender is erased: the body stays for the other participants (Art. 6.4).
    sender_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    body: Mapped[str] = mapped_column(Text, info=PERSONAL)
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)


# -- privacy state ---------------------------------------------------------------------------


class Consent(Base):
    """The consent ledger: one row per grant or withdrawal, never updated."""

    __tablename__ = "consents"
    __table_args__ = (Index("ix_consents_subject_purpose", "subject_id", "purpose", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("users.id"), info=PERSONAL)
    purpose: Mapped[str] = mapped_column(String(20))
    granted: Mapped[bool] = mapped_column(Boolean)
    notice_version: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(20))  # SIGNUP | SETTINGS | API | SUPPORT
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class PrivacyRequest(Base):
    """A right exercised (Art. 4): its status, its legal deadline, its outcome."""

    __tablename__ = "privacy_requests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    kind: Mapped[str] = mapped_column(String(24))
    status: Mapped[str] = mapped_column(String(16), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(Text)
    # The subject's own words: an inquiry's message, a correction's reason.
    details: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    # What the request is about: a correction's field, an inquiry's kind, an export's format.
    target: Mapped[str | None] = mapped_column(String(40))
    # The jurisdiction and legal rule the due date came from, as they were at receipt.
    jurisdiction: Mapped[str | None] = mapped_column(String(2))
    due_rule: Mapped[str | None] = mapped_column(String(120))
    extended: Mapped[bool] = mapped_column(Boolean, default=False)
    # A correction's proposed value: kept only until the request is resolved.
    proposed_value: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    # "<kind>:<target>" while the request is open, null once closed: one open request of a
    # kind per subject, by a unique constraint (two concurrent asks make one row).
    open_key: Mapped[str | None] = mapped_column(String(80))
    # Background work on the request (an erasure): tries so far, when the next may start,
    # and the typed reason it stopped retrying (shown in the DPO queue, never dropped).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str | None] = mapped_column(String(80))
    # A completed erasure's record: per table what was deleted, anonymized, detached and held,
    # with counts and hold end dates, never a value (JSON).
    summary: Mapped[str | None] = mapped_column(Text)
    __table_args__ = (UniqueConstraint("subject_id", "open_key"),)


class PrivacyRequestEvent(Base):
    """A request's history, appended to and never changed: who moved it, when, why."""

    __tablename__ = "privacy_request_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("privacy_requests.id"), index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(60))
    event: Mapped[str] = mapped_column(String(20))  # FILED | STATUS | EXTENDED | ANSWERED
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class CorrectionEvent(Base):
    """That a field was corrected, when, by whom, on which request; never the old value."""

    __tablename__ = "correction_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    field: Mapped[str] = mapped_column(String(60))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(60))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("privacy_requests.id"))


class LegalHold(Base):
    __tablename__ = "legal_holds"
    __table_args__ = (UniqueConstraint("record_type", "record_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True, info=PERSONAL)
    record_type: Mapped[str] = mapped_column(String(20))  # ORDER | PAYMENT | INVOICE
    record_id: Mapped[int] = mapped_column(Integer)
    basis: Mapped[str] = mapped_column(String(30))
    held_until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditEvent(Base):
    """Who read or changed whose personal data; each row hashes the previous one."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor: Mapped[str] = mapped_column(String(60))
    actor_role: Mapped[str | None] = mapped_column(String(20))
    purpose: Mapped[str | None] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(20))
    # The one subject an event is about; an employee's read of several subjects of one type
    # alike is one event naming them all in `subjects` (sorted ids, comma-separated) instead.
    # Either way `audit_event_subjects` indexes them: look subjects up there.
    subject_id: Mapped[int | None] = mapped_column(Integer, info=PERSONAL)
    subjects: Mapped[str | None] = mapped_column(Text, info=PERSONAL)
    detail: Mapped[str | None] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    # Not unique-indexed: the chain already makes each one unique, and an index on random
    # keys was a third of what appending a thousand events costs on SQLite.
    hash: Mapped[str] = mapped_column(String(64))
    # The request that caused it, the type read or acted on, the fields read (name ->
    # SHOW | MASK, JSON) and their categories (comma-separated): names, never values.
    request_id: Mapped[str | None] = mapped_column(String(32))
    entity: Mapped[str | None] = mapped_column(String(40))
    fields: Mapped[str | None] = mapped_column(Text)
    categories: Mapped[str | None] = mapped_column(Text)


class AuditEventSubject(Base):
    """Which events name which subject (`subject_id` or one of `subjects`): the lookup by
    subject, built from the events behind the chain (resolvers/audit/index.py); `verify`
    checks it says what the chain says."""

    __tablename__ = "audit_event_subjects"
    __table_args__ = (
        Index("ix_audit_event_subjects_subject_event", "subject_id", "event_id"),
        {"sqlite_with_rowid": False},
    )
    event_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_id: Mapped[int] = mapped_column(Integer, primary_key=True, info=PERSONAL)


class AuditIndexHead(Base):
    """The subject index's one-row head: the last event indexed (resolvers/audit/index.py)."""

    __tablename__ = "audit_index_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)


class AuditChainHead(Base):
    """The chain's one-row head: the last event's id and hash. Appenders lock this row, so
    concurrent processes make one chain; `verify` checks the events end where it says."""

    __tablename__ = "audit_chain_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer)
    last_hash: Mapped[str] = mapped_column(String(64))


class SecurityIncident(Base):
    __tablename__ = "security_incidents"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    detected_at: Mapped[datetime] = mapped_column(UTCDateTime)
    title: Mapped[str] = mapped_column(String(200))
    severity: Mapped[str] = mapped_column(String(10))
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    # When the platform became aware (GDPR counts from here; KZ and RU from detection;
    # null: at detection), who reported it through the gateway and when (null: recorded
    # before it), which subjects it affects (a selector or "ids", JSON, never the ids), how
    # many per jurisdiction (JSON), and what affected subjects are told.
    aware_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reported_by: Mapped[str | None] = mapped_column(String(60))
    affected: Mapped[str | None] = mapped_column(Text)
    affected_counts: Mapped[str | None] = mapped_column(Text)
    subject_message: Mapped[str | None] = mapped_column(Text)
    harm_avoided: Mapped[bool] = mapped_column(Boolean, default=False)


class Notification(Base):
    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("security_incidents.id"), index=True)
    recipient_kind: Mapped[str] = mapped_column(String(16))  # AUTHORITY | SUBJECT
    jurisdiction: Mapped[str] = mapped_column(String(2))
    subject_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id"), index=True, info=PERSONAL
    )
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The rule's stage ("" or RU's "initial" / "results"), its legal reference, whether the
    # figure is an internal SLA; who recorded the sending and the authority's reference.
    stage: Mapped[str] = mapped_column(String(20), default="")
    rule_reference: Mapped[str | None] = mapped_column(String(120))
    internal_sla: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_by: Mapped[str | None] = mapped_column(String(60))
    reference: Mapped[str | None] = mapped_column(String(120))
