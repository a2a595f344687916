"""Artifact bytes: where they live (store), how values become files (materializers, registry)."""
