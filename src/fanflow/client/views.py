"""Read-only views of recorded pipelines, runs, step runs and artifact versions.

Views wrap the frozen records of the metadata store and add what users do with them: `load()`
an artifact, walk from a run to its steps and from a step to its artifacts. Attribute names follow
ZenML's response models (`run.steps["x"].outputs["output"][0].load()`).

Invariants:
- a view never writes; related objects are fetched when first asked for; a step recorded as
  running in a run that has ended (or whose orchestrator died) is shown as failed;
- `run.steps` of a static run lists steps by topological layer, ids sorted as strings within a
  layer except that a map's branches go by index (`map:t:2` before `map:t:10`); a dynamic run's
  steps are listed in the order its function created them. Never in completion order. It
  re-reads the store on each access, so a running run shows progress, and a missing name is a
  `KeyError` that suggests close matches;
- ids are exposed as `uuid.UUID`, as in ZenML.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from fanflow.enums import ExecutionStatus, HookType
from fanflow.exceptions import DoesNotExistError
from fanflow.graph import id_order_key, layered_order
from fanflow.metadata.liveness import step_as_seen, unstarted_step
from fanflow.metadata.records import (
    ArtifactVersionRecord,
    HookInvocationRecord,
    PipelineRecord,
    RunRecord,
    StepRunRecord,
)

if TYPE_CHECKING:
    from fanflow.client.client import Client

T = TypeVar("T")


def as_uuid(hex_id: str | None) -> uuid.UUID | None:
    return uuid.UUID(hex_id) if hex_id else None


class Page(Sequence[T], Generic[T]):
    """One page of a listing (ZenML's `Page`): `items`, `total`, `index`, `max_size`."""

    __slots__ = ("index", "items", "max_size", "total")

    def __init__(self, items: list[T], total: int, index: int, max_size: int) -> None:
        self.items = items
        self.total = total
        self.index = index  # type: ignore[assignment]  # ZenML's page number, not Sequence.index
        self.max_size = max_size

    @property
    def total_pages(self) -> int:
        return max(1, -(-self.total // self.max_size)) if self.max_size else 1

    @overload
    def __getitem__(self, position: int) -> T: ...

    @overload
    def __getitem__(self, position: slice) -> list[T]: ...

    def __getitem__(self, position: int | slice) -> T | list[T]:
        return self.items[position]

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[T]:
        return iter(self.items)

    def __repr__(self) -> str:
        return f"Page(index={self.index}, size={len(self.items)}, total={self.total})"


class ConfigView:
    """A recorded configuration; attributes read from the stored mapping (`.parameters`, ...)."""

    __slots__ = ("_data",)

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def parameters(self) -> dict[str, Any]:
        return dict(self._data.get("parameters") or {})

    @property
    def settings(self) -> dict[str, Any]:
        """Settings as given (for stack components fanflow does not have, kept unapplied)."""
        return dict(self._data.get("settings") or {})

    def model_dump(self) -> dict[str, Any]:
        return dict(self._data)

    def __repr__(self) -> str:
        return f"ConfigView({self._data!r})"


class ExceptionInfo:
    __slots__ = ("message", "traceback")

    def __init__(self, message: str | None, traceback: str | None) -> None:
        self.message = message
        self.traceback = traceback

    def __repr__(self) -> str:
        return f"ExceptionInfo(message={self.message!r})"


class StepLogs:
    """A step's captured stdout, stderr and log records (`str(logs)` or `logs.read()`).

    Every step run has one, so `step.logs.read()` always works: it is `""` when the step wrote
    nothing (no log file was kept, `uri` is None).
    """

    __slots__ = ("_store", "uri")

    def __init__(self, uri: str | None, store: Any = None) -> None:
        self.uri = uri
        self._store = store  # the artifact store the log was written to (it may be remote)

    def read(self) -> str:
        from fanflow.exceptions import ArtifactMissingError

        if self.uri is None:
            return ""
        try:
            if self._store is not None:
                return str(self._store.read_text(self.uri))
            with open(self.uri, encoding="utf-8", errors="replace") as handle:
                return handle.read()
        except FileNotFoundError as exc:
            raise ArtifactMissingError(f"The step log at {self.uri!r} is missing.") from exc

    def __str__(self) -> str:
        return self.read()

    def __repr__(self) -> str:
        return f"StepLogs({self.uri!r})"


class ArtifactVersionList(list):  # type: ignore[type-arg]
    """The artifact versions of one step input or output (a list, as in ZenML 0.98).

    When it holds exactly one version it also answers for it (`outputs["model"].load()`, as
    older ZenML documentation writes), so both styles run.
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        if len(self) == 1:
            return getattr(self[0], name)
        raise AttributeError(
            f"{name!r}: this input/output holds {len(self)} artifact versions; index the list "
            "to choose one."
        )


class HookInvocationView:
    """One recorded hook call (ZenML's `HookInvocation`): `name`, `hook_type`, `status`,
    `outputs` (the artifact versions `run_hook(..., store_return=True)` stored), ..."""

    __slots__ = ("_client", "_record")

    def __init__(self, record: HookInvocationRecord, client: Any = None) -> None:
        self._record = record
        self._client = client

    id = property(lambda self: uuid.UUID(self._record.id))
    name = property(lambda self: self._record.name)
    hook_type = property(lambda self: HookType(self._record.hook_type))
    status = property(lambda self: ExecutionStatus(self._record.status))
    pipeline_run_id = property(lambda self: uuid.UUID(self._record.run_id))
    step_run_id = property(lambda self: as_uuid(self._record.step_run_id))
    start_time = property(lambda self: self._record.start_time)
    end_time = property(lambda self: self._record.end_time)
    exception = property(lambda self: self._record.exception)
    attempt = property(lambda self: self._record.attempt)

    @property
    def duration(self) -> Any:
        return self._record.end_time - self._record.start_time

    @property
    def outputs(self) -> dict[str, list[ArtifactVersionView]]:
        """Output name -> the artifact versions stored for it (empty unless `store_return`)."""
        if not self._record.outputs:
            return {}
        if self._client is None:
            raise RuntimeError("This hook invocation was read without a Client.")
        return {
            name: [self._client.get_artifact_version(av_id) for av_id in ids]
            for name, ids in self._record.outputs.items()
        }

    def __repr__(self) -> str:
        return (
            f"HookInvocation(name={self.name!r}, hook_type={self._record.hook_type!r}, "
            f"status={self._record.status!r})"
        )


class Tag(str):
    """A tag: a plain string that also answers ZenML's `tag.name`."""

    __slots__ = ()

    @property
    def name(self) -> str:
        return str(self)


class ArtifactView:
    """An artifact: every version recorded under one name (ZenML's `ArtifactResponse`)."""

    __slots__ = ("_client", "created", "id", "name")

    def __init__(self, artifact_id: str, name: str, created: Any, client: Client) -> None:
        self.id = uuid.UUID(artifact_id)
        self.name = name
        self.created = created
        self._client = client

    @property
    def versions(self) -> dict[str, ArtifactVersionView]:
        """Every version of this artifact, oldest first, keyed by its version string."""
        found: dict[str, ArtifactVersionView] = {}
        page = 1
        while True:
            chunk = self._client.list_artifact_versions(name=self.name, page=page, size=500)
            found.update({view.version: view for view in chunk.items})
            if page * 500 >= chunk.total:
                return found
            page += 1

    @property
    def latest_version(self) -> ArtifactVersionView:
        return self._client.get_artifact_version(self.name)

    def load(self) -> Any:
        """The value of the newest version (`Client().get_artifact(name).load()`)."""
        return self.latest_version.load()

    def __repr__(self) -> str:
        return f"Artifact(name={self.name!r})"


class ArtifactVersionView:
    __slots__ = ("_client", "_record")

    def __init__(self, record: ArtifactVersionRecord, client: Client) -> None:
        self._record = record
        self._client = client

    id = property(lambda self: uuid.UUID(self._record.id))
    name = property(lambda self: self._record.name)
    version = property(lambda self: self._record.version)
    version_number = property(lambda self: self._record.version_number)
    uri = property(lambda self: self._record.uri)
    materializer = property(lambda self: self._record.materializer)
    data_type = property(lambda self: self._record.data_type)
    type = property(lambda self: self._record.artifact_type)
    size = property(lambda self: self._record.size)
    content_hash = property(lambda self: self._record.content_hash)
    # True when the value is stored in the metadata record itself (a small step output): no
    # files exist at `uri`, and `load()` decodes the recorded bytes.
    is_inline = property(lambda self: self._record.inline_payload is not None)
    save_type = property(lambda self: self._record.save_type)
    created = property(lambda self: self._record.created)
    run_metadata = property(lambda self: dict(self._record.run_metadata))
    producer_step_run_id = property(lambda self: as_uuid(self._record.producer_step_run_id))
    producer_pipeline_run_id = property(lambda self: as_uuid(self._record.producer_run_id))

    @property
    def tags(self) -> list[Tag]:
        """The version's tags (strings that also have ZenML's `.name`)."""
        return [Tag(tag) for tag in self._client._store.artifact_version_tags(self._record.id)]

    @property
    def artifact(self) -> ArtifactView:
        return self._client.get_artifact(self._record.artifact_id)

    @property
    def producer_step(self) -> StepRunView | None:
        """The step run that produced this artifact (None for artifacts saved outside runs)."""
        step_id = self._record.producer_step_run_id
        return self._client.get_run_step(step_id) if step_id else None

    step = producer_step

    @property
    def run(self) -> PipelineRunView | None:
        run_id = self._record.producer_run_id
        return self._client.get_pipeline_run(run_id) if run_id else None

    def load(self) -> Any:
        """The artifact's value, read from the artifact store."""
        return self._client._load_artifact(self._record)

    read = load

    def download_files(self, path: str, overwrite: bool = False) -> None:
        """Write the version's files, unmaterialized, into the zip file `path` (must end with
        `.zip`; an existing file is an error unless `overwrite=True`)."""
        from fanflow.client.artifact_files import download_files

        download_files(self._record, self._client._artifact_store, path, overwrite)

    @property
    def visualizations(self) -> list[Any]:
        """What the materializer's `save_visualizations` recorded: `.type` and `.uri` each."""
        from fanflow.client.artifact_files import visualizations

        return visualizations(self._record, self._client._artifact_store)

    def visualize(self, title: str | None = None) -> None:
        """Show the visualizations: displayed in a notebook, printed anywhere else."""
        from fanflow.client.artifact_files import visualize

        visualize(self._record, self._client._artifact_store, title)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ArtifactVersionView) and other._record.id == self._record.id

    def __hash__(self) -> int:
        return hash(self._record.id)

    def __repr__(self) -> str:
        return (
            f"ArtifactVersion(name={self.name!r}, version={self.version!r}, "
            f"data_type={self.data_type!r})"
        )


class StepRunView:
    __slots__ = ("_client", "_inputs", "_record")

    def __init__(self, record: StepRunRecord, client: Client) -> None:
        self._record = record
        self._client = client
        self._inputs: dict[str, list[ArtifactVersionRecord]] | None = None

    def _input_records(self) -> dict[str, list[ArtifactVersionRecord]]:
        """The step's input links, read on first use when the step was looked up without them
        (a fan-in's output is read without listing its million inputs)."""
        if not self._record.inputs_unread:
            return self._record.inputs
        if self._inputs is None:
            self._inputs = self._client._store.get_step_inputs(self._record.id)
        return self._inputs

    id = property(lambda self: uuid.UUID(self._record.id))
    name = property(lambda self: self._record.name)
    step_name = property(lambda self: self._record.step_name)
    status = property(lambda self: ExecutionStatus(self._record.status))
    start_time = property(lambda self: self._record.start_time)
    end_time = property(lambda self: self._record.end_time)
    created = property(lambda self: self._record.created)
    cache_key = property(lambda self: self._record.cache_key)
    code_hash = property(lambda self: self._record.code_hash)
    source = property(lambda self: self._record.source)
    original_step_run_id = property(lambda self: as_uuid(self._record.original_step_run_id))
    pipeline_run_id = property(lambda self: uuid.UUID(self._record.run_id))
    run_metadata = property(lambda self: dict(self._record.run_metadata))
    map_index = property(lambda self: self._record.map_index)
    map_group = property(lambda self: self._record.map_group)
    upstream = property(lambda self: list(self._record.upstream))
    parent_step_names = upstream

    @property
    def config(self) -> ConfigView:
        return ConfigView(self._record.config)

    @property
    def duration(self) -> float | None:
        if self._record.start_time and self._record.end_time:
            return (self._record.end_time - self._record.start_time).total_seconds()
        return None

    @property
    def exception_info(self) -> ExceptionInfo | None:
        if self._record.exception is None and self._record.traceback is None:
            return None
        return ExceptionInfo(self._record.exception, self._record.traceback)

    @property
    def exception(self) -> str | None:
        return self._record.exception

    @property
    def traceback(self) -> str | None:
        return self._record.traceback

    @property
    def logs(self) -> StepLogs:
        """What the step printed and logged (`.read()` is "" when it wrote nothing)."""
        return StepLogs(self._record.logs_uri or None, self._client._artifact_store)

    @property
    def attempts(self) -> list[dict[str, Any]]:
        """Every attempt at the step's body, oldest first.

        Retried steps record each attempt; a step that ran once records none (keeping the hot
        path lean), so its single attempt is rebuilt here from the step run itself. Cached and
        skipped steps ran no attempt in this run.
        """
        if self._record.attempts:
            return list(self._record.attempts)
        record = self._record
        if record.status not in ("completed", "failed") or record.start_time is None:
            return []
        return [
            {
                "attempt": 1,
                "start_time": record.start_time.isoformat(),
                "end_time": record.end_time.isoformat() if record.end_time else None,
                "error": record.exception if record.status == "failed" else None,
                "traceback": record.traceback if record.status == "failed" else None,
            }
        ]

    @property
    def inputs(self) -> dict[str, ArtifactVersionList]:
        return {
            name: ArtifactVersionList(ArtifactVersionView(av, self._client) for av in items)
            for name, items in self._input_records().items()
        }

    @property
    def outputs(self) -> dict[str, ArtifactVersionList]:
        return {
            name: ArtifactVersionList(ArtifactVersionView(av, self._client) for av in items)
            for name, items in self._record.outputs.items()
        }

    @property
    def input(self) -> ArtifactVersionView:
        inputs = self._input_records()
        if not inputs:
            raise ValueError(f"Step {self.name} has no inputs.")
        if len(inputs) > 1 or len(next(iter(inputs.values()))) > 1:
            raise ValueError(
                f"Step {self.name} has multiple inputs, so `Step.input` is "
                "ambiguous. Please use `Step.inputs` instead."
            )
        return ArtifactVersionView(next(iter(inputs.values()))[0], self._client)

    @property
    def output(self) -> ArtifactVersionView:
        outputs = self._record.outputs
        if not outputs:
            raise ValueError(f"Step {self.name} has no outputs.")
        if len(outputs) > 1 or len(next(iter(outputs.values()))) > 1:
            raise ValueError(
                f"Step {self.name} has multiple outputs, so `Step.output` is "
                "ambiguous. Please use `Step.outputs` instead."
            )
        return ArtifactVersionView(next(iter(outputs.values()))[0], self._client)

    @property
    def pipeline_run(self) -> PipelineRunView:
        return self._client.get_pipeline_run(self._record.run_id)

    def __repr__(self) -> str:
        return f"StepRun(name={self.name!r}, status={self._record.status!r})"


def creation_order(positions: Mapping[str, int | None]) -> list[str]:
    """A dynamic run's steps as its function created them (a map's branches in index order);
    steps without a recorded position (older stores) follow, by id."""
    last = len(positions)
    return sorted(
        positions,
        key=lambda name: (
            positions[name] if positions[name] is not None else last,
            id_order_key(name),
        ),
    )


def unknown_step_message(name: object, known: Sequence[str]) -> str:
    """`run.steps[name]` missed: say so, with the closest step names ("did you mean")."""
    import difflib

    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    listed = ", ".join(known[:10]) + (", ..." if len(known) > 10 else "")
    return f"The run has no step {name!r}.{hint} Its steps: {listed or '(none)'}."


class StepsView(Mapping[str, StepRunView]):
    """`run.steps`: behaves like ZenML's dict of step runs, but loads lazily, so looking up one
    step of a 100,000-branch run reads one step, not all of them."""

    __slots__ = ("_client", "_names", "_order", "_records", "_run", "_run_id", "_unstarted")

    def __init__(self, client: Client, run: RunRecord) -> None:
        self._client = client
        self._run = run
        self._run_id = run.id
        self._unstarted: dict[str, StepRunRecord] = {}
        self._order: list[str] | None = None  # read on first need: a lookup by name skips it
        self._names: set[str] = set()
        self._records: dict[str, StepRunRecord] | None = None

    def _ordered(self) -> list[str]:
        """Every step's name in listing order (and the planned-but-unrecorded ones of a static
        run); read once, when a listing or a miss needs it."""
        if self._order is None:
            run, client = self._run, self._client
            if run.config.get("dynamic"):
                order = creation_order(client._store.step_positions(run.id))
            else:
                graph = dict(client._store.step_graph(run.id))
                # Steps the run planned but never recorded (e.g. after a crash) are listed too.
                for name, step_name, upstream in client._store.planned_steps(run.id):
                    if name not in graph:
                        graph[name] = upstream
                        self._unstarted[name] = unstarted_step(run, name, step_name, upstream)
                order = layered_order(graph)
            self._names = set(order)
            self._order = order
        return self._order

    def _all(self) -> dict[str, StepRunRecord]:
        if self._records is None:
            self._ordered()
            run = self._run
            self._records = {
                r.name: step_as_seen(r, run) for r in self._client._store.get_steps(self._run_id)
            }
            for name, record in self._unstarted.items():
                self._records.setdefault(name, record)
        return self._records

    def __getitem__(self, name: str) -> StepRunView:
        if self._records is not None and name in self._records:
            return StepRunView(self._records[name], self._client)
        if isinstance(name, str):
            try:
                record = self._client._store.get_step_by_name(
                    self._run_id, name, with_inputs=False
                )
            except DoesNotExistError:
                pass
            else:
                return StepRunView(step_as_seen(record, self._run), self._client)
        order = self._ordered()
        unstarted = self._unstarted.get(name) if isinstance(name, str) else None
        if unstarted is None:
            raise DoesNotExistError(unknown_step_message(name, order))
        return StepRunView(unstarted, self._client)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ordered())

    def __len__(self) -> int:
        return len(self._ordered())

    def __contains__(self, name: object) -> bool:
        self._ordered()
        return name in self._names

    def items(self) -> list[tuple[str, StepRunView]]:  # type: ignore[override]
        records = self._all()
        return [
            (name, StepRunView(records[name], self._client))
            for name in self._ordered()
            if name in records
        ]

    def values(self) -> list[StepRunView]:  # type: ignore[override]
        return [view for _, view in self.items()]

    def __repr__(self) -> str:
        return f"StepsView({len(self._ordered())} steps)"


class PipelineRunView:
    __slots__ = ("_client", "_record")

    def __init__(self, record: RunRecord, client: Client) -> None:
        self._record = record
        self._client = client

    id = property(lambda self: uuid.UUID(self._record.id))
    name = property(lambda self: self._record.name)
    status = property(lambda self: ExecutionStatus(self._record.status))
    created = property(lambda self: self._record.created)
    start_time = property(lambda self: self._record.start_time)
    end_time = property(lambda self: self._record.end_time)
    run_metadata = property(lambda self: dict(self._record.run_metadata))
    exception = property(lambda self: self._record.exception)
    original_run_id = property(lambda self: as_uuid(self._record.original_run_id))
    orchestrator_pid = property(lambda self: self._record.orchestrator_pid)
    orchestrator_host = property(lambda self: self._record.orchestrator_host)
    heartbeat = property(lambda self: self._record.heartbeat)

    @property
    def config(self) -> ConfigView:
        return ConfigView(self._record.config)

    @property
    def in_progress(self) -> bool:
        return not ExecutionStatus(self._record.status).is_finished

    @property
    def pipeline(self) -> PipelineView | None:
        if self._record.pipeline_id is None:
            return None
        return self._client.get_pipeline(self._record.pipeline_id)

    @property
    def pipeline_name(self) -> str | None:
        return self._record.pipeline_name

    @property
    def steps(self) -> StepsView:
        """Step runs keyed by invocation id, by topological layer then id (a read-only mapping
        that reads the store on each access of `.steps`, so a running run shows progress)."""
        return StepsView(self._client, self._record)

    @property
    def duration(self) -> float | None:
        if self._record.start_time and self._record.end_time:
            return (self._record.end_time - self._record.start_time).total_seconds()
        return None

    def resume(self) -> PipelineRunView:
        """Run this failed, stopped or crashed run again, executing only its unfinished steps
        (finished ones are reused); returns the new run, linked by `original_run_id`."""
        # Resuming starts work, which the authoring layer above the Client does; it is reached
        # through the launcher that the `fanflow` package registers (see `resuming.py`).
        from fanflow.client.resuming import resume

        return resume(self)

    def refresh(self) -> PipelineRunView:
        """A fresh view of this run (status and times re-read from the store)."""
        return self._client.get_pipeline_run(self._record.id)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PipelineRunView) and other._record.id == self._record.id

    def __hash__(self) -> int:
        return hash(self._record.id)

    def __repr__(self) -> str:
        return f"PipelineRun(name={self.name!r}, status={self._record.status!r})"


class PipelineView:
    __slots__ = ("_client", "_record")

    def __init__(self, record: PipelineRecord, client: Client) -> None:
        self._record = record
        self._client = client

    id = property(lambda self: uuid.UUID(self._record.id))
    name = property(lambda self: self._record.name)
    created: datetime = property(lambda self: self._record.created)  # type: ignore[assignment]

    def get_runs(self, **filters: Any) -> list[PipelineRunView]:
        filters.setdefault("size", 1_000_000)
        return list(self._client.list_pipeline_runs(pipeline_id=self._record.id, **filters))

    @property
    def runs(self) -> list[PipelineRunView]:
        """All runs of this pipeline, newest first."""
        return self.get_runs()

    @property
    def num_runs(self) -> int:
        return self._client.list_pipeline_runs(pipeline_id=self._record.id, size=1).total

    @property
    def last_run(self) -> PipelineRunView:
        page = self._client.list_pipeline_runs(pipeline_id=self._record.id, size=1)
        if not page.items:
            raise RuntimeError(f"The pipeline {self.name} has no runs.")
        return page.items[0]

    @property
    def last_successful_run(self) -> PipelineRunView:
        page = self._client.list_pipeline_runs(
            pipeline_id=self._record.id, status=["completed", "cached"], size=1
        )
        if not page.items:
            raise RuntimeError(f"The pipeline {self.name} has no successful runs.")
        return page.items[0]

    def __repr__(self) -> str:
        return f"Pipeline(name={self.name!r})"
