"""macos backend."""
