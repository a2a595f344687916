"""The authoring layer: what a user writes and calls.

Steps and pipelines, tracing a pipeline into a frozen spec, argument binding, `.map`, dynamic
runs and their futures, single-step calls, launching and resuming runs, the step context and
the artifact API used inside steps. It sits above the Client and the execution layer and is
the only layer that starts work; the package root re-exports its public names.
"""
