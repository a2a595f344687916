"""What the orchestrator knows about artifacts and invocations of the run in progress.

`KnownArtifact` is the in-memory record of an artifact version a step can consume (so building a
task never reads the database). `InvocationHandle` is how a dynamic pipeline function waits for a
step it submitted: the orchestrator resolves it after the step's result is committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from fanflow.artifacts.items import (
    ITEM_MATERIALIZER,
    ItemSource,
    SplitResult,
    source_from_metadata,
)
from fanflow.ids import series_id, series_index, series_prefix
from fanflow.spec import map_branch_id, split_branch_id


@dataclass(frozen=True, slots=True)
class ArtifactInput:
    """Where a step input's artifact lives and how to load it."""

    artifact_version_id: str
    uri: str
    materializer: str
    data_type: str
    item: ItemSource | None = None
    content_hash: str | None = None  # recorded sha256, checked before loading a pickle
    inline: bytes | None = None  # the recorded bytes of an inline artifact (no files)


@dataclass(frozen=True, slots=True)
class KnownArtifact(ArtifactInput):
    """An artifact version of this run the orchestrator knows; it is its own step input, so a
    fan-in over N branches holds one object per branch, not a record and a copy of it."""

    name: str = ""

    @property
    def id(self) -> str:
        return self.artifact_version_id

    @classmethod
    def of_version(cls, record: Any) -> KnownArtifact:
        """A recorded artifact version (`ArtifactVersionRecord`) as a known input; a split item
        keeps where its parent's files are (they exist even when the item is inline)."""
        item = (
            source_from_metadata(record.uri, record.run_metadata)
            if record.materializer == ITEM_MATERIALIZER
            else None
        )
        return cls(
            artifact_version_id=record.id,
            name=record.name,
            uri=record.uri,
            materializer=record.materializer,
            data_type=record.data_type,
            content_hash=record.content_hash,
            item=item,
            inline=record.inline_payload,
        )

    def cache_identity(self) -> tuple[str, str, str]:
        return (self.content_hash or self.id, self.data_type, self.materializer)


_NO_OUTPUTS: dict[str, KnownArtifact] = {}


class InvocationHandle:
    """The outcome of one submitted invocation, filled in by the orchestrator. A map keeps one
    per branch for the whole run, so it holds only what its future reads: the id (a branch's
    group and index are in it), the status, the outputs and the error."""

    __slots__ = ("done", "error", "error_text", "invocation_id", "outputs", "status")

    def __init__(self, invocation_id: str) -> None:
        self.invocation_id = invocation_id
        self.done = False
        self.status: str | None = None
        self.outputs: dict[str, KnownArtifact] = _NO_OUTPUTS  # replaced, never filled in
        self.error: BaseException | None = None
        self.error_text: str | None = None


# A settled branch's state in `MapBranches`: 0 while it is pending.
_BRANCH_STATUSES: tuple[str | None, ...] = (None, "completed", "cached", "failed", "skipped")
_BRANCH_CODES = {status: code for code, status in enumerate(_BRANCH_STATUSES) if status}


class MapBranches:
    """The handles of one dynamic map's branches as one table, not an object per branch.

    A map's futures live as long as the pipeline function keeps its result, i.e. usually for
    the whole run: per branch the table holds one status byte and one slot for its outputs
    (the known artifact itself when the step has one output). The orchestrator fills a
    branch's outputs as soon as its result is in (its dependents are built from them) and
    settles its status once the records are committed; `handle(index)` is a view with
    `InvocationHandle`'s attributes for the branch's future.
    """

    __slots__ = (
        "_errors",
        "_outputs",
        "_states",
        "_unsettled",
        "group",
        "output_names",
        "released",
    )

    def __init__(self, group: str, width: int, output_names: tuple[str, ...]) -> None:
        self.group = group
        self.output_names = output_names
        self._states = bytearray(width)
        self._outputs: list[Any] = [None] * width
        self._errors: dict[int, tuple[BaseException | None, str | None]] = {}
        self._unsettled = width
        # Branches the orchestrator no longer holds as pending (dispatched or skipped); only
        # its thread writes this, the pipeline function reads it to add a wide map gradually.
        self.released = 0

    def __len__(self) -> int:
        return len(self._states)

    @property
    def done(self) -> bool:
        """Every branch is settled (what waiting for the whole map waits on)."""
        return self._unsettled == 0

    def handle(self, index: int) -> BranchHandle:
        width = len(self._states)
        if index < 0:
            index += width
        if not 0 <= index < width:
            raise IndexError(f"map `{self.group}` has {width} branches; no branch {index}")
        return BranchHandle(self, index)

    def keep_outputs(self, index: int, outputs: dict[str, KnownArtifact]) -> None:
        if len(self.output_names) == 1 and len(outputs) == 1:
            self._outputs[index] = next(iter(outputs.values()))
        else:
            self._outputs[index] = outputs

    def outputs(self, index: int) -> dict[str, KnownArtifact]:
        kept = self._outputs[index]
        if kept is None:
            return _NO_OUTPUTS
        if isinstance(kept, dict):
            return kept
        return {self.output_names[0]: kept}

    def output(self, index: int, name: str) -> KnownArtifact:
        kept = self._outputs[index]
        if isinstance(kept, KnownArtifact) and name == self.output_names[0]:
            return kept
        if isinstance(kept, dict):
            return kept[name]
        raise KeyError(f"branch {index} of map `{self.group}` has no output `{name}`")

    def settle(
        self, index: int, status: str, error: BaseException | None, error_text: str | None
    ) -> None:
        if self._states[index]:
            return
        if error is not None or error_text is not None:
            self._errors[index] = (error, error_text)
        self._states[index] = _BRANCH_CODES[status]
        self._unsettled -= 1

    def settle_rest(
        self, error: BaseException | None, start: int = 0, reason: str | None = None
    ) -> None:
        """Branches from `start` on that were never settled are skipped (the run's loop ended,
        or the map call raised before adding them)."""
        for index in range(start, len(self._states)):
            if not self._states[index]:
                self.settle(index, "skipped", error, reason)


class BranchHandle:
    """One branch of a `MapBranches` table, read like an `InvocationHandle`."""

    __slots__ = ("_index", "_table")

    def __init__(self, table: MapBranches, index: int) -> None:
        self._table = table
        self._index = index

    @property
    def invocation_id(self) -> str:
        return map_branch_id(self._table.group, self._index)

    @property
    def done(self) -> bool:
        return self._table._states[self._index] != 0

    @property
    def status(self) -> str | None:
        return _BRANCH_STATUSES[self._table._states[self._index]]

    @property
    def outputs(self) -> dict[str, KnownArtifact]:
        return self._table.outputs(self._index)

    @property
    def error(self) -> BaseException | None:
        return self._table._errors.get(self._index, (None, None))[0]

    @property
    def error_text(self) -> str | None:
        return self._table._errors.get(self._index, (None, None))[1]


Handle = InvocationHandle | BranchHandle


class SplitItems:
    """The items a sequence artifact was split into, as one object (a `.map` over a million
    items must not hold a million records): item `i`'s id is the series prefix and `i`, its
    hash is 32 bytes of one buffer, and its known artifact (and its record, when written) is
    built when asked for."""

    __slots__ = ("_data_types", "_hashes", "count", "parent", "parent_name", "prefix", "taken")

    def __init__(self, parent: KnownArtifact, result: SplitResult, parent_name: str) -> None:
        self.parent = parent
        self.parent_name = parent_name  # items are named `<parent's name>[<index>]`
        self.prefix = series_prefix()
        self.count = result.count
        self.taken = 0  # items made known so far (the split is dropped once all were)
        self._hashes: bytes | list[str]
        try:
            self._hashes = b"".join(bytes.fromhex(digest) for digest in result.hashes)
            if len(self._hashes) != 32 * self.count:
                raise ValueError("not one sha256 per item")
        except ValueError:
            self._hashes = list(result.hashes)
        types = result.data_types
        first = types[0] if types else ""
        self._data_types: str | list[str] = (
            first if types.count(first) == len(types) else list(types)
        )

    def __len__(self) -> int:
        return self.count

    @property
    def ids(self) -> SeriesIds:
        return SeriesIds(self.prefix, self.count)

    def index_of(self, av_id: str) -> int | None:
        index = series_index(self.prefix, av_id)
        return index if index is not None and index < self.count else None

    def content_hash(self, index: int) -> str:
        if isinstance(self._hashes, bytes):
            return self._hashes[32 * index : 32 * index + 32].hex()
        return self._hashes[index]

    def data_type(self, index: int) -> str:
        types = self._data_types
        return types if isinstance(types, str) else types[index]

    def source(self, index: int) -> ItemSource:
        parent = self.parent
        return ItemSource(
            parent.uri, parent.materializer, parent.data_type, index, parent.content_hash
        )

    def known(self, index: int) -> KnownArtifact:
        """Item `index` as a step input (unnamed: its name is on record; items are never
        split again)."""
        return KnownArtifact(
            artifact_version_id=series_id(self.prefix, index),
            uri=self.parent.uri,
            materializer=ITEM_MATERIALIZER,
            data_type=self.data_type(index),
            content_hash=self.content_hash(index),
            item=self.source(index),
        )


class SeriesIds(Sequence[str]):
    """The ids of a split's items, each made when read."""

    __slots__ = ("_count", "_prefix")

    def __init__(self, prefix: str, count: int) -> None:
        self._prefix = prefix
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [series_id(self._prefix, i) for i in range(self._count)[index]]
        if index < 0:
            index += self._count
        if not 0 <= index < self._count:
            raise IndexError(index)
        return series_id(self._prefix, index)


class SplitRequest:
    """A request to split a sequence artifact into item artifacts (for `.map`)."""

    __slots__ = ("done", "error", "items", "source")

    def __init__(self, source: KnownArtifact) -> None:
        self.source = source
        self.done = False
        self.items: SplitItems | None = None
        self.error: BaseException | None = None


class Resolutions:
    """One condition variable for every handle of a run (100k handles, one waiter).

    The orchestrator settles handles only after the records they describe are committed:
    `resolve`/`later` queue the change, `release()` applies the queue and wakes the waiters.
    `handles` holds the handles not settled yet; a settled one lives on only where the
    pipeline function keeps it (its futures).
    """

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self.handles: dict[str, InvocationHandle] = {}
        # Dynamic maps' branch tables, by group: their branches have no handle of their own.
        self.groups: dict[str, MapBranches] = {}
        self._pending: list[Callable[[], None]] = []
        self.ended = False  # the run's loop has ended: whatever is not settled never will be
        self.end_error: BaseException | None = None

    def later(self, action: Callable[[], None]) -> None:
        self._pending.append(action)

    def resolve(
        self,
        invocation_id: str,
        status: str,
        outputs: dict[str, KnownArtifact],
        error: BaseException | None = None,
        error_text: str | None = None,
    ) -> None:
        handles = self.handles
        handle = handles.get(invocation_id)
        if handle is None:
            group, index = split_branch_id(invocation_id)
            table = self.groups.get(group) if group is not None else None
            if table is not None:
                self._pending.append(partial(table.settle, index, status, error, error_text))
            return

        def settle() -> None:
            handles.pop(invocation_id, None)
            handle.status = status
            handle.outputs = outputs
            handle.error = error
            handle.error_text = error_text
            handle.done = True

        self._pending.append(settle)

    def release(self) -> None:
        if self._pending:
            for action in self._pending:
                action()
            self._pending = []
            self.notify()

    def end_all(self, error: BaseException | None) -> None:
        """The run's loop ended: no handle may wait forever."""
        for handle in self.handles.values():
            if not handle.done:
                handle.error = handle.error or error
                handle.status = handle.status or "skipped"
                handle.done = True
        for table in self.groups.values():
            table.settle_rest(error)
        self.ended = True
        self.end_error = error
        self.notify()

    def notify(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def wait(self, target: Any, timeout: float | None = None) -> bool:
        """Wait until `target` is settled. Once the run's loop has ended nothing will settle
        it any more (the pipeline function added it too late): it is settled here, as not run,
        instead of being waited for forever."""
        with self._condition:
            settled = self._condition.wait_for(lambda: target.done or self.ended, timeout)
        if not target.done and self.ended:
            self._abandon(target)
        return settled

    def _abandon(self, target: Any) -> None:
        error, reason = self.end_error, "not run: the run had already ended"
        if isinstance(target, MapBranches):
            target.settle_rest(error, 0, reason)
        elif isinstance(target, BranchHandle):
            target._table.settle(target._index, "skipped", error, reason)
        elif isinstance(target, SplitRequest):
            target.error = target.error or RuntimeError(reason)
            target.done = True
        elif isinstance(target, InvocationHandle):
            target.error = target.error or error
            target.error_text = target.error_text or reason
            target.status = target.status or "skipped"
            target.done = True
