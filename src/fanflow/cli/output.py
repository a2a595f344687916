"""How verbs print: rich tables on a terminal, plain aligned text on pipes, JSON with `--json`.

Invariants: tables and JSON go to stdout (what scripts read); notes and errors go to stderr; plain
output has no colour codes and no trailing spaces, so `grep`/`awk` work on it; rich is imported
only when stdout is a terminal.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click


def stdout_is_terminal() -> bool:
    isatty = getattr(sys.stdout, "isatty", None)
    return bool(isatty and isatty())


def human_seconds(seconds: float | None) -> str:
    """`0.4 s`, `12 s`, `3m 05s`, `2h 03m`: short and readable in a table."""
    if seconds is None:
        return "-"
    if seconds < 0.1:
        return f"{seconds:.3f} s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def human_bytes(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - loop always returns


def when(moment: datetime | None) -> str:
    """A recorded (naive UTC) time as `2026-11-30 23:05:01`."""
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


def _plain_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat() + "Z"
    return str(value)


def print_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=_plain_default))


def note(text: str) -> None:
    """A line for the person at the terminal (stderr), never mixed into scriptable output."""
    sys.stdout.flush()  # what was printed before it shows before it on a shared terminal
    click.echo(text, err=True)


def print_table(
    columns: Sequence[str], rows: Sequence[Sequence[str]], *, title: str | None = None
) -> None:
    """Rows under a header: a rich table on a terminal, aligned plain text elsewhere."""
    if stdout_is_terminal():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title, title_justify="left", header_style="bold")
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*(_escape_markup(cell) for cell in row))
        Console().print(table)
        return
    if title:
        click.echo(title)
    click.echo(plain_table(columns, rows))


def _escape_markup(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def plain_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(c) for c in columns]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell.splitlines()[0] if cell else ""))
    lines = []
    for row in [list(columns), *rows]:
        first, *rest = [cell.splitlines() or [""] for cell in row]
        padded = [
            (lines_[0] if lines_ else "").ljust(widths[i])
            for i, lines_ in enumerate([first, *rest])
        ]
        lines.append("  ".join(padded).rstrip())
        # continuation lines of multi-line cells (errors) are indented under their column
        for i, cell_lines in enumerate([first, *rest]):
            offset = sum(w + 2 for w in widths[:i])
            lines.extend((" " * offset + extra).rstrip() for extra in cell_lines[1:])
    return "\n".join(lines)
