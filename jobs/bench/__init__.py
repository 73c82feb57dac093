"""Benchmarks (``labellake bench ...``): figures printed, never asserted by unit tests."""
