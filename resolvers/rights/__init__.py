"""The rights of Art. 4 as use cases: each takes the context and plain arguments, works in
one transaction, and either returns its result or raises a `Refusal` that changes nothing."""
