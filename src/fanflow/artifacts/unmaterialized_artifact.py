"""`UnmaterializedArtifact`: annotate a step input with it to get the artifact, not its value.

The step receives where the producer's artifact lives (`uri`) and how it was written
(`materializer`, `data_type`) and reads the files itself; nothing is loaded for it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class UnmaterializedArtifact:
    """An input artifact left as files: its id, `uri`, materializer and data type."""

    id: uuid.UUID
    uri: str
    materializer: str
    data_type: str
