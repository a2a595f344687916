"""`fanflow logs RUN STEP[:INDEX] [--follow] [--tail N] [--attempt K]`.

A step's log is stored when the step ends; while it runs, the worker keeps a live copy next to
where the log will be (`fanflow.execution.live_logs`): the file `<log>.live` on a local store,
numbered parts under `<log>.live/` on an object store (uploaded about every second, so a remote
step's lines show up with that delay). `--follow` tails it until the step is finished, then
prints the rest from the stored log. Each
recorded attempt notes where its output starts in the log, so `--attempt K` prints only that
attempt's lines (and its error).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

from fanflow.cli.lookup import find_run, find_step
from fanflow.cli.output import note

if TYPE_CHECKING:
    from fanflow.cli.session import Session
    from fanflow.client import StepRunView

FOLLOW_POLL_S = 0.3
LIVE_SUFFIX = ".live"
OMITTED_MARKER = " bytes omitted ...]"


def show_logs(
    session: Session,
    run_ident: str,
    address: str,
    follow: bool,
    tail: int | None,
    attempt: int | None,
) -> None:
    run = find_run(session, run_ident)
    step = find_step(run, address)
    if follow:
        if attempt is not None:
            raise click.UsageError("--follow and --attempt cannot be combined.")
        _follow(session, step, tail)
        return
    text = _stored_log(step)
    if attempt is not None:
        text = attempt_text(step, text or "", attempt)
    elif text is None:
        if step.status == "running":
            note(
                f"Step {step.name} is still running; its log is stored when it ends "
                "(use --follow to watch it)."
            )
        elif step.status == "cached":
            note(f"Step {step.name} was cached: it did not run in this run, so it has no log.")
        else:
            note(f"Step {step.name} ({step.status}) printed and logged nothing.")
        return
    click.echo(last_lines(text, tail), nl=False)


def last_lines(text: str, count: int | None) -> str:
    if count is None:
        return text
    if count == 0:
        return ""
    return "".join(text.splitlines(keepends=True)[-count:])


def _stored_log(step: StepRunView) -> str | None:
    logs = step.logs
    return None if logs is None else logs.read()


def attempt_text(step: StepRunView, text: str, number: int) -> str:
    """The part of the log written by attempt `number`, followed by that attempt's error."""
    attempts = step.attempts
    if not attempts:
        if number != 1:
            raise click.ClickException(f"Step {step.name} ran once; it has no attempt {number}.")
        return text
    if number > len(attempts):
        raise click.ClickException(
            f"Step {step.name} has {len(attempts)} attempt(s); there is no attempt {number}."
        )
    record = attempts[number - 1]
    if OMITTED_MARKER in text or "log_offset" not in record:
        note("The log was shortened or has no attempt positions; showing all of it.")
        part = text
    else:
        data = text.encode("utf-8")
        start = record["log_offset"]
        end = attempts[number]["log_offset"] if number < len(attempts) else len(data)
        part = data[start:end].decode("utf-8", errors="replace")
    if record.get("error"):
        part += f"--- attempt {number} failed: {record['error']}\n"
    return part


class LiveReader:
    """New whole lines of a running step's live copy, on a local or an object store."""

    def __init__(self, store: Any, log_uri: str) -> None:
        self.store = store
        self.log_uri = log_uri
        self.remote = hasattr(store, "read_live_parts")
        self.parts_read = 0
        self.data = b""  # remote: every part read so far

    def read_from(self, offset: int) -> bytes:
        """The live copy's bytes after `offset`, up to its last complete line."""
        if not self.remote:
            return _read_from(self.log_uri + LIVE_SUFFIX, offset)
        try:
            parts = self.store.read_live_parts(self.log_uri, after=self.parts_read - 1)
        except OSError:  # a flaky read: try again on the next poll
            return b""
        self.parts_read += len(parts)
        self.data += b"".join(parts)
        data = self.data[offset:]
        cut = data.rfind(b"\n") + 1
        return data[:cut] if cut else b""


def _follow(session: Session, step: StepRunView, tail: int | None) -> None:
    """Print the step's output as it is written, until the step has finished."""
    run = step.pipeline_run
    store = session.artifact_store
    live = LiveReader(store, store.uri_for("logs", step.pipeline_run_id.hex, f"{step.id.hex}.log"))
    printed = 0  # bytes of the live copy already printed
    first = True
    while True:
        current = run.steps[step.name]
        finished = current.status not in ("running", "initializing")
        if finished:
            break
        chunk = live.read_from(printed)
        if chunk:
            printed += len(chunk)
            text = chunk.decode("utf-8", errors="replace")
            click.echo(last_lines(text, tail) if first else text, nl=False)
            first = False
        time.sleep(FOLLOW_POLL_S)
    stored = _stored_log(current) or ""
    data = stored.encode("utf-8")
    if printed and OMITTED_MARKER not in stored:
        rest = data[printed:].decode("utf-8", errors="replace")
    elif printed:
        rest = ""  # the stored log was shortened; everything was shown live
    else:
        rest = last_lines(stored, tail)
    click.echo(rest, nl=False)
    if current.status == "failed" and current.exception:
        note(f"Step {current.name} failed: {current.exception.splitlines()[0]}")
        raise click.exceptions.Exit(1)


def _read_from(path: str, offset: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read()
    except FileNotFoundError:
        return b""
    # Print whole lines only, so a line is never split between two reads.
    cut = data.rfind(b"\n") + 1
    return data[:cut] if cut else b""
