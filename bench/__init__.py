"""Benchmarks: ``python -m bench.<name>``; each prints a Markdown table."""
