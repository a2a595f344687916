"""ZenML's `DockerSettings`, importable where ZenML users import it from
(`fanflow.config.DockerSettings`, `fanflow.config.docker_settings.DockerSettings`).

fanflow builds no container images: the settings are accepted with any of ZenML's fields, kept
in the recorded configuration, and reported once as having no effect.
"""

from __future__ import annotations

from typing import Any


class DockerSettings:
    """Accepts ZenML's Docker options (`parent_image=`, `requirements=`, ...) and keeps them."""

    def __init__(self, **options: Any) -> None:
        self._options = dict(options)

    def __getattr__(self, name: str) -> Any:
        options = self.__dict__.get("_options", {})
        if name in options:
            return options[name]
        raise AttributeError(name)

    def model_dump(self, exclude_unset: bool = True, **_ignored: Any) -> dict[str, Any]:
        """The options given, as a plain dict."""
        return dict(self._options)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DockerSettings) and other._options == self._options

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{key}={value!r}" for key, value in self._options.items())
        return f"DockerSettings({inner})"
