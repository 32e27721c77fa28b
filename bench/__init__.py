"""Benchmarks run by `make bench`: each prints figures and ratios against a baseline measured
in the same run, so machine noise cancels."""
