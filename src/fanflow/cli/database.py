"""`fanflow db ...`: the metadata store's schema revision, the known migrations, upgrades.

These verbs work on the URL alone (`FANFLOW_METADATA_URL`) through `fanflow.metadata.migrations`
and never open a `MetadataStore`, which would upgrade the store on the way: `fanflow db current`
must be able to report an old store as old.
"""

from __future__ import annotations

from typing import Any

import click

from fanflow.cli.output import note, print_json, print_table
from fanflow.cli.session import Session


def _state(session: Session) -> dict[str, Any]:
    from fanflow.metadata import migrations, revisions
    from fanflow.metadata.store_state import describe

    url = session.settings.metadata_url
    at = migrations.current(url)
    known = at is None or at in revisions.KNOWN
    return {
        "store": describe(url),
        "revision": at,
        "head": revisions.HEAD,
        "known": known,
        "pending": migrations.pending(url) if known else [],
    }


def _store(state: dict[str, Any]) -> str:
    """The store's description at the start of a sentence."""
    text: str = state["store"]
    return text[:1].upper() + text[1:]


def _newer_error(state: dict[str, Any]) -> click.ClickException:
    return click.ClickException(
        f"{_store(state)} is at schema revision {state['revision']!r}, written by a newer "
        f"fanflow (this one knows up to {state['head']!r}). Upgrade fanflow to use it."
    )


def show_current(session: Session, as_json: bool) -> None:
    state = _state(session)
    if as_json:
        print_json(state)
    else:
        click.echo(f"store:     {state['store']}")
        at = state["revision"]
        click.echo(f"revision:  {at if at is not None else 'none (an empty database)'}")
        click.echo(f"head:      {state['head']}")
        if state["known"]:
            pending = state["pending"]
            click.echo(f"pending:   {', '.join(pending) if pending else 'none (up to date)'}")
    if not state["known"]:
        raise _newer_error(state)
    if state["pending"] and not as_json:
        note("Run `fanflow db upgrade` to apply them (opening the store applies them too).")


def show_history(session: Session, as_json: bool) -> None:
    from fanflow.metadata import migrations

    state = _state(session)
    pending = set(state["pending"])
    rows: list[dict[str, Any]] = []
    for revision in migrations.history():
        if revision.revision == state["revision"]:
            where = "current"
        elif revision.revision in pending or not state["known"]:
            where = "pending" if state["known"] else "applied"
        else:
            where = "applied"
        rows.append(
            {
                "revision": revision.revision,
                "down_revision": revision.down_revision,
                "description": revision.description,
                "state": where,
            }
        )
    if as_json:
        print_json(rows)
    else:
        print_table(
            ["REVISION", "STATE", "DESCRIPTION"],
            [[str(r["revision"]), str(r["state"]), str(r["description"])] for r in rows],
            title=f"Migrations, oldest first ({state['store']}):",
        )
    if not state["known"]:
        raise _newer_error(state)


def upgrade(session: Session, target: str, sql: bool) -> None:
    from fanflow.metadata import migrations, revisions

    state = _state(session)
    if not state["known"]:
        raise _newer_error(state)
    if target != "head" and target not in revisions.KNOWN:
        raise click.ClickException(
            f"Unknown revision {target!r}; expected 'head' or one of {', '.join(revisions.KNOWN)} "
            "(see `fanflow db history`)."
        )
    goal = revisions.HEAD if target == "head" else target
    at = state["revision"]
    if at is not None and revisions.KNOWN.index(goal) < revisions.KNOWN.index(at):
        raise click.ClickException(
            f"{_store(state)} is at {at!r}, past {goal!r}: fanflow does not downgrade stores."
        )
    steps = state["pending"][: state["pending"].index(goal) + 1] if goal in state["pending"] else []
    if not steps:
        note(f"{_store(state)} is already at {at}; nothing to do.")
        return
    url = session.settings.metadata_url
    if sql:
        for statement in migrations.upgrade_sql(url, goal):
            click.echo(statement)
        note(f"-- the SQL of {', '.join(steps)} on {state['store']}; nothing was changed.")
        return
    reached = migrations.upgrade(url, goal)
    click.echo(
        f"Upgraded {state['store']} from {at or 'an empty database'} to {reached} "
        f"(applied {', '.join(steps)})."
    )
