"""Reading a step function's interface: its inputs and its named outputs.

Output rules follow ZenML: a return annotation of `None` (or no annotation and no `return value`
in the body) means no outputs; one value is named `output`, or the name given with
`Annotated[T, "name"]`; a `Tuple[...]` annotation gives one output per element *when the function
returns a literal tuple* (`return a, b`), named `output_0`, `output_1`, ... unless annotated;
otherwise a tuple is one output.

Invariant: every problem is reported at decoration time as `StepInterfaceError` naming the step.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import textwrap
import typing
from collections.abc import Callable, Mapping
from typing import Any

from fanflow.artifacts.artifact_config import ArtifactConfig
from fanflow.exceptions import StepInterfaceError
from fanflow.spec import MISSING, TUPLE_RULE, InputSignature, OutputSignature

SINGLE_OUTPUT_NAME = "output"


def _resolved_hints(func: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(func, include_extras=True)
    except Exception:  # unresolvable forward references: fall back to the raw annotations
        return dict(getattr(func, "__annotations__", {}))


def _function_ast(func: Callable[..., Any]) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    try:
        source = textwrap.dedent(inspect.getsource(func))
        tree = ast.parse(source)
    except (OSError, TypeError, SyntaxError, IndentationError):
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == func.__name__:
            return node
    return None


def _returns(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.Return]:
    found: list[ast.Return] = []
    stack: list[ast.AST] = list(node.body)
    while stack:
        current = stack.pop()
        if isinstance(current, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(current, ast.Return):
            found.append(current)
        stack.extend(ast.iter_child_nodes(current))
    return found


def _has_value_return(func: Callable[..., Any]) -> bool:
    node = _function_ast(func)
    if node is None:
        return True
    return any(
        r.value is not None and not (isinstance(r.value, ast.Constant) and r.value.value is None)
        for r in _returns(node)
    )


def _has_tuple_return(func: Callable[..., Any]) -> bool:
    node = _function_ast(func)
    if node is None:
        return True
    return any(isinstance(r.value, ast.Tuple) and len(r.value.elts) > 1 for r in _returns(node))


def _split_annotated(
    annotation: Any, step_name: str
) -> tuple[Any, str | None, ArtifactConfig | None]:
    """The base type, the output's artifact name and its `ArtifactConfig`, if annotated."""
    if typing.get_origin(annotation) is not typing.Annotated:
        return annotation, None, None
    base, *extras = typing.get_args(annotation)
    names = [extra for extra in extras if isinstance(extra, str)]
    configs = [extra for extra in extras if isinstance(extra, ArtifactConfig)]
    if len(configs) > 1:
        raise StepInterfaceError(
            f"Step {step_name!r}: an output annotation may hold one ArtifactConfig, "
            f"got {len(configs)}."
        )
    config = configs[0] if configs else None
    if config is not None and config.name is not None:
        names.append(config.name)
    if len(names) > 1:
        raise StepInterfaceError(
            f"Step {step_name!r}: an output annotation may give one name, got {names}."
        )
    if names and not names[0]:
        raise StepInterfaceError(f"Step {step_name!r}: output names cannot be empty strings.")
    return base, (names[0] if names else None), config


def check_annotations(func: Callable[..., Any], step_name: str) -> None:
    """ZenML's `ZENML_ENFORCE_TYPE_ANNOTATIONS`: every input and the return value of a step
    must be annotated (`-> None` counts); raised when the step is defined, as in ZenML."""
    hints = _resolved_hints(func)
    hint = "(FANFLOW_ENFORCE_TYPE_ANNOTATIONS / ZENML_ENFORCE_TYPE_ANNOTATIONS is set)"
    for parameter in inspect.signature(func).parameters.values():
        if parameter.name not in hints:
            raise StepInterfaceError(
                f"Missing type annotation for input {parameter.name!r} of step function "
                f"{step_name!r} {hint}."
            )
    if "return" not in hints:
        raise StepInterfaceError(
            f"Missing return type annotation for step function {step_name!r} {hint}; annotate "
            "it, with -> None when it returns nothing."
        )


def parse_inputs(func: Callable[..., Any], step_name: str) -> tuple[InputSignature, ...]:
    hints = _resolved_hints(func)
    inputs = []
    for parameter in inspect.signature(func).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise StepInterfaceError(
                f"Step {step_name!r}: variable arguments (*{parameter.name} / "
                f"**{parameter.name}) are not allowed; list each input explicitly."
            )
        if parameter.kind is parameter.POSITIONAL_ONLY:
            raise StepInterfaceError(
                f"Step {step_name!r}: positional-only input {parameter.name!r} is not allowed."
            )
        default = MISSING if parameter.default is parameter.empty else parameter.default
        inputs.append(InputSignature(parameter.name, hints.get(parameter.name, Any), default))
    return tuple(inputs)


def parse_outputs(
    func: Callable[..., Any], step_name: str
) -> tuple[tuple[OutputSignature, ...], bool]:
    """The declared outputs and whether the function returns them as a tuple."""
    hints = _resolved_hints(func)
    if "return" not in hints:
        if _has_value_return(func):
            return (OutputSignature(SINGLE_OUTPUT_NAME, Any),), False
        return (), False
    annotation = hints["return"]
    if annotation is None or annotation is type(None):
        return (), False
    base, name, config = _split_annotated(annotation, step_name)
    origin = typing.get_origin(base)
    args = typing.get_args(base)
    is_tuple = origin is tuple and args and args != ((),)
    if is_tuple and name is None and _has_tuple_return(func):
        if len(args) == 2 and args[1] is Ellipsis:
            raise StepInterfaceError(
                f"Step {step_name!r}: variable-length output annotations (Tuple[T, ...]) are not "
                "allowed; annotate each output."
            )
        outputs = []
        for index, element in enumerate(args):
            element_type, element_name, element_config = _split_annotated(element, step_name)
            outputs.append(
                OutputSignature(
                    element_name or f"output_{index}",
                    element_type,
                    element_name,
                    config=element_config,
                )
            )
        names = [output.name for output in outputs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise StepInterfaceError(f"Step {step_name!r}: duplicate output name(s) {duplicates}.")
        return tuple(outputs), True
    if is_tuple and name is None and _names_tuple_elements(args):
        _warn_single_tuple_output(func, step_name)
    return (OutputSignature(name or SINGLE_OUTPUT_NAME, base, name, config=config),), False


def _names_tuple_elements(args: tuple[Any, ...]) -> bool:
    return any(_split_annotated(element, "")[1] for element in args if element is not Ellipsis)


def _warn_single_tuple_output(func: Callable[..., Any], step_name: str) -> None:
    """Named tuple elements but no literal `return a, b`: almost surely a mistake, so say so
    now rather than when the pipeline first unpacks the output."""
    import warnings

    code = getattr(func, "__code__", None)
    warnings.warn_explicit(
        f"Step {step_name!r} names the elements of its Tuple[...] return annotation, but no "
        f"`return` in its body is a literal tuple, so it has ONE output ('output'). "
        f"{TUPLE_RULE} Write `return first, second` to get several outputs.",
        UserWarning,
        filename=code.co_filename if code else "<unknown>",
        lineno=code.co_firstlineno if code else 0,
        module=getattr(func, "__module__", None),
    )


def attach_materializers(
    outputs: tuple[OutputSignature, ...],
    materializers: Any,
    step_name: str,
) -> tuple[OutputSignature, ...]:
    """Apply `output_materializers=` (one class for all outputs, or a mapping by output name)."""
    if not materializers:
        return outputs
    import pkgutil

    def resolve(value: Any) -> type:
        return pkgutil.resolve_name(value) if isinstance(value, str) else value  # type: ignore[no-any-return]

    if isinstance(materializers, Mapping):
        known = {output.name for output in outputs}
        unknown = sorted(set(materializers) - known)
        if unknown:
            raise StepInterfaceError(
                f"Step {step_name!r}: output_materializers names unknown output(s) {unknown}; "
                f"the outputs are {sorted(known)}."
            )
        return tuple(
            dataclasses.replace(
                o,
                materializer=(
                    resolve(materializers[o.name]) if o.name in materializers else o.materializer
                ),
            )
            for o in outputs
        )
    chosen = resolve(materializers)
    return tuple(dataclasses.replace(o, materializer=chosen) for o in outputs)
