"""Benchmarks: each module runs with `python -m bench.<name>`, writes JSON and prints a table."""
