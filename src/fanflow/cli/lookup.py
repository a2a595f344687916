"""Finding what a verb names (a run, a step, an artifact) and saying clearly when it is not there.

Every miss becomes one `click.ClickException` line; an unknown run or artifact name gets the
closest recorded names ("did you mean ...?").
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from fanflow.cli.session import Session
    from fanflow.client import ArtifactVersionView, PipelineRunView, StepRunView

SUGGESTION_POOL = 500


def suggest(wanted: str, candidates: Iterable[str]) -> str:
    """` Did you mean: a, b?` for close matches (prefix matches first), or an empty string."""
    names = list(dict.fromkeys(candidates))
    close = [n for n in names if n.startswith(wanted) or wanted in n][:3]
    close += [
        n for n in difflib.get_close_matches(wanted, names, n=3, cutoff=0.8) if n not in close
    ]
    return f" Did you mean: {', '.join(close[:3])}?" if close else ""


def find_run(session: Session, ident: str) -> PipelineRunView:
    from fanflow.exceptions import AmbiguousIdentifierError, DoesNotExistError

    client = session.client
    try:
        return client.get_pipeline_run(ident)
    except AmbiguousIdentifierError as exc:
        raise click.ClickException(str(exc)) from None
    except DoesNotExistError:
        names = [r.name for r in client.list_pipeline_runs(size=SUGGESTION_POOL)]
        hint = suggest(ident, names) or " List runs with `fanflow runs list`."
        raise click.ClickException(
            f"No run named {ident!r} (nor an id starting so).{hint}"
        ) from None


def split_step_address(address: str) -> tuple[str, int | None]:
    """`train` -> ("train", None); `process:7` -> ("process", 7); `map:process:7` stays whole."""
    head, sep, tail = address.rpartition(":")
    if sep and tail.isdigit() and not address.startswith("map:"):
        return head, int(tail)
    return address, None


def find_step(run: PipelineRunView, address: str) -> StepRunView:
    """A step of `run` by invocation id (`train`, `map:process:7`) or `STEP:INDEX` (`process:7`)."""
    steps = run.steps
    if address in steps:
        return steps[address]
    name, index = split_step_address(address)
    if index is not None:
        candidate = f"map:{name}:{index}"
        if candidate in steps:
            return steps[candidate]
        if any(key.startswith(f"map:{name}:") for key in steps):
            raise click.ClickException(
                f"The map group {name!r} of run {run.name!r} has no branch {index}."
            )
    hint = suggest(address, [k for k in steps if not k.startswith("map:")] + _groups(steps))
    raise click.ClickException(f"Run {run.name!r} has no step {address!r}.{hint}")


def _groups(names: Iterable[str]) -> list[str]:
    return sorted(
        {n.rsplit(":", 1)[0].removeprefix("map:") + ":0" for n in names if n.startswith("map:")}
    )


def split_artifact_address(address: str) -> tuple[str, str | None]:
    """`name` -> (name, None); `name:3` -> (name, "3"). Artifact names hold `::`, never `:N`."""
    head, sep, tail = address.rpartition(":")
    if sep and tail and head and not head.endswith(":") and tail.isdigit():
        return head, tail
    return address, None


def find_artifact(session: Session, address: str) -> ArtifactVersionView:
    from fanflow.exceptions import AmbiguousIdentifierError, DoesNotExistError

    client = session.client
    name, version = split_artifact_address(address)
    try:
        return client.get_artifact_version(name, version)
    except AmbiguousIdentifierError as exc:
        raise click.ClickException(str(exc)) from None
    except DoesNotExistError:
        pass
    if version is None:
        raise click.ClickException(
            f"No artifact named {name!r}.{suggest(name, _artifact_names(session))}"
        )
    try:
        client.get_artifact_version(name)
    except DoesNotExistError:
        raise click.ClickException(
            f"No artifact named {name!r}.{suggest(name, _artifact_names(session))}"
        ) from None
    raise click.ClickException(f"The artifact {name!r} has no version {version}.")


def _artifact_names(session: Session) -> list[str]:
    from fanflow.metadata.artifact_listing import artifact_summaries

    rows, _ = artifact_summaries(session.store, page=1, size=SUGGESTION_POOL)
    return [row.name for row in rows]
