"""`ExternalArtifact(value=...)`: a value made into an artifact when a pipeline is traced.

ZenML's way to pass a step a value that is neither JSON-serialisable nor produced by a step: the
value is saved as a new artifact version (named `external_<id>` unless named) before the run
starts, and the step receives it as an input artifact, like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, eq=False)
class ExternalArtifact:
    """A value to upload as an artifact and pass to a step as its input."""

    value: Any = None
    materializer: Any = None
    store_artifact_metadata: bool = True
    store_artifact_visualizations: bool = True

    def __post_init__(self) -> None:
        if self.value is None:
            raise ValueError(
                "ExternalArtifact needs a value (ExternalArtifact(value=...)); to pass an "
                "artifact that already exists, pass Client().get_artifact_version(...) instead."
            )
