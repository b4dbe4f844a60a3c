"""hwnas.agents."""
