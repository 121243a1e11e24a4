"""linux backend."""
