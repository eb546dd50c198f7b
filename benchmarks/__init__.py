"""Benchmarks that print the timing tables of RustSEG (see benchmarks/README.md).

Run from the repository root, e.g. ``python3 -m benchmarks.table2 --quick``.
"""
