"""Metadata: the record of pipelines, runs, step runs and artifact versions (SQLAlchemy Core)."""
