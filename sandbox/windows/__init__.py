"""windows backend."""
