"""Ratio benchmarks; figures are recorded by hand in RESULTS.md."""
