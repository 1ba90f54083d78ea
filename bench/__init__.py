"""judgekit benchmarks: one module per scenario (``python -m bench.throughput``); see README.md."""
