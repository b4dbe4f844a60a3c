"""Non-LLM searchers that every agent search is compared against."""
