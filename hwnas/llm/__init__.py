"""LLM providers: one factory, structured output, recording and replay."""
