"""Benchmarks: scripts that print figures, run by hand (see docs/benchmarks.md), not tests."""
