"""Helpers that start the embedded servers the platform needs (dagster-free)."""
