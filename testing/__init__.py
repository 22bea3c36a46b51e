"""Test and benchmark harness: pipeline probes, fake servers, fault and delay proxies, helpers.

Used by ``tests/`` and ``bench/``; not installed with the product.
"""
