"""hwnas.tools."""
