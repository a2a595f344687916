"""What a dynamic pipeline function may ask of the live run (from its own thread).

Every call only puts a typed message on the orchestrator's queue or waits on a handle: the
function never touches the scheduler's state, the store or the executor directly.
"""

from __future__ import annotations

import time
from typing import Any

from fanflow.artifacts.store import ArtifactStore
from fanflow.enums import ExecutionMode
from fanflow.exceptions import StepExecutionException
from fanflow.execution.core import RunScheduler
from fanflow.execution.core import events as ev
from fanflow.execution.known import (
    Handle,
    InvocationHandle,
    KnownArtifact,
    MapBranches,
    Resolutions,
    SplitRequest,
)
from fanflow.execution.messages import Add, Inbox
from fanflow.execution.worker import load_input
from fanflow.metadata.store import MetadataStore
from fanflow.spec import Invocation


class LiveRunApi:
    """Mixed into `Orchestrator`: the calls `authoring/dynamic.py` makes."""

    events: Inbox
    resolutions: Resolutions
    artifact_store: ArtifactStore
    store: MetadataStore
    core: RunScheduler
    loop_error: BaseException | None

    def add(self, invocations: list[Invocation]) -> list[InvocationHandle]:
        """Add invocations to the live run (thread-safe); their handles resolve when done."""
        handles = [InvocationHandle(inv.id) for inv in invocations]
        self.events.put(Add(invocations, {h.invocation_id: h for h in handles}))
        return handles

    def add_branches(self, branches: MapBranches, invocations: list[Invocation]) -> None:
        """Add (some of) the branches of a dynamic map; its one table settles them all."""
        self.events.put(Add(invocations, {}, branches))

    def end_branches(self, branches: MapBranches, added: int) -> None:
        """The map call raised after adding `added` branches: the others are settled skipped."""
        self.events.put(Add([], {}, branches, added))

    def wait_for_room(self, branches: MapBranches, added: int, limit: int) -> None:
        """Block until at most `limit` of the `added` branches wait to be dispatched, or the
        run stops starting work (then nothing would ever make room)."""
        core = self.core

        class Room:
            @property
            def done(self) -> bool:
                return added - branches.released <= limit or core.stopping or core.finished

        room = Room()
        while not room.done and not self.resolutions.ended:
            self.resolutions.wait(room, timeout=0.05)

    def split(self, source: KnownArtifact) -> SplitRequest:
        """Split a sequence artifact into item artifacts (for `.map`); waits for the answer."""
        request = SplitRequest(source)
        self.events.put(request)
        self.resolutions.wait(request)
        return request

    def wait(self, handle: Handle | MapBranches) -> None:
        self.resolutions.wait(handle)

    def load(self, known: KnownArtifact) -> Any:
        return load_input(known, self.artifact_store)

    def artifact_records(self, ids: list[str]) -> dict[str, Any]:
        return self.store.get_artifact_versions_by_ids(ids)

    def function_raised(self, error: BaseException) -> None:
        """The dynamic pipeline function raised. Because a step it waited for failed, under
        `continue_on_failure`: what it already launched still runs (as in a static pipeline).
        Otherwise: start nothing more; running steps finish."""
        if isinstance(error, StepExecutionException) and (
            self.core.policy is ExecutionMode.CONTINUE_ON_FAILURE
        ):
            return
        self.events.put(ev.StopRequested(time.monotonic()))

    def close_dynamic(self) -> None:
        self.events.put(ev.Closed())
