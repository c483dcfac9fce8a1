"""Deterministic demo data: a marketplace world with every privacy state in it.

`seed_database(settings, users=N, seed=S)` fills an empty, migrated database; the
demo accounts and staff have the fixed ids in `DEMO_USERS` and `DEMO_EMPLOYEES`.
"""

from gateway.seed.demo import DEMO_EMPLOYEES, DEMO_USERS
from gateway.seed.writer import MIN_USERS, SeedSummary, seed_database

__all__ = ["DEMO_EMPLOYEES", "DEMO_USERS", "MIN_USERS", "SeedSummary", "seed_database"]
