"""The `fanflow` command line: list, inspect, tail, stop, resume and delete runs from a shell.

Invariant: importing this package (and `fanflow --help`) loads click and nothing heavier; each
verb imports the Client, the metadata layer or rich only when it runs, so the shell stays fast.
"""

from __future__ import annotations

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `fanflow` console script."""
    from fanflow.cli.app import cli

    cli.main(args=argv, prog_name="fanflow")
