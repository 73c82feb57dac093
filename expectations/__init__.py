"""Data contracts, as Great Expectations suites in code (one module per table)."""
