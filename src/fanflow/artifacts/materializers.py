"""The materializer interface, in ZenML's shape.

A materializer turns one Python value into files in a directory (`self.uri`) and back. Subclasses
declare `ASSOCIATED_TYPES` and are registered on definition, as in ZenML; the registry (see
`registry.py`) finds them by walking a value's MRO.

Invariants:
- `self.uri` is always a local directory that exists; the artifact store moves it into place
  atomically, so `save` may write several files without caring about partial writes;
- every materializer has a stable `NAME` stored with each artifact; loading resolves the name,
  never the import path of whatever class happens to be registered today;
- this module imports no registry: `registry.py` installs itself here as the registrar when it
  is imported, and registers the classes defined before that (the import graph stays acyclic).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import typing
from collections.abc import Iterator
from typing import Any, ClassVar, Protocol

from fanflow.enums import ArtifactType
from fanflow.exceptions import MaterializerInterfaceError

# Every materializer class defined in this process, by its stable NAME (registered for types or
# not), so an artifact written with a per-step materializer loads back in the same process.
KNOWN_MATERIALIZERS: dict[str, type[BaseMaterializer]] = {}


class Registrar(Protocol):
    def __call__(self, materializer: type[BaseMaterializer], *, override: bool) -> None: ...


# Set by `registry.py` when it is imported; None until then.
_registrar: Registrar | None = None


def install_registrar(registrar: Registrar) -> None:
    """Make `registrar` register each new materializer class, and register the classes defined
    before it was installed (in definition order)."""
    global _registrar
    _registrar = registrar
    for cls in list(KNOWN_MATERIALIZERS.values()):
        if not cls.SKIP_REGISTRATION:
            registrar(cls, override=cls.OVERRIDE)


class BaseMaterializer:
    """Base class of materializers: override `load` and `save` (and optionally `extract_metadata`).

    Subclasses register themselves for their `ASSOCIATED_TYPES` when defined, unless they set
    `SKIP_REGISTRATION = True`. A subclass that claims a type another user materializer already
    claims raises `MaterializerConflictError` unless it sets `OVERRIDE = True`.

    `SKIP_REGISTRATION` is per class, as in ZenML: it applies to the class whose own body sets
    it and is not inherited. `BaseMaterializer` (True) is never registered; a subclass that
    does not set it registers, also when its base class skipped. After class creation the
    attribute holds the class's effective value.
    """

    ASSOCIATED_TYPES: ClassVar[tuple[type, ...]] = ()
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType | str] = ArtifactType.BASE
    SKIP_REGISTRATION: ClassVar[bool] = True
    OVERRIDE: ClassVar[bool] = False
    NAME: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "NAME" not in cls.__dict__ or not cls.__dict__["NAME"]:
            cls.NAME = f"{cls.__module__}.{cls.__qualname__}"
        try:
            cls.ASSOCIATED_ARTIFACT_TYPE = ArtifactType(cls.ASSOCIATED_ARTIFACT_TYPE)
        except ValueError:
            raise MaterializerInterfaceError(
                f"Invalid materializer class {cls.__qualname__!r}: ASSOCIATED_ARTIFACT_TYPE "
                f"{cls.ASSOCIATED_ARTIFACT_TYPE!r} is not one of "
                f"{[t.value for t in ArtifactType]}."
            ) from None
        # Not inherited: only a class's own declaration skips its registration.
        skip = bool(cls.__dict__.get("SKIP_REGISTRATION", False))
        cls.SKIP_REGISTRATION = skip
        if skip:
            KNOWN_MATERIALIZERS[cls.NAME] = cls
            return
        if not cls.ASSOCIATED_TYPES:
            raise MaterializerInterfaceError(
                f"Invalid materializer class {cls.__qualname__!r}: when creating a custom "
                "materializer, list at least one type in its ASSOCIATED_TYPES class variable "
                "(or set SKIP_REGISTRATION = True and pass it with output_materializers=...)."
            )
        for associated in cls.ASSOCIATED_TYPES:
            # `list[int]` passes isinstance(..., type) but never appears in an MRO.
            if not isinstance(associated, type) or typing.get_origin(associated) is not None:
                raise MaterializerInterfaceError(
                    f"Associated type {associated!r} of materializer {cls.__qualname__!r} is "
                    "not a class."
                )
        if _registrar is not None:
            _registrar(cls, override=cls.OVERRIDE)
        KNOWN_MATERIALIZERS[cls.NAME] = cls

    def __init__(self, uri: str, artifact_store: Any = None) -> None:
        self.uri = uri
        self.artifact_store = artifact_store

    @contextlib.contextmanager
    def get_temporary_directory(self, delete_at_exit: bool = True) -> Iterator[str]:
        """A scratch directory for the duration of the block (ZenML's helper of that name)."""
        path = tempfile.mkdtemp(prefix="fanflow-materializer-")
        try:
            yield path
        finally:
            if delete_at_exit:
                shutil.rmtree(path, ignore_errors=True)

    def load(self, data_type: type[Any]) -> Any:
        """Read the value from the files in `self.uri`."""
        raise NotImplementedError(f"{type(self).__qualname__} does not implement load()")

    def save(self, data: Any) -> None:
        """Write `data` as files into the directory `self.uri`."""
        raise NotImplementedError(f"{type(self).__qualname__} does not implement save()")

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        """Metadata about `data` worth recording with the artifact (JSON-safe values)."""
        return {}

    def save_visualizations(self, data: Any) -> dict[str, Any]:
        return {}

    @classmethod
    def can_handle_type(cls, data_type: type) -> bool:
        return any(issubclass(data_type, associated) for associated in cls.ASSOCIATED_TYPES)

    def validate_type_compatibility(self, data_type: type) -> None:
        if self.ASSOCIATED_TYPES and not self.can_handle_type(data_type):
            raise TypeError(
                f"Unable to handle type {data_type}. {type(self).__qualname__} can only "
                f"read/write artifacts of the following types: {self.ASSOCIATED_TYPES}."
            )
