"""Checking values against annotations (`fanflow.typecheck`)."""

from __future__ import annotations

import collections
import collections.abc as cabc
import inspect
import typing
from typing import Annotated, Any, Literal, Optional, TypeVar, Union

import pydantic
import pytest

from fanflow.typecheck import (
    describe,
    is_list_annotation,
    list_item_annotation,
    mismatch,
    strip_annotated,
)

T = TypeVar("T")
Number = TypeVar("Number", int, float)
UserId = typing.NewType("UserId", int)


class Animal:
    pass


class Dog(Animal):
    pass


class Config(pydantic.BaseModel):
    name: str
    size: int = 1


class OtherConfig(pydantic.BaseModel):
    name: str


@typing.runtime_checkable
class Closeable(typing.Protocol):
    def close(self) -> None: ...


class NotRuntime(typing.Protocol):
    def run(self) -> None: ...


def fits(value: Any, annotation: Any) -> bool:
    return mismatch(value, annotation) is None


# --- plain classes --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "annotation"),
    [
        (1, int),
        ("s", str),
        (b"b", bytes),
        (1.5, float),
        (None, None),
        (None, type(None)),
        (Dog(), Animal),
        (Dog(), Dog),
        ([1], list),
        ({"a": 1}, dict),
        (object(), object),
        (42, Any),
        (42, inspect.Parameter.empty),
    ],
)
def test_plain_classes_accept_instances(value: Any, annotation: Any) -> None:
    assert mismatch(value, annotation) is None


@pytest.mark.parametrize(
    ("value", "annotation", "message"),
    [
        ("1", int, "value: expected int, got str"),
        (1, str, "value: expected str, got int"),
        (Animal(), Dog, f"value: expected {__name__}.Dog, got {__name__}.Animal"),
        (1, None, "value: expected None, got int"),
        (None, int, "value: expected int, got NoneType"),
        ([1], tuple, "value: expected tuple, got list"),
        (1.0, int, "value: expected int, got float"),
    ],
)
def test_plain_classes_reject_other_values(value: Any, annotation: Any, message: str) -> None:
    assert mismatch(value, annotation) == message


def test_int_is_accepted_where_float_is_expected() -> None:
    assert fits(3, float)
    assert fits(3, complex)
    assert fits(2.5, complex)
    assert fits([1, 2.5, 3], list[float])
    assert not fits("3", float)


def test_bool_and_int() -> None:
    assert fits(True, bool)
    assert mismatch(1, bool) == "value: expected bool, got int"
    assert mismatch(0, bool) is not None
    assert fits(True, int)  # bool is a subclass of int
    assert mismatch(True, float) == "value: expected float, got bool"
    assert mismatch(False, complex) is not None


# --- unions and literals --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "annotation",
    [Optional[int], Union[int, None], int | None, Union[None, int]],  # noqa: UP007, UP045
    ids=["Optional", "Union", "pipe", "Union-none-first"],
)
def test_optional_forms(annotation: Any) -> None:
    assert fits(None, annotation)
    assert fits(3, annotation)
    problem = mismatch("x", annotation)
    assert problem is not None
    assert problem.startswith("value: expected ")
    assert problem.endswith("got str")
    assert "int" in problem


@pytest.mark.parametrize(
    "annotation",
    [Union[int, str], int | str],  # noqa: UP007
    ids=["Union", "pipe"],
)
def test_unions(annotation: Any) -> None:
    assert fits(1, annotation)
    assert fits("a", annotation)
    assert mismatch(1.5, annotation) is not None
    assert fits([1, "a"], list[annotation])
    assert mismatch([1, 2.5], list[annotation]) is not None


def test_union_of_generics_checks_deeply() -> None:
    annotation = list[int] | dict[str, int]
    assert fits([1], annotation)
    assert fits({"a": 1}, annotation)
    assert not fits(["a"], annotation)
    assert not fits({"a": "b"}, annotation)


def test_literal() -> None:
    annotation = Literal["a", "b", 3]
    assert fits("a", annotation)
    assert fits(3, annotation)
    assert mismatch("c", annotation) == "value: expected one of ['a', 'b', 3], got 'c'"
    assert not fits(3.0, annotation)


def test_literal_does_not_confuse_bool_and_int() -> None:
    assert not fits(True, Literal[1])
    assert not fits(1, Literal[True])
    assert fits(True, Literal[True])
    assert fits(None, Literal[None])


# --- containers -----------------------------------------------------------------------------------


def test_list_of_int_checks_every_item_and_names_the_failing_index() -> None:
    assert fits([], list[int])
    assert fits([1, 2, 3], list[int])
    assert mismatch([1, 2, 3, "four", 5], list[int]) == "[3]: expected int, got str"
    assert mismatch((1, 2), list[int]) == "value: expected list[int], got tuple"


def test_typing_list_and_abc_sequences() -> None:
    assert fits([1], typing.List[int])  # noqa: UP006
    assert mismatch([1, None], typing.List[int]) == "[1]: expected int, got NoneType"  # noqa: UP006
    assert fits((1, 2), cabc.Sequence[int])
    assert mismatch((1, "x"), cabc.Sequence[int]) == "[1]: expected int, got str"
    assert fits(range(3), cabc.Sequence[int])
    assert fits(collections.deque([1]), cabc.MutableSequence[int])


def test_strings_are_not_sequences_of_strings() -> None:
    assert mismatch("abc", list[str]) == "value: expected list[str], got str"
    assert mismatch("abc", cabc.Sequence[str]) is not None


def test_dict_of_str_to_int() -> None:
    annotation = dict[str, int]
    assert fits({}, annotation)
    assert fits({"a": 1, "b": 2}, annotation)
    assert mismatch({"a": 1, "b": "2"}, annotation) == "['b']: expected int, got str"
    assert mismatch({"a": 1, 2: 2}, annotation) == "[key 2]: expected str, got int"
    assert mismatch([("a", 1)], annotation) == "value: expected dict[str, int], got list"


def test_mapping_abcs_and_dict_subclasses() -> None:
    assert fits(collections.OrderedDict(a=1), dict[str, int])
    assert fits({"a": 1}, cabc.Mapping[str, int])
    assert not fits({"a": "x"}, cabc.Mapping[str, int])
    assert fits(collections.Counter("aab"), collections.Counter[str])


def test_tuples_with_fixed_items() -> None:
    annotation = tuple[int, str]
    assert fits((1, "a"), annotation)
    assert mismatch((1, 2), annotation) == "[1]: expected str, got int"
    assert mismatch((1,), annotation) == "value: expected a tuple of 2 items, got 1"
    assert mismatch((1, "a", None), annotation) == "value: expected a tuple of 2 items, got 3"
    assert mismatch([1, "a"], annotation) == "value: expected tuple[int, str], got list"


def test_variable_length_tuples() -> None:
    annotation = tuple[int, ...]
    assert fits((), annotation)
    assert fits((1, 2, 3), annotation)
    assert mismatch((1, 2, "x"), annotation) == "[2]: expected int, got str"


@pytest.mark.parametrize("annotation", [tuple[()], typing.Tuple[()]], ids=["tuple", "Tuple"])  # noqa: UP006
def test_empty_tuple_annotation_accepts_only_the_empty_tuple(annotation: Any) -> None:
    assert fits((), annotation)
    assert mismatch((1,), annotation) == "value: expected a tuple of 0 items, got 1"


def test_bare_tuple_annotations_accept_any_tuple() -> None:
    assert fits((1, "a"), tuple)
    assert fits((1, "a"), typing.Tuple)  # noqa: UP006
    assert not fits([1], typing.Tuple)  # noqa: UP006


def test_sets() -> None:
    assert fits({1, 2}, set[int])
    assert fits(set(), set[int])
    assert mismatch({1, "a"}, set[int]) is not None
    assert mismatch(frozenset({1}), set[int]) == "value: expected set[int], got frozenset"
    assert fits(frozenset({1}), frozenset[int])
    assert fits({1}, cabc.Set[int])
    assert fits(frozenset({1}), cabc.Set[int])


def test_nested_generics_report_the_full_path() -> None:
    annotation = dict[str, list[tuple[int, dict[str, float]]]]
    good = {"a": [(1, {"x": 1.0}), (2, {"y": 2})]}
    assert fits(good, annotation)
    bad = {"a": [(1, {"x": 1.0})], "b": [(2, {"z": 0.5}), (3, {"w": "nope"})]}
    assert mismatch(bad, annotation) == "['b'][1][1]['w']: expected float, got str"


def test_list_of_optional_and_optional_list() -> None:
    assert fits([1, None], list[int | None])
    assert mismatch([1, "x"], list[int | None]) is not None
    assert fits(None, list[int] | None)
    assert mismatch([None], list[int] | None) is not None


def test_any_and_object_items_skip_the_deep_check() -> None:
    assert fits([1, "a", None], list[Any])
    assert fits([1, "a", None], list[object])
    assert fits({"a": object()}, dict[str, Any])


def test_iterables_are_not_consumed_by_the_check() -> None:
    def numbers() -> cabc.Iterator[int]:
        yield from (1, 2, 3)

    generator = numbers()
    assert fits(generator, cabc.Iterable[int])
    assert list(generator) == [1, 2, 3]
    iterator = iter([1, 2])
    assert fits(iterator, cabc.Iterator[int])
    assert list(iterator) == [1, 2]


def test_iterable_collections_are_still_checked() -> None:
    assert fits([1, 2], cabc.Iterable[int])
    assert mismatch([1, "x"], cabc.Iterable[int]) == "[1]: expected int, got str"
    assert not fits(5, cabc.Iterable[int])


# --- typing constructs ----------------------------------------------------------------------------


def test_annotated_is_stripped() -> None:
    assert fits(1, Annotated[int, "meta"])
    assert mismatch("1", Annotated[int, "meta"]) == "value: expected int, got str"
    assert mismatch([1, "x"], Annotated[list[int], "meta"]) == "[1]: expected int, got str"
    assert fits([1], list[Annotated[int, "inner"]])
    assert strip_annotated(Annotated[Annotated[int, "a"], "b"]) is int


def test_typevars_are_accepted() -> None:
    assert fits("anything", T)
    assert fits(object(), Number)
    assert fits(["x"], list[T])  # type: ignore[valid-type]


def test_forward_references_are_accepted() -> None:
    assert fits(1, "SomeUndefinedName")
    assert fits(1, typing.ForwardRef("Other"))


def test_newtype_checks_its_supertype() -> None:
    assert fits(3, UserId)
    assert mismatch("3", UserId) == "value: expected int, got str"


def test_callables() -> None:
    assert fits(len, cabc.Callable)
    assert fits(lambda x: x, cabc.Callable[[int], int])
    assert fits(Dog, typing.Callable[..., Any])
    assert mismatch(3, cabc.Callable[[int], int]) == "value: expected a callable, got int"
    assert mismatch("f", typing.Callable) is not None


def test_type_of() -> None:
    assert fits(Dog, type[Animal])
    assert fits(Animal, type[Animal])
    assert mismatch(Animal, type[Dog]) is not None
    assert mismatch(Dog(), type[Animal]) is not None
    assert fits(int, type[Any])
    assert fits(int, type[object])
    assert fits(Dog, type[int | Animal])
    assert mismatch(str, type[int | Animal]) is not None
    assert fits(list, type[list[int]])  # a generic target cannot be checked: accepted


def test_protocols() -> None:
    class HasClose:
        def close(self) -> None:
            pass

    assert fits(HasClose(), Closeable)
    assert mismatch(1, Closeable) is not None
    assert mismatch(1, NotRuntime) is not None  # checked structurally, runtime_checkable or not


def test_pydantic_model_classes() -> None:
    assert fits(Config(name="a"), Config)
    assert mismatch(OtherConfig(name="a"), Config) == (
        f"value: expected {__name__}.Config, got {__name__}.OtherConfig"
    )
    assert mismatch({"name": "a"}, Config) == f"value: expected {__name__}.Config, got dict"
    assert fits([Config(name="a")], list[Config])
    assert mismatch([Config(name="a"), 1], list[Config]) == (
        f"[1]: expected {__name__}.Config, got int"
    )
    assert fits(Config, type[pydantic.BaseModel])


# --- describe -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("annotation", "text"),
    [
        (int, "int"),
        (type(None), "None"),
        (None, "None"),
        (Any, "Any"),
        (inspect.Parameter.empty, "Any"),
        (list[int], "list[int]"),
        (dict[str, list[int]], "dict[str, list[int]]"),
        (int | None, "int | None"),
        (Optional[int], "Optional[int]"),  # noqa: UP045
        (Literal["a", 1], "Literal['a', 1]"),
        (typing.List[int], "List[int]"),  # noqa: UP006
        (Annotated[int, "meta"], "int"),
        (tuple[int, ...], "tuple[int, ...]"),
        (Dog, f"{__name__}.Dog"),
        (Config, f"{__name__}.Config"),
        (cabc.Callable[[int], str], "collections.abc.Callable[[int], str]"),
    ],
)
def test_describe(annotation: Any, text: str) -> None:
    assert describe(annotation) == text


# --- list annotations -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "annotation",
    [
        list,
        list[int],
        typing.List[str],  # noqa: UP006
        typing.List,  # noqa: UP006
        cabc.Sequence[int],
        cabc.MutableSequence[int],
        typing.Sequence[int],
        Annotated[list[int], "meta"],
    ],
)
def test_is_list_annotation_true(annotation: Any) -> None:
    assert is_list_annotation(annotation)


@pytest.mark.parametrize(
    "annotation",
    [
        int,
        str,
        tuple[int, ...],
        set[int],
        dict[str, int],
        list[int] | None,
        Any,
        inspect.Parameter.empty,
        cabc.Iterable[int],
    ],
)
def test_is_list_annotation_false(annotation: Any) -> None:
    assert not is_list_annotation(annotation)


def test_list_item_annotation() -> None:
    assert list_item_annotation(list[int]) is int
    assert list_item_annotation(Annotated[list[str], "x"]) is str
    assert list_item_annotation(list) is Any


class Point(typing.TypedDict):
    x: int
    y: float


class Labelled(typing.TypedDict, total=False):
    label: str
    point: Point


class Runner(typing.Protocol):
    name: str

    def run(self) -> None: ...


def test_typed_dicts_are_checked_by_keys_and_value_types() -> None:
    assert fits({"x": 1, "y": 2.5}, Point)
    assert fits({"x": 1, "y": 2}, Point)  # int where float is expected
    assert "Point is missing key(s) ['y']" in (mismatch({"x": 1}, Point) or "")
    assert mismatch({"x": "1", "y": 2.0}, Point) == "['x']: expected int, got str"
    assert mismatch({"x": 1, "y": 2.0, "z": 0}, Point) is not None
    assert mismatch([1, 2], Point) is not None
    assert fits({}, Labelled)  # total=False: every key optional
    assert fits({"point": {"x": 1, "y": 1.0}}, Labelled)
    assert mismatch({"point": {"x": 1, "y": "no"}}, Labelled) == (
        "['point']['y']: expected float, got str"
    )
    assert mismatch([{"x": 1, "y": 1.0}, {"x": 1}], list[Point]) is not None


def test_non_runtime_protocols_are_checked_structurally() -> None:
    class Good:
        name = "a"

        def run(self) -> None:
            pass

    class NoName:
        def run(self) -> None:
            pass

    class NotCallable:
        name = "a"
        run = 3

    assert fits(Good(), Runner)
    assert mismatch(NoName(), Runner) is not None
    assert mismatch(NotCallable(), Runner) is not None
    assert fits(Good(), NotRuntime)


def test_a_step_output_that_breaks_its_typed_dict_fails_the_step() -> None:
    from fanflow import pipeline, step
    from fanflow.exceptions import RunFailedError

    @step
    def make() -> Point:
        return {"x": 1}  # type: ignore[typeddict-item]

    @pipeline(enable_cache=False)
    def typed():
        make()

    with pytest.raises(RunFailedError) as failure:
        typed()
    assert "missing key(s) ['y']" in str(failure.value)
