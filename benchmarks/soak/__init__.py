"""The province under load and faults: the whole system on one machine, a seeded chaos schedule, and
what it costs (``python -m benchmarks.soak``; the figures go to docs/performance.md)."""
