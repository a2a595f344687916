"""The verbs of `fanflow` and their options; each body imports its implementation when it runs.

Errors are one line on stderr (`Error: ...`) and a non-zero exit: fanflow's own errors and a
missing run/step/artifact become `click.ClickException`s; anything unexpected is reported the
same way, with the traceback only when `FANFLOW_DEBUG=1`.
"""

from __future__ import annotations

import os
from typing import Any

import click

from fanflow.cli.session import Session

STATUS_CHOICES = ["running", "completed", "cached", "failed", "stopped", "skipped"]
RUN_STATUS_CHOICES = ["running", "completed", "cached", "failed", "stopped"]


class FanflowGroup(click.Group):
    """Turns any error raised by a verb into one clear line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.ClickException, EOFError):
            raise
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None
        except Exception as exc:
            if os.environ.get("FANFLOW_DEBUG") == "1":
                raise
            text = " ".join(str(exc).split()) or type(exc).__name__
            raise click.ClickException(
                f"{type(exc).__name__}: {text}" if not _is_fanflow_error(exc) else text
            ) from exc


def _is_fanflow_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("fanflow")


pass_session = click.make_pass_decorator(Session, ensure=True)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")


@click.group(cls=FanflowGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fanflow", prog_name="fanflow")
def cli() -> None:
    """fanflow: see and steer pipeline runs recorded under FANFLOW_HOME (default ~/.fanflow)."""


# --- pipelines --------------------------------------------------------------------------------


@cli.group(cls=FanflowGroup)
def pipelines() -> None:
    """Pipelines that have been run."""


@pipelines.command("list")
@json_option
@pass_session
def pipelines_list(session: Session, as_json: bool) -> None:
    """Every pipeline with its number of runs and its last run."""
    from fanflow.cli import runs

    runs.list_pipelines(session, as_json)


# --- runs -------------------------------------------------------------------------------------


@cli.group(cls=FanflowGroup)
def runs() -> None:
    """List, inspect, resume, stop and delete runs."""


@runs.command("list")
@click.option("--pipeline", "-p", help="Only runs of this pipeline.")
@click.option("--status", "-s", type=click.Choice(RUN_STATUS_CHOICES), help="Only runs in it.")
@click.option("--limit", "-n", type=click.IntRange(min=1), default=20, show_default=True)
@json_option
@pass_session
def runs_list(
    session: Session, pipeline: str | None, status: str | None, limit: int, as_json: bool
) -> None:
    """Runs, newest first."""
    from fanflow.cli import runs as impl

    impl.list_runs(session, pipeline, status, limit, as_json)


@runs.command("show")
@click.argument("run")
@click.option("--expand", "-e", metavar="GROUP", help="List the branches of a map group.")
@click.option("--page", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option(
    "--status", "-s", type=click.Choice(STATUS_CHOICES), help="With --expand: only these."
)
@json_option
@pass_session
def runs_show(
    session: Session,
    run: str,
    expand: str | None,
    page: int,
    page_size: int,
    status: str | None,
    as_json: bool,
) -> None:
    """A run's steps, each map group collapsed into one row (RUN: name, id or prefix)."""
    from fanflow.cli import runs as impl

    impl.show_run(session, run, expand, page, page_size, status, as_json)


@runs.command("resume")
@click.argument("run")
@pass_session
def runs_resume(session: Session, run: str) -> None:
    """Run a failed, stopped or crashed run again, reusing its finished steps."""
    from fanflow.cli import control

    control.resume(session, run)


@runs.command("stop")
@click.argument("run")
@click.option(
    "--wait/--no-wait", default=True, show_default=True, help="Wait until the run has stopped."
)
@click.option(
    "--timeout", type=float, default=120.0, show_default=True, help="Seconds to wait with --wait."
)
@pass_session
def runs_stop(session: Session, run: str, wait: bool, timeout: float) -> None:
    """Ask a run's orchestrator (on this machine) to stop gracefully, as Ctrl-C does."""
    from fanflow.cli import control

    control.stop(session, run, wait, timeout)


@runs.command("delete")
@click.argument("run_idents", metavar="[RUN]...", nargs=-1)
@click.option("--older-than", metavar="AGE", help="Runs created longer ago than AGE (30d, 12h).")
@click.option("--pipeline", "-p", help="Runs of this pipeline.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Only say what would be deleted.")
@json_option
@pass_session
def runs_delete(
    session: Session,
    run_idents: tuple[str, ...],
    older_than: str | None,
    pipeline: str | None,
    yes: bool,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Delete runs, their steps and the artifacts no other run uses."""
    from fanflow.cli import cleanup

    cleanup.delete_runs(session, run_idents, older_than, pipeline, yes, dry_run, as_json)


# --- logs, gc, run, ui ------------------------------------------------------------------------


@cli.command("logs")
@click.argument("run")
@click.argument("step", metavar="STEP[:INDEX]")
@click.option("--follow", "-f", is_flag=True, help="Keep printing while the step runs.")
@click.option("--tail", "-n", type=click.IntRange(min=0), help="Only the last N lines.")
@click.option("--attempt", "-a", type=click.IntRange(min=1), help="Only the K-th attempt.")
@pass_session
def logs(
    session: Session, run: str, step: str, follow: bool, tail: int | None, attempt: int | None
) -> None:
    """What a step printed and logged (STEP:INDEX addresses one branch of a map)."""
    from fanflow.cli import logs as impl

    impl.show_logs(session, run, step, follow, tail, attempt)


@cli.command("gc")
@click.option("--dry-run", is_flag=True, help="Only say what would be removed.")
@json_option
@pass_session
def gc(session: Session, dry_run: bool, as_json: bool) -> None:
    """Remove artifact files that no record points to; prints the bytes freed."""
    from fanflow.cli import cleanup

    cleanup.collect_garbage(session, dry_run, as_json)


@cli.command("run", context_settings={"ignore_unknown_options": False})
@click.argument("target", metavar="MODULE_OR_PATH:PIPELINE")
@click.option(
    "--param",
    "-P",
    "params",
    multiple=True,
    metavar="KEY=VALUE",
    help="A pipeline parameter (VALUE is read as JSON, else as text). Repeatable.",
)
@click.option("--orchestrator", type=click.Choice(["local", "sequential", "processes"]))
@click.option("--run-name", help="Name of the run (may use {date} and {time}).")
@click.option("--no-cache", is_flag=True, help="Run every step, even unchanged ones.")
def run(
    target: str,
    params: tuple[str, ...],
    orchestrator: str | None,
    run_name: str | None,
    no_cache: bool,
) -> None:
    """Run a pipeline: `fanflow run my_pkg.flows:training --param epochs=3`."""
    from fanflow.cli import launching

    launching.run_pipeline(target, params, orchestrator, run_name, no_cache)


@cli.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8237, show_default=True)
def ui(host: str, port: int) -> None:
    """Serve the web dashboard (needs `pip install "fanflow[ui]"`)."""
    from fanflow.cli import dashboard

    dashboard.serve(host, port)


# --- artifacts --------------------------------------------------------------------------------


@cli.group(cls=FanflowGroup)
def artifacts() -> None:
    """Recorded artifacts: list, inspect, fetch."""


@artifacts.command("list")
@click.argument("name", required=False)
@click.option("--limit", "-n", type=click.IntRange(min=1), default=50, show_default=True)
@click.option("--items", is_flag=True, help="Also list the per-branch items of mapped lists.")
@json_option
@pass_session
def artifacts_list(
    session: Session, name: str | None, limit: int, items: bool, as_json: bool
) -> None:
    """Artifacts (or, given NAME, its versions)."""
    from fanflow.cli import artifacts as impl

    impl.list_artifacts(session, name, limit, items, as_json)


@artifacts.command("show")
@click.argument("address", metavar="NAME[:VERSION]")
@json_option
@pass_session
def artifacts_show(session: Session, address: str, as_json: bool) -> None:
    """Type, size, producer, consumers and a preview of an artifact version."""
    from fanflow.cli import artifacts as impl

    impl.show_artifact(session, address, as_json)


@artifacts.command("get")
@click.argument("address", metavar="NAME[:VERSION]")
@click.option(
    "--output",
    "-o",
    "path",
    required=True,
    type=click.Path(),
    help="Where to write the artifact's stored files.",
)
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@pass_session
def artifacts_get(session: Session, address: str, path: str, force: bool) -> None:
    """Copy an artifact version's stored files to PATH."""
    from fanflow.cli import artifacts as impl

    impl.get_artifact(session, address, path, force)


# --- the metadata database --------------------------------------------------------------------


@cli.group(cls=FanflowGroup)
def db() -> None:
    """The metadata database's schema: its revision, the known migrations, upgrades.

    Works on FANFLOW_METADATA_URL (default: the SQLite file under FANFLOW_HOME). Opening a store
    upgrades it anyway; these verbs let an operator look first, or upgrade a shared PostgreSQL
    database once, before workers start.
    """


@db.command("current")
@json_option
@pass_session
def db_current(session: Session, as_json: bool) -> None:
    """The store's schema revision and the migrations still to apply (changes nothing)."""
    from fanflow.cli import database

    database.show_current(session, as_json)


@db.command("history")
@json_option
@pass_session
def db_history(session: Session, as_json: bool) -> None:
    """Every migration this fanflow knows, oldest first, marking where the store is."""
    from fanflow.cli import database

    database.show_history(session, as_json)


@db.command("upgrade")
@click.option(
    "--sql", "sql", is_flag=True, help="Print the SQL the upgrade would run; change nothing."
)
@click.option(
    "--revision", default="head", show_default=True, help="Upgrade up to this revision only."
)
@pass_session
def db_upgrade(session: Session, sql: bool, revision: str) -> None:
    """Apply pending migrations (safe while other processes open the store: one upgrades)."""
    from fanflow.cli import database

    database.upgrade(session, revision, sql)
