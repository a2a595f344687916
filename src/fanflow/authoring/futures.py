"""What a dynamic pipeline function holds while its steps run: futures and finished outputs.

`step.submit(...)` returns a `StepFuture`, `step.map(...)` a `MapResultsFuture` (its branches in
index order), indexing a future gives an `ArtifactFuture`, and a finished output is an
`OutputArtifact` (an artifact version that remembers which step and run produced it).

Invariant: these objects only wait and read; every question goes to the `DynamicRun` that made
them (waiting on the orchestrator, loading a stored value), so they hold no run state of their
own and can be passed to other steps as references.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from fanflow.client.views import ArtifactVersionView
from fanflow.execution.known import Handle, MapBranches
from fanflow.spec import OutputRef, StepDefinition, map_branch_id

if TYPE_CHECKING:
    from fanflow.authoring.dynamic import DynamicRun


class OutputArtifact(ArtifactVersionView):
    """A finished step's output in the running dynamic pipeline (an artifact version + names)."""

    __slots__ = ("_handle", "_run", "invocation_id", "output_name", "run_id")

    def __init__(
        self,
        view: ArtifactVersionView,
        invocation_id: str,
        output_name: str,
        run_id: str,
        live: tuple[DynamicRun, Handle] | None = None,
    ) -> None:
        super().__init__(view._record, view._client)
        self.invocation_id = invocation_id
        self.output_name = output_name
        self.run_id = run_id
        self._run: DynamicRun | None = live[0] if live is not None else None
        self._handle: Handle | None = live[1] if live is not None else None

    @property
    def step_name(self) -> str:
        return self.invocation_id

    def chunk(self, index: int) -> ArtifactVersionView:
        """Item `index` of this sequence output, as an artifact to pass to another step (ZenML's
        `.chunk(index=...)`): the downstream step gets that one item, loaded only there."""
        if self._run is None or self._handle is None:
            raise ValueError(
                f"Output artifact `{self.output_name}` of step `{self.invocation_id}` can be "
                "chunked only inside the dynamic pipeline run that produced it."
            )
        return self._run.chunk(self._handle, self.output_name, index)

    def __repr__(self) -> str:
        return (
            f"OutputArtifact(step={self.invocation_id!r}, output={self.output_name!r}, "
            f"version={self.version!r})"
        )


class ArtifactFuture:
    """One output of a submitted step; resolves when the step has finished."""

    __slots__ = ("_handle", "_run", "output_name")

    def __init__(self, run: DynamicRun, handle: Handle, output_name: str) -> None:
        self._run = run
        self._handle = handle
        self.output_name = output_name

    @property
    def invocation_id(self) -> str:
        return self._handle.invocation_id

    def running(self) -> bool:
        return not self._handle.done

    def wait(self) -> None:
        self._run.wait(self._handle)

    def result(self) -> OutputArtifact:
        self.wait()
        return self._run.output_artifacts(self._handle, [self.output_name])[0]

    def load(self) -> Any:
        self.wait()
        return self._run.load_known(self._handle.outputs[self.output_name])

    def chunk(self, index: int) -> ArtifactVersionView:
        """Item `index` of this sequence output, as an artifact to pass to another step (ZenML's
        `.chunk(index=...)`): the downstream step gets that one item, loaded only there."""
        return self._run.chunk(self._handle, self.output_name, index)

    def __repr__(self) -> str:
        return f"ArtifactFuture({self.invocation_id!r}, {self.output_name!r})"


class StepFuture:
    """A submitted step: `result()`, `load()`, `wait()`; index or unpack it for its outputs."""

    __slots__ = ("_handle", "_run", "_step")

    def __init__(self, run: DynamicRun, handle: Handle, step: StepDefinition) -> None:
        self._run = run
        self._handle = handle
        self._step = step

    @property
    def invocation_id(self) -> str:
        return self._handle.invocation_id

    @property
    def output_names(self) -> list[str]:
        return [output.name for output in self._step.outputs]

    def running(self) -> bool:
        return not self._handle.done

    def wait(self) -> None:
        self._run.wait(self._handle)

    def result(self) -> Any:
        """None, one `OutputArtifact`, or a tuple of them (one per output)."""
        self.wait()
        artifacts = self._run.output_artifacts(self._handle, self.output_names)
        if not artifacts:
            return None
        return artifacts[0] if len(artifacts) == 1 else tuple(artifacts)

    artifacts = result

    def load(self) -> Any:
        """The step's value: None, the value, or a tuple of values."""
        self.wait()
        values = [self._run.load_known(self._handle.outputs[name]) for name in self.output_names]
        if not values:
            return None
        return values[0] if len(values) == 1 else tuple(values)

    def chunk(self, index: int) -> ArtifactVersionView:
        """Item `index` of the step's single sequence output (see `ArtifactFuture.chunk`)."""
        if len(self.output_names) != 1:
            raise ValueError(
                f"Step {self.invocation_id} has {len(self.output_names)} outputs; index or unpack "
                "the future and chunk one of them."
            )
        return self._run.chunk(self._handle, self.output_names[0], index)

    def get_artifact(self, key: str) -> ArtifactFuture:
        if key not in self.output_names:
            raise KeyError(
                f"Step {self.invocation_id} does not have an output with the name: {key}."
            )
        return ArtifactFuture(self._run, self._handle, key)

    def __getitem__(self, index: int) -> ArtifactFuture:
        return ArtifactFuture(self._run, self._handle, self.output_names[index])

    def __iter__(self) -> Iterator[ArtifactFuture]:
        if not self.output_names:
            raise ValueError(f"Step {self.invocation_id} does not return any outputs.")
        return (ArtifactFuture(self._run, self._handle, name) for name in self.output_names)

    def __len__(self) -> int:
        return len(self.output_names)

    def __repr__(self) -> str:
        return f"StepFuture({self.invocation_id!r})"


class MapResultsFuture(Sequence[StepFuture]):
    """The branches of a `.map(...)`, in index order; pass it to a `list[T]` input to fan in.

    It holds the map's branch table (`MapBranches`: a status byte and an outputs slot per
    branch) and makes a branch's `StepFuture` when asked for it, so a map whose result the
    pipeline function keeps does not keep two objects per branch for the whole run."""

    def __init__(self, run: DynamicRun, branches: MapBranches, step: StepDefinition) -> None:
        self._run = run
        self._branches = branches
        self._step = step
        self.group = branches.group

    @property
    def futures(self) -> list[StepFuture]:
        """One future per branch, made now (a new list on each call)."""
        return list(self)

    @property
    def invocation_id(self) -> str:
        return self.group

    def output_refs(self) -> list[OutputRef] | None:
        """Each branch's one output as a reference, for a step the map fans into; None when
        the step has no single output (then its futures say why it cannot be passed)."""
        names = self._branches.output_names
        if len(names) != 1:
            return None
        group, name = self.group, names[0]
        return [OutputRef(map_branch_id(group, index), name) for index in range(len(self))]

    @property
    def invocation_ids(self) -> list[str]:
        return [map_branch_id(self.group, index) for index in range(len(self._branches))]

    def running(self) -> bool:
        return not self._branches.done

    def wait(self) -> None:
        """Waits for every branch, in index order; raises for the first that failed."""
        for index in range(len(self._branches)):
            self._run.wait(self._branches.handle(index))

    def result(self) -> list[Any]:
        return [future.result() for future in self]

    def load(self) -> list[Any]:
        return [future.load() for future in self]

    def unpack(self) -> tuple[list[ArtifactFuture], ...]:
        """One list per output of a multi-output step: `a, b = step.map(...).unpack()`."""
        if not len(self._branches):
            return ()
        return tuple(list(column) for column in zip(*self, strict=True))

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[position] for position in range(len(self._branches))[index]]
        return StepFuture(self._run, self._branches.handle(index), self._step)

    def __len__(self) -> int:
        return len(self._branches)

    def __iter__(self) -> Iterator[StepFuture]:
        run, step, branches = self._run, self._step, self._branches
        return (StepFuture(run, branches.handle(index), step) for index in range(len(branches)))

    def __repr__(self) -> str:
        return f"MapResultsFuture({self.group!r}, {len(self._branches)} branches)"


class ItemReference:
    """One item of a split sequence artifact, as handed to one branch of a map."""

    __slots__ = ("artifact_version_id",)

    def __init__(self, artifact_version_id: str) -> None:
        self.artifact_version_id = artifact_version_id


class ItemReferences(Sequence[ItemReference]):
    """The items of a split sequence artifact, as the sequence `.map` pairs branches with:
    their ids, each made an `ItemReference` when its branch is built."""

    def __init__(self, artifact_version_ids: Sequence[str]) -> None:
        self._ids = artifact_version_ids

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [ItemReference(av_id) for av_id in self._ids[index]]
        return ItemReference(self._ids[index])

    def __len__(self) -> int:
        return len(self._ids)
