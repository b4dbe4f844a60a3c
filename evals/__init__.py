"""hwnas.evals."""
