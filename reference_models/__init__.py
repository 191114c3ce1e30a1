"""Data sets, architectures, training recipes and the cache of reference models."""
