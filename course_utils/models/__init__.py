"""Reference models, one module per family (added chapter by chapter)."""
