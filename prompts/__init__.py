"""hwnas.prompts."""
