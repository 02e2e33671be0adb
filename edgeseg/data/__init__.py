"""Datasets: the synthetic street-scene generator and loaders."""
