"""What the orchestrator knows about artifacts and invocations of the run in progress.

`KnownArtifact` is the in-memory record of an artifact version a step can consume (so building a
task never reads the database). `InvocationHandle` is how a dynamic pipeline function waits for a
step it submitted: the orchestrator resolves it after the step's result is committed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fanflow.artifacts.items import ITEM_MATERIALIZER, ItemSource, source_from_metadata


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


class SplitRequest:
    """A request to split a sequence artifact into item artifacts (for `.map`)."""

    __slots__ = ("done", "error", "items", "source")

    def __init__(self, source: KnownArtifact) -> None:
        self.source = source
        self.done = False
        self.items: list[KnownArtifact] = []
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
        self._pending: list[Callable[[], None]] = []

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
        self.notify()

    def notify(self) -> None:
        with self._condition:
            self._condition.notify_all()

    def wait(self, target: Any, timeout: float | None = None) -> bool:
        with self._condition:
            return self._condition.wait_for(lambda: target.done, timeout)
