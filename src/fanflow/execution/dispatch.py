"""Turning invocations the scheduler dispatched into records and tasks (no scheduling here).

`TaskBuilder` knows the run's artifacts (outputs of finished invocations, external and split
artifacts), looks dispatched invocations up in the cache (one query per batch) and builds, for
each, the `StepStart` record and either a cache hit or a `StepTask` for the executor.

Invariants: building a task never reads an artifact; the only database reads are the batched
cache lookup, the prefetch of external artifacts when invocations are added, and the name of an
output being split. An external
artifact (a split item above all) is held only while an invocation that reads it waits to be
dispatched: a 100k-branch map does not keep 100k item records after its branches started.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from fanflow.artifacts.items import SplitResult
from fanflow.artifacts.store import ArtifactStore
from fanflow.execution import cache, recording
from fanflow.execution.known import (
    ArtifactInput,
    KnownArtifact,
    MapBranches,
    SplitItems,
    SplitRequest,
)
from fanflow.execution.run_setup import RunDescription
from fanflow.execution.tables import compact
from fanflow.execution.worker import StepTask, StoreLocation
from fanflow.ids import SERIES_PREFIX_LENGTH, new_ordered_id
from fanflow.metadata.records import InputLink, StepStart
from fanflow.metadata.store import MetadataStore
from fanflow.spec import ExternalArtifactRef, Invocation, ListRef, OutputRef, split_branch_id

HOOK_KINDS = ("on_failure", "on_success", "on_start", "on_end")


@dataclass(slots=True)
class Prepared:
    """One dispatched invocation: its start record, and a cache hit or a task."""

    inv: Invocation
    start: StepStart
    hit: dict[str, KnownArtifact] | None
    task: StepTask | None


class TaskBuilder:
    def __init__(
        self,
        store: MetadataStore,
        artifact_store: ArtifactStore,
        location: StoreLocation,
        description: RunDescription,
        reuse: dict[str, tuple[str, dict[str, Any]]],
    ) -> None:
        self.store = store
        self.artifact_store = artifact_store
        self.location = location
        self.description = description
        self.reuse = reuse
        # Outputs of finished invocations, by id; a dynamic map's branches keep theirs in
        # the map's table (`groups`, shared with the run's `Resolutions`).
        self.outputs: dict[str, dict[str, KnownArtifact]] = {}
        self.groups: dict[str, MapBranches] = {}
        self.external: dict[str, KnownArtifact] = {}
        # The run's splits, by their items' id prefix: an item is looked up, not held.
        self._splits: dict[str, SplitItems] = {}
        # How many added, not yet dispatched invocations read each external artifact.
        self._external_readers: dict[str, int] = {}
        # Invocations whose map tolerates failed branches (`min_success_ratio`).
        self.tolerant: set[str] = set()
        self.failed: set[str] = set()  # tolerated failed branches: their fan-ins go without
        # Invocations of a dynamic run recorded as `initializing` when added: their step run id.
        self.planned_ids: dict[str, str] = {}
        # Static pipelines pass their hooks to every step (as ZenML does); dynamic ones run
        # them once for the whole run instead.
        options = description.options
        self.run_hooks: dict[str, Any] = (
            {} if description.dynamic else {kind: getattr(options, kind) for kind in HOOK_KINDS}
        )
        # Set by the launcher when lifecycle hook outputs are tracked (see `StepTask`).
        self.hook_output_saver: Any = None

    def prepare(
        self,
        invocations: Sequence[Invocation],
        *,
        run_id: str,
        run_name: str,
        run_start: datetime,
        now: datetime,
    ) -> list[Prepared]:
        hooks = self.run_hooks
        resolved = []
        keys: list[str] = []
        for inv in invocations:
            artifact_inputs, links, identities, failed_items = self._resolve_inputs(inv)
            self._release_external(inv)
            key = cache.cache_key(inv.step, inv.parameters, identities)
            if key is not None and inv.enable_cache and key not in self.reuse:
                keys.append(key)
            resolved.append((inv, artifact_inputs, links, key, failed_items))
        hits = self.store.find_cached(keys) if keys else {}
        hits.update((key, self.reuse[key]) for _, _, _, key, _ in resolved if key in self.reuse)
        prepared = []
        planned_ids = self.planned_ids
        for inv, artifact_inputs, links, key, failed_items in resolved:
            planned = planned_ids.pop(inv.id, None)
            start = StepStart(
                id=planned or new_ordered_id(),
                run_id=run_id,
                name=inv.id,
                step_name=inv.step.name,
                status="running",
                start_time=now,
                config=recording.step_config(inv),
                upstream=list(inv.upstream),
                inputs=links,
                cache_key=key,
                code_hash=cache.code_hash(inv.step) if key else None,
                source=inv.step.source,
                map_group=inv.map_group,
                map_index=inv.map_index,
                planned=planned is not None,
            )
            usable = key is not None and (inv.enable_cache or key in self.reuse)
            hit = self._usable_hit(inv, hits.get(key)) if usable and key else None
            if hit is not None:
                original_id, outputs = hit
                start.status = "cached"
                start.end_time = now
                start.original_step_run_id = original_id
                start.cached_outputs = [(name, known.id) for name, known in outputs.items()]
                self.keep_outputs(inv.id, outputs)
                prepared.append(Prepared(inv, start, outputs, None))
                continue
            task = StepTask(
                run_id=run_id,
                run_name=run_name,
                pipeline_name=self.description.name,
                step_run_id=start.id,
                invocation_id=inv.id,
                step=inv.step,
                parameters=dict(inv.parameters),
                artifact_inputs=artifact_inputs,
                store=self.location,
                run_start_time=run_start,
                map_index=inv.map_index,
                map_group=inv.map_group,
                retry=inv.step.config.retry or self.description.options.retry,
                on_failure=inv.step.config.on_failure or hooks.get("on_failure"),
                on_success=inv.step.config.on_success or hooks.get("on_success"),
                substitutions=dict(self.description.options.substitutions),
                on_start=inv.step.config.on_start or hooks.get("on_start"),
                on_end=inv.step.config.on_end or hooks.get("on_end"),
                timeout=inv.step.config.timeout,
                failed_items=failed_items,
                hook_output_saver=self.hook_output_saver,
            )
            prepared.append(Prepared(inv, start, None, task))
        return prepared

    def _usable_hit(
        self, inv: Invocation, hit: tuple[str, dict[str, Any]] | None
    ) -> tuple[str, dict[str, KnownArtifact]] | None:
        if hit is None:
            return None
        original_id, outputs = hit
        expected = {output.name for output in inv.step.outputs}
        if set(outputs) != expected:
            return None
        known = {name: KnownArtifact.of_version(av) for name, av in outputs.items()}
        if not all(
            k.inline is not None or self.artifact_store.exists(k.uri) for k in known.values()
        ):
            return None
        return original_id, known

    def _resolve_inputs(
        self, inv: Invocation
    ) -> tuple[
        dict[str, ArtifactInput | list[ArtifactInput]],
        InputLinks,
        dict[str, Iterable[tuple[str, str, str]]],
        dict[str, tuple[int, ...]] | None,
    ]:
        artifact_inputs: dict[str, ArtifactInput | list[ArtifactInput]] = {}
        links = InputLinks()
        identities: dict[str, Iterable[tuple[str, str, str]]] = {}
        failed_items: dict[str, tuple[int, ...]] | None = None
        for name, ref in inv.inputs.items():
            if isinstance(ref, ListRef):
                if any(self._tolerant(item) for item in ref.items):
                    failed_items = failed_items or {}
                    failed_items[name] = tuple(
                        pos for pos, item in enumerate(ref.items) if self._failed(item)
                    )
                known_items = [self.known(item) for item in ref.items if not self._failed(item)]
                artifact_inputs[name] = cast("list[ArtifactInput]", known_items)  # no copy
                links.add_list(name, known_items)
                # A wide fan-in's are read while the key is hashed, never listed all at once.
                identities[name] = (
                    [k.cache_identity() for k in known_items]
                    if len(known_items) <= cache.WHOLE_DOCUMENT_ITEMS
                    else (k.cache_identity() for k in known_items)
                )
            else:
                known = self.known(ref)
                artifact_inputs[name] = known
                links.add(InputLink(name, 0, False, known.id))
                identities[name] = [known.cache_identity()]
        return artifact_inputs, links, identities, failed_items

    def blocked_by(self, inv: Invocation) -> str | None:
        """The failed (tolerated) upstream branch whose output this invocation needs whole."""
        for ref in inv.inputs.values():
            if not isinstance(ref, ListRef) and self._failed(ref):
                assert isinstance(ref, OutputRef)
                return ref.invocation_id
        return None

    def _tolerant(self, ref: OutputRef | ExternalArtifactRef) -> bool:
        return isinstance(ref, OutputRef) and ref.invocation_id in self.tolerant

    def _failed(self, ref: OutputRef | ExternalArtifactRef) -> bool:
        return isinstance(ref, OutputRef) and ref.invocation_id in self.failed

    def keep_outputs(self, node: str, outputs: dict[str, KnownArtifact]) -> None:
        """A finished (or cached) invocation's outputs, for the tasks of its dependents."""
        if self.groups:
            group, index = split_branch_id(node)
            branches = self.groups.get(group) if group is not None else None
            if branches is not None:
                branches.keep_outputs(index, outputs)
                return
        self.outputs[node] = outputs

    def known(self, ref: OutputRef | ExternalArtifactRef) -> KnownArtifact:
        if isinstance(ref, OutputRef):
            outputs = self.outputs.get(ref.invocation_id)
            if outputs is not None:
                return outputs[ref.output_name]
            group, index = split_branch_id(ref.invocation_id)
            if group is None or group not in self.groups:
                raise KeyError(f"no outputs recorded for `{ref.invocation_id}`")
            return self.groups[group].output(index, ref.output_name)
        return self.external[ref.artifact_version_id]

    def split_done(self, request: SplitRequest, result: SplitResult) -> SplitItems:
        """A sequence artifact was split: its items are known from now on, as one object (an
        item's known artifact is made when an invocation that reads it is added)."""
        source = request.source
        name = source.name
        if not name:  # a step's output is held unnamed; its name is on record
            name = self.store.get_artifact_versions_by_ids([source.id])[source.id].name
        split = SplitItems(source, result, name)
        self._splits[split.prefix] = split
        request.items = split
        return split

    def _split_item(self, av_id: str) -> KnownArtifact | None:
        """A split item's known artifact, made from its split. Once as many items were made as
        the split has, the split is let go: a later reader of an item (read twice, or by
        `.chunk` after its branch started) gets its record from the store instead."""
        prefix = av_id[:SERIES_PREFIX_LENGTH]
        split = self._splits.get(prefix) if self._splits else None
        if split is None:
            return None
        index = split.index_of(av_id)
        if index is None:
            return None
        split.taken += 1
        if split.taken >= split.count:
            del self._splits[prefix]
        return split.known(index)

    def compact(self) -> None:
        """Give back the table memory of items and branches no longer waiting."""
        compact(self.external, self._external_readers, self.tolerant)

    def added(self, invocations: Sequence[Invocation]) -> None:
        """Invocations joined the run: note which tolerate failed branches and who reads each
        external artifact, and read the records of those not known yet."""
        readers = self._external_readers
        wanted: set[str] = set()
        for inv in invocations:
            if inv.step.config.min_success_ratio is not None:
                self.tolerant.add(inv.id)
            for av_id in _external_ids(inv):
                readers[av_id] = readers.get(av_id, 0) + 1
                if av_id not in self.external:
                    item = self._split_item(av_id)
                    if item is not None:
                        self.external[av_id] = item
                    else:
                        wanted.add(av_id)
        if wanted:
            self._prefetch(wanted)

    def skipped(self, inv: Invocation) -> None:
        """An invocation that will never be dispatched reads nothing any more."""
        self._release_external(inv)

    def _release_external(self, inv: Invocation) -> None:
        readers = self._external_readers
        if not readers:  # most runs read no external artifact: nothing to count down
            return
        for av_id in _external_ids(inv):
            left = readers.get(av_id, 0) - 1
            if left > 0:
                readers[av_id] = left
            else:
                readers.pop(av_id, None)
                self.external.pop(av_id, None)

    def _prefetch(self, wanted: set[str]) -> None:
        """Read the records of artifacts (from earlier runs, or released items) to be read."""
        records = self.store.get_artifact_versions_by_ids(sorted(wanted))
        missing = wanted - set(records)
        if missing:
            raise KeyError(f"Input artifact version(s) {sorted(missing)} are not recorded.")
        for av_id, av in records.items():
            # An item's parent has its files at its URI even when it is inline (the split
            # wrote them): tasks refer to them rather than carry the parent's bytes.
            self.external[av_id] = KnownArtifact.of_version(av)


class InputLinks:
    """A dispatched step's input links, made each time they are read (the store reads them
    once, while it writes them): a fan-in over a million branches keeps the known artifacts
    its task needs anyway, and no million link records beside them. In input order."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[InputLink | tuple[str, list[KnownArtifact]]] = []

    def add(self, link: InputLink) -> None:
        self._parts.append(link)

    def add_list(self, name: str, known_items: list[KnownArtifact]) -> None:
        self._parts.append((name, known_items))

    def __iter__(self) -> Iterator[InputLink]:
        for part in self._parts:
            if isinstance(part, InputLink):
                yield part
                continue
            name, known_items = part
            for position, known in enumerate(known_items):
                yield InputLink(name, position, True, known.id)


def _external_ids(inv: Invocation) -> list[str]:
    """Ids of the artifacts from outside the run (earlier runs, split items) `inv` reads."""
    return [
        ref.artifact_version_id for ref in inv.input_refs() if isinstance(ref, ExternalArtifactRef)
    ]
