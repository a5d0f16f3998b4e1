"""Long-term memory: the vector index over what was said."""
