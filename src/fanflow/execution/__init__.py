"""Running a compiled pipeline: scheduler state, executors, the worker and the orchestrator."""
