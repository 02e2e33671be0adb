"""Per-frame timing of a run and its report: frame records, statistics, CSV, latency plot, RunReport."""
