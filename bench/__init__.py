"""Benchmarks (not tests): ``make bench`` writes docs/PERFORMANCE.md, ``make bench-quick`` is the
one-minute smoke run CI makes so the benchmarks never rot."""
