"""What a verb works against: the settings, the Client and the store, each opened on first use.

Reads go through the public Client and the metadata layer's summary queries; the few writes a
shell needs (delete, gc) go through `fanflow.metadata.maintenance` and
`fanflow.artifacts.maintenance`, never through the Client, which stays read-only.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fanflow.artifacts.store import ArtifactStore
    from fanflow.client import Client
    from fanflow.config import Settings
    from fanflow.metadata.store import MetadataStore


class Session:
    @cached_property
    def settings(self) -> Settings:
        from fanflow.config import load_settings

        return load_settings()

    @cached_property
    def client(self) -> Client:
        from fanflow.client import Client

        return Client(self.settings)

    @cached_property
    def store(self) -> MetadataStore:
        from fanflow.metadata.store import MetadataStore

        return MetadataStore(self.settings.metadata_url)

    @cached_property
    def artifact_store(self) -> ArtifactStore:
        from fanflow.artifacts.store import artifact_store_for

        return artifact_store_for(
            self.settings.artifact_root, self.settings.artifact_storage_options
        )
