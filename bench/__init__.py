"""Benchmark of the intake pipeline against the targets of issue 8: ``python -m bench``."""
