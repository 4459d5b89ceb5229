"""Benchmarks for proper_mail (run them with ``./scripts/bench``)."""
