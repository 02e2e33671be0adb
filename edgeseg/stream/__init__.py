"""Device side: frame sources, sinks and the run loop."""
