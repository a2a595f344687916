"""Cache keys are hashed piece by piece and stay exactly the keys of one JSON document."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fanflow import step
from fanflow.execution import cache


@step
def summed(
    values: list[int], extra: int, label: str = "x", options: dict | None = None
) -> Annotated[int, "total"]:
    return sum(values) + extra


def _document_key(definition, parameters, inputs) -> str:
    """The key as one document: what keys recorded by earlier runs were computed from."""
    document = {
        "code": cache.code_hash(definition),
        "source": cache.stable_source(definition),
        "parameters": parameters,
        "inputs": {name: [list(item) for item in items] for name, items in sorted(inputs.items())},
        "outputs": [
            [out.name, out.artifact_name, getattr(out.materializer, "NAME", None)]
            for out in definition.outputs
        ],
    }
    return hashlib.sha256(json.dumps(document, sort_keys=True, default=repr).encode()).hexdigest()


def test_the_streamed_key_is_the_key_of_the_whole_document():
    definition = summed.definition
    parameters = {"label": 'qu"ote \u00e9\u4e2d', "options": {"b": [1, 2.5, None], "a": True}}
    inputs = {
        "values": [(f"{i:064x}", "builtins.int", "fanflow.json") for i in range(5)],
        "extra": [("ab" * 32, "builtins.int", "fanflow.json")],
    }
    expected = _document_key(definition, parameters, inputs)
    streamed = {name: iter(items) for name, items in inputs.items()}  # read once, as a fan-in does
    assert cache.cache_key(definition, parameters, streamed) == expected
    assert cache.cache_key(definition, {}, {}) == _document_key(definition, {}, {})
    wide = {"values": [(f"{i:064x}", "builtins.int", "fanflow.json") for i in range(1000)]}
    assert cache.cache_key(definition, parameters, wide) == _document_key(
        definition, parameters, wide
    )
    empty_list = {"values": [], "extra": inputs["extra"]}
    assert cache.cache_key(definition, parameters, empty_list) == _document_key(
        definition, parameters, empty_list
    )


def test_a_parameter_without_a_faithful_json_form_has_no_key():
    assert cache.cache_key(summed.definition, {"options": object()}, {}) is None
