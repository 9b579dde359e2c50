"""A soak test with faults, over real HTTP (``python -m benchmarks.soak``; see ``__main__``)."""
