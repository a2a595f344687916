"""Which materializer handles which type: one explicit registry, searched along the MRO.

Invariants:
- lookup walks `type(value).__mro__`; at each class a user registration wins over a builtin one,
  and a user registration for a base class wins over the implicit JSON form of a dataclass;
- builtin JSON and bytes materializers match only the *exact* builtin type (a `dict` subclass or
  an `IntEnum` would not survive a JSON round trip, so they continue up the MRO);
- numpy, pandas and pydantic types are matched by qualified name, so choosing never imports them;
- two user materializers claiming the same type is an error unless the newcomer says
  `OVERRIDE = True` (or is a re-definition of the same class, as when a notebook cell reruns);
  a failed registration changes nothing; a user materializer cannot take a builtin's NAME;
- a concrete `pathlib.Path` goes to `PathMaterializer` and `fanflow.types` strings (HTML,
  Markdown, CSV, JSON) to `StructuredStringMaterializer`, as in ZenML, unless a user
  materializer claims the type or one of its bases (a `PurePath` stays a JSON value);
- when nothing matches, the answer is the cloudpickle fallback, and the caller announces it;
- `select` answers from a per-type cache (every saved output asks, almost always for the same few
  types); any registration or unregistration empties it, so a cached answer is never stale.
"""

from __future__ import annotations

import dataclasses
import pathlib
import pkgutil
import threading
from typing import Any

from fanflow.artifacts.builtin_materializers import (
    BUILTIN_BY_TYPE_NAME,
    BUILTIN_MATERIALIZERS,
    JSON_EXACT_TYPES,
    BytesMaterializer,
    CloudpickleMaterializer,
    JsonMaterializer,
)
from fanflow.artifacts.json_codec import is_importable_class
from fanflow.artifacts.materializers import (
    KNOWN_MATERIALIZERS,
    BaseMaterializer,
    install_registrar,
)
from fanflow.artifacts.path_materializer import PathMaterializer
from fanflow.artifacts.preexisting_data_materializer import PreexistingDataMaterializer
from fanflow.artifacts.structured_strings import StructuredStringMaterializer
from fanflow.exceptions import MaterializerConflictError, MaterializerError

_SELECT_CACHE_SIZE = 1024


class MaterializerRegistry:
    def __init__(self) -> None:
        self._by_type: dict[type, type[BaseMaterializer]] = {}
        self._by_name: dict[str, type[BaseMaterializer]] = dict(BUILTIN_MATERIALIZERS)
        for extra in (PathMaterializer, PreexistingDataMaterializer, StructuredStringMaterializer):
            self._by_name[extra.NAME] = extra
        self._lock = threading.Lock()
        # type -> chosen materializer; emptied on every (un)registration. Bounded, so a program
        # that creates classes in a loop does not keep them all alive through this cache.
        self._selected: dict[type, type[BaseMaterializer]] = {}

    def register(self, materializer: type[BaseMaterializer], *, override: bool = False) -> None:
        with self._lock:
            builtin = BUILTIN_MATERIALIZERS.get(materializer.NAME)
            if builtin is not None and builtin is not materializer:
                raise MaterializerConflictError(
                    f"Materializer {materializer.__qualname__} uses the NAME "
                    f"{materializer.NAME!r} of a builtin materializer; choose another NAME."
                )
            # Check every type before changing anything, so a conflict leaves no trace.
            for associated in materializer.ASSOCIATED_TYPES:
                current = self._by_type.get(associated)
                if (
                    current is not None
                    and current is not materializer
                    and current.NAME != materializer.NAME
                    and not override
                ):
                    raise MaterializerConflictError(
                        f"Materializers {current.NAME!r} and {materializer.NAME!r} both claim "
                        f"type {associated.__module__}.{associated.__qualname__}. Set "
                        f"OVERRIDE = True on {materializer.__qualname__} to replace the first, "
                        "or SKIP_REGISTRATION = True and pass it per step with "
                        "output_materializers=..."
                    )
            for associated in materializer.ASSOCIATED_TYPES:
                self._by_type[associated] = materializer
            self._by_name[materializer.NAME] = materializer
            self._selected = {}

    def register_and_overwrite_type(self, key: type, type_: type[BaseMaterializer]) -> None:
        """Make `type_` the materializer of `key` (and its subclasses), replacing any other
        (ZenML's `materializer_registry.register_and_overwrite_type`)."""
        if not (isinstance(type_, type) and issubclass(type_, BaseMaterializer)):
            raise MaterializerError(f"{type_!r} is not a materializer class.")
        with self._lock:
            builtin = BUILTIN_MATERIALIZERS.get(type_.NAME)
            if builtin is not None and builtin is not type_:
                raise MaterializerConflictError(
                    f"Materializer {type_.__qualname__} uses the NAME {type_.NAME!r} of a "
                    "builtin materializer; choose another NAME."
                )
            self._by_type[key] = type_
            self._by_name[type_.NAME] = type_
            self._selected = {}

    def register_materializer_type(self, key: type, type_: type[BaseMaterializer]) -> None:
        """Make `type_` the materializer of `key` unless one is already registered for it."""
        if key not in self._by_type:
            self.register_and_overwrite_type(key, type_)

    def is_registered(self, key: type) -> bool:
        """Whether a materializer was registered for `key` or one of its base classes."""
        return any(cls in self._by_type for cls in key.__mro__)

    def __getitem__(self, key: type) -> type[BaseMaterializer]:
        return self.select(key)

    def unregister(self, materializer: type[BaseMaterializer]) -> None:
        with self._lock:
            for associated, current in list(self._by_type.items()):
                if current is materializer:
                    del self._by_type[associated]
            if self._by_name.get(materializer.NAME) is materializer:
                del self._by_name[materializer.NAME]
            self._selected = {}

    def select(self, data_type: type) -> type[BaseMaterializer]:
        """The materializer for values of `data_type` (cloudpickle when nothing else fits)."""
        selected = self._selected
        found = selected.get(data_type)
        if found is not None:
            return found
        chosen = self._search(data_type)
        if len(selected) >= _SELECT_CACHE_SIZE:
            selected.clear()
        # A registration running meanwhile replaces the dict, so this entry cannot outlive it.
        selected[data_type] = chosen
        return chosen

    def _search(self, data_type: type) -> type[BaseMaterializer]:
        by_type = self._by_type
        json_dataclass = False
        for depth, cls in enumerate(data_type.__mro__):
            user = by_type.get(cls)
            if user is not None:
                return user
            if depth == 0:
                user_below = any(base in by_type for base in cls.__mro__)
                if issubclass(cls, pathlib.Path) and not user_below:
                    return PathMaterializer  # the file or folder it points to, as in ZenML
                if StructuredStringMaterializer.can_handle_type(cls) and not user_below:
                    return StructuredStringMaterializer
                if cls in JSON_EXACT_TYPES:
                    return JsonMaterializer
                if cls is bytes:
                    return BytesMaterializer
                if dataclasses.is_dataclass(cls) and is_importable_class(cls):
                    json_dataclass = True  # unless a base class has a user materializer
            if json_dataclass:
                continue
            builtin = BUILTIN_BY_TYPE_NAME.get(f"{cls.__module__}.{cls.__qualname__}")
            if builtin is not None:
                if builtin.NAME == "fanflow.pydantic" and not is_importable_class(data_type):
                    return CloudpickleMaterializer
                return builtin
        return JsonMaterializer if json_dataclass else CloudpickleMaterializer

    def resolve(self, name: str) -> type[BaseMaterializer]:
        """The materializer stored under `name` (a NAME, or an import path as a last resort)."""
        found = self._by_name.get(name) or KNOWN_MATERIALIZERS.get(name)
        if found is not None:
            return found
        try:
            cls: Any = pkgutil.resolve_name(name)
        except (ImportError, AttributeError, ValueError) as exc:
            raise MaterializerError(
                f"Materializer {name!r} is not registered in this process and cannot be "
                "imported; import the module that defines it before loading the artifact."
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, BaseMaterializer)):
            raise MaterializerError(f"{name!r} is not a materializer class")
        return cls


materializer_registry = MaterializerRegistry()
install_registrar(materializer_registry.register)
