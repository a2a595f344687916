"""The dynamic pipeline run context (ZenML's `zenml.execution.pipeline.dynamic`)."""
