"""The Query and Mutation roots, each merged from the modules that own their fields."""

from __future__ import annotations

from strawberry.tools import merge_types

from schema.audit import AuditQueries
from schema.incidents import IncidentMutations, IncidentQueries
from schema.query import Query as Reads
from schema.rights.consent import ConsentMutations, ConsentQueries
from schema.rights.correction import CorrectionMutations, CorrectionQueries
from schema.rights.export import ExportMutations
from schema.rights.requests import RequestMutations, RequestQueries

Query = merge_types(
    "Query",
    (Reads, RequestQueries, ConsentQueries, CorrectionQueries, AuditQueries, IncidentQueries),
)
Mutation = merge_types(
    "Mutation",
    (RequestMutations, ConsentMutations, CorrectionMutations, ExportMutations, IncidentMutations),
)
