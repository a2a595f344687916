"""Cache keys: when may a step's earlier result stand in for running it again?

A key covers what determines the outputs: the step's code (a hash of its source), where it is
defined, its parameters, the *content* of its input artifacts (hash, type, materializer) and how
its outputs are named and materialized. The pipeline's name, the run and the invocation id are
not part of it, so the same step with the same inputs hits the cache from any pipeline.

Using input content rather than input ids means that when an upstream re-runs and produces the
same bytes, its dependents still hit the cache (ZenML does the same when content hashes exist).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from fanflow.artifacts.json_codec import NotRecordable, to_plain_json
from fanflow.spec import StepDefinition

_code_hashes: dict[int, tuple[Any, str]] = {}
_lock = threading.Lock()


def code_hash(step: StepDefinition) -> str:
    """sha256 of the step function's source (or its bytecode when the source is unavailable)."""
    func = step.func
    cached = _code_hashes.get(id(func))
    if cached is not None and cached[0] is func:
        return cached[1]
    try:
        material = inspect.getsource(func).encode()
    except (OSError, TypeError):
        code = getattr(func, "__code__", None)
        material = (
            repr((code.co_code, code.co_consts, code.co_names)).encode()
            if code
            else (repr(func).encode())
        )
    digest = hashlib.sha256(material).hexdigest()
    with _lock:
        _code_hashes[id(func)] = (func, digest)
    return digest


_SCRIPT_MODULES = ("__main__", "__fanflow_resumed_main__")


def stable_source(step: StepDefinition) -> str:
    """The step's import path, with a script run as `__main__` named by its file instead, so a
    run resumed from another process (which loads the script under another name) matches."""
    module_name, _, qualname = step.source.partition(":")
    if module_name in _SCRIPT_MODULES:
        import os
        import sys

        path = getattr(sys.modules.get(module_name), "__file__", None)
        if path:
            return f"file:{os.path.abspath(path)}:{qualname}"
    return step.source


# Up to this many input artifacts, a key's document is built whole (faster than pieces).
WHOLE_DOCUMENT_ITEMS = 256


def cache_key(
    step: StepDefinition,
    parameters: Mapping[str, Any],
    inputs: Mapping[str, Iterable[tuple[str, str, str]]],
) -> str | None:
    """`inputs` maps each input name to (content hash, data type, materializer) per artifact.

    None when a parameter has no faithful JSON form: such a step is never served from cache.

    The key is the sha256 of one JSON document (sorted keys, `json.dumps` defaults); it is fed
    to the hash piece by piece, so a fan-in over a million branches does not build a document
    of a million entries and its text (hundreds of megabytes) to hash it. The text hashed is
    the very text `json.dumps(document, sort_keys=True)` would give, so keys stay the same.
    """
    try:
        plain_parameters = to_plain_json(dict(parameters), strict=True)
    except NotRecordable:
        return None
    outputs = [
        [out.name, out.artifact_name, getattr(out.materializer, "NAME", None)]
        for out in step.outputs
    ]
    listed = {name: items for name, items in inputs.items() if isinstance(items, list)}
    if len(listed) == len(inputs) and sum(map(len, listed.values())) <= WHOLE_DOCUMENT_ITEMS:
        # Few inputs (every step but a wide fan-in): one document, one dumps call.
        document = {
            "code": code_hash(step),
            "source": stable_source(step),
            "parameters": plain_parameters,
            "inputs": {name: [list(item) for item in items] for name, items in listed.items()},
            "outputs": outputs,
        }
        text = json.dumps(document, sort_keys=True, default=repr)
        return hashlib.sha256(text.encode()).hexdigest()
    digest = hashlib.sha256()

    def feed(text: str) -> None:
        digest.update(text.encode())

    def dumps(value: Any) -> str:
        return json.dumps(value, sort_keys=True, default=repr)

    # The document's keys in sorted order: code, inputs, outputs, parameters, source.
    feed(f'{{"code": {dumps(code_hash(step))}, "inputs": {{')
    for position, (name, items) in enumerate(sorted(inputs.items(), key=lambda kv: kv[0])):
        feed(f"{', ' if position else ''}{dumps(name)}: [")
        first = True
        for item in items:
            feed(dumps(list(item)) if first else ", " + dumps(list(item)))
            first = False
        feed("]")
    feed(f'}}, "outputs": {dumps(outputs)}, "parameters": {dumps(plain_parameters)}, ')
    feed(f'"source": {dumps(stable_source(step))}}}')
    return digest.hexdigest()
