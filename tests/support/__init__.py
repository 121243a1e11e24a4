"""Shared test machinery: identities (root and an unprivileged account) and loopback servers."""
