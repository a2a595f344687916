"""The seam through which `Client().create_run_metadata(...)` writes.

The Client only reads, with this one ZenML write call as the exception. Inside a running step
nothing may write to the metadata store (the step's changes travel with its result), and only
the authoring layer, above the Client, knows whether a step is running. So the top-level
`fanflow` package registers the writer that routes changes (into the running step, or straight
to the store); without one, changes go straight to the store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fanflow.metadata.records import MetadataUpdate

MetadataWriter = Callable[[Sequence[Any], str], None]

_writer: MetadataWriter | None = None


def register_metadata_writer(writer: MetadataWriter) -> MetadataWriter | None:
    """Make `writer(changes, metadata_url)` the function metadata writes go through."""
    global _writer
    previous, _writer = _writer, writer
    return previous


def write_metadata(changes: Sequence[MetadataUpdate], metadata_url: str) -> None:
    if _writer is not None:
        _writer(changes, metadata_url)
        return
    from fanflow.metadata.store import MetadataStore  # SQLAlchemy only when writing

    MetadataStore(metadata_url).merge_metadata_many(changes)
