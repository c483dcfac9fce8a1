"""Query logic, per-request loaders and row visibility; no GraphQL types here."""
