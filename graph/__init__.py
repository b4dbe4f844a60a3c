"""hwnas.graph."""
