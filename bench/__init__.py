"""Benchmarks: speed/latency targets measured as ratios against a baseline in the same run."""
