"""Benchmarks: each prints its figures beside a reference and appends them to docs/benchmarks.md."""

from pathlib import Path

#: The source checkout the benchmarks run from.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
