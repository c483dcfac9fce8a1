"""Strawberry types, inputs and the one `build_schema()`."""
