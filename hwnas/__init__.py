"""hwnas: hardware-aware neural architecture search with cooperating LLM agents."""
