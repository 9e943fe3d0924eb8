"""Benchmarks of support-db-mcp: `python -m bench.run` prints a table and writes JSON to bench/results/."""
