"""Pipeline execution state that user code can read (ZenML's `zenml.execution.pipeline`)."""
