"""`ArtifactConfig`: how a step output is recorded (ZenML's `zenml.artifacts.artifact_config`).

Used as `Annotated[T, ArtifactConfig(name=..., version=..., tags=..., run_metadata=...,
artifact_type=...)]` on a step's return annotation. It is plain, frozen data: the step's
definition holds it and the worker applies it when it saves the output.

Invariants: `name` may hold `{placeholders}` (`{date}`, `{time}` and the step's or pipeline's
`substitutions`), filled in when the output is saved; a custom `version` is a string (ints are
turned into strings) and a name/version pair can be recorded only once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fanflow.enums import ArtifactType


@dataclass(frozen=True, init=False)
class ArtifactConfig:
    """Name, version, tags, metadata and type of a step output's artifact."""

    name: str | None = None
    version: str | None = None
    tags: tuple[str, ...] = ()
    run_metadata: Mapping[str, Any] = field(default_factory=dict)
    artifact_type: ArtifactType | None = None

    def __init__(
        self,
        name: str | None = None,
        version: str | int | None = None,
        tags: list[str] | tuple[str, ...] | None = None,
        run_metadata: Mapping[str, Any] | None = None,
        artifact_type: ArtifactType | str | None = None,
        **_ignored: Any,
    ) -> None:
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ValueError(f"ArtifactConfig name must be a non-empty string, got {name!r}.")
        if version is not None and (isinstance(version, bool) or str(version).strip() == ""):
            raise ValueError(f"ArtifactConfig version must be a string or int, got {version!r}.")
        if isinstance(tags, str):
            raise ValueError("ArtifactConfig tags must be a list of strings, not a string.")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "version", None if version is None else str(version))
        object.__setattr__(self, "tags", tuple(str(tag) for tag in tags or ()))
        object.__setattr__(self, "run_metadata", dict(run_metadata or {}))
        object.__setattr__(
            self, "artifact_type", None if artifact_type is None else ArtifactType(artifact_type)
        )

    def __hash__(self) -> int:
        return hash((self.name, self.version, self.tags, self.artifact_type))
