"""Exact JSON round trips of fanflow's codec (`fanflow.artifacts.json_codec`)."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import json
import math
import pathlib
import uuid
import zoneinfo
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fanflow.artifacts import json_codec
from fanflow.artifacts.json_codec import (
    TAG,
    NotJsonSafe,
    NotRecordable,
    dumps,
    is_json_safe,
    loads,
    to_plain_json,
)

# --- importable dataclasses (module level, so `module:qualname` finds them again) -----------------


@dataclasses.dataclass
class Point:
    x: int
    y: float


@dataclasses.dataclass(frozen=True)
class FrozenPair:
    left: tuple[int, ...]
    right: frozenset[str]


@dataclasses.dataclass(slots=True)
class Slotted:
    name: str
    values: list[int]


@dataclasses.dataclass
class Nested:
    point: Point
    pair: FrozenPair
    by_id: dict[int, Point]
    tags: set[str]
    blob: bytes
    maybe: Point | None = None


INIT_CALLS: list[str] = []


@dataclasses.dataclass
class CountsInit:
    value: int
    derived: int = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        INIT_CALLS.append("init")
        self.derived = self.value * 2


@dataclasses.dataclass
class WithCachedProperty:
    value: int

    @functools.cached_property
    def square(self) -> int:
        return self.value**2


@dataclasses.dataclass
class Outer:
    @dataclasses.dataclass
    class Inner:
        label: str

    inner: Outer.Inner


class Color(enum.IntEnum):
    RED = 1


# --- helpers --------------------------------------------------------------------------------------

_REPR_EXACT = (
    float,
    complex,
    decimal.Decimal,
    dt.datetime,
    dt.date,
    dt.time,
    dt.timedelta,
    uuid.UUID,
    pathlib.PurePath,
)


def assert_same(expected: Any, actual: Any, where: str = "value") -> None:
    """Equal values of the very same types, all the way down (nan equals nan, -0.0 is not 0.0)."""
    assert type(actual) is type(expected), f"{where}: {type(actual)} is not {type(expected)}"
    if isinstance(expected, _REPR_EXACT):
        # repr tells -0.0 from 0.0, nan from nan-less, the tzinfo and fold of datetimes, and
        # Decimal('1.0') from Decimal('1').
        assert repr(actual) == repr(expected), where
        if isinstance(expected, (dt.datetime, dt.time)):
            assert actual.fold == expected.fold, where
        return
    if isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected), where
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            assert_same(left, right, f"{where}[{index}]")
        return
    if isinstance(expected, dict):
        assert list(actual) == list(expected), f"{where}: keys differ"
        actual_keys = {key: key for key in actual}
        for key, item in expected.items():
            assert_same(key, actual_keys[key], f"{where}[key {key!r}]")
            assert_same(item, actual[key], f"{where}[{key!r}]")
        return
    if isinstance(expected, (set, frozenset)):
        assert actual == expected, where
        members = {member: member for member in actual}
        for member in expected:
            assert_same(member, members[member], f"{where}{{{member!r}}}")
        return
    if dataclasses.is_dataclass(expected):
        for field in dataclasses.fields(expected):
            assert_same(
                getattr(expected, field.name), getattr(actual, field.name), f"{where}.{field.name}"
            )
        return
    assert actual == expected, where


def roundtrip(value: Any) -> Any:
    text = dumps(value)
    json.loads(text)  # always valid JSON text
    text.encode("utf-8")  # always writable as UTF-8
    return loads(text)


# --- exact round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        (1, 2, 3),
        (),
        ((1, (2, (3,))),),
        [(1, 2), [3, (4, 5)]],
        {"a": (1, 2), "b": [(3,), ()]},
        {"outer": {"inner": ((1, "x"), None)}},
        (1, [2, (3, [4])]),
    ],
    ids=["flat", "empty", "deep", "in-list", "in-dict", "in-nested-dict", "alternating"],
)
def test_tuples_stay_tuples(value: Any) -> None:
    assert_same(value, roundtrip(value))


@pytest.mark.parametrize(
    "value",
    [
        {1: "one", 2: "two"},
        {None: 1, "x": 2},
        {(1, 2): "pair", (3, (4, 5)): "nested"},
        {1: {2: {3: "deep"}}},
        {True: "t", 0: "zero", 1.5: "float", "1": "string one"},
        {frozenset({1, 2}): "frozen key"},
        {dt.date(2020, 1, 2): "date key", decimal.Decimal("1.10"): "decimal key"},
    ],
    ids=["int", "none", "tuple", "nested-int", "mixed", "frozenset", "date-decimal"],
)
def test_non_string_dict_keys_round_trip(value: Any) -> None:
    result = roundtrip(value)
    assert_same(value, result)


def test_int_and_str_keys_that_look_alike_stay_distinct() -> None:
    value = {1: "int", "1": "str"}
    result = roundtrip(value)
    assert result == value
    assert len(result) == 2


def test_dict_key_order_is_kept() -> None:
    value = {"z": 1, "a": 2, "m": 3}
    assert list(roundtrip(value)) == ["z", "a", "m"]
    mixed = {3: "c", 1: "a", 2: "b"}
    assert list(roundtrip(mixed)) == [3, 1, 2]


@pytest.mark.parametrize(
    "value",
    [
        {1, 2, 3},
        set(),
        frozenset({"a", "b"}),
        frozenset(),
        {(1, 2), (3, 4)},
        {frozenset({1}), frozenset({2, 3})},
        [{1}, frozenset({1})],
        {"key": {None, 1, "x"}},
    ],
)
def test_sets_and_frozensets_round_trip(value: Any) -> None:
    assert_same(value, roundtrip(value))


def test_set_encoding_is_independent_of_insertion_order() -> None:
    first = set()
    second = set()
    items = [f"item-{index}" for index in range(50)] + list(range(50))
    for item in items:
        first.add(item)
    for item in reversed(items):
        second.add(item)
    assert dumps(first) == dumps(second)


@pytest.mark.parametrize(
    "value",
    [
        [b"", b"\x00\xff", b"abc"],
        {"payload": b"\x80\x81"},
        (b"x", {b"y"}),
        {b"key": b"value"},
    ],
)
def test_bytes_inside_containers_round_trip(value: Any) -> None:
    assert_same(value, roundtrip(value))


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -0.0,
        1.5,
        float("inf"),
        float("-inf"),
        float("nan"),
        5e-324,
        1.7976931348623157e308,
        0.1 + 0.2,
    ],
)
def test_floats_round_trip_bit_exactly(value: float) -> None:
    result = roundtrip(value)
    assert type(result) is float
    if math.isnan(value):
        assert math.isnan(result)
    else:
        assert result == value
        assert math.copysign(1.0, result) == math.copysign(1.0, value)


def test_floats_inside_containers_keep_sign_and_nan() -> None:
    value = [-0.0, (float("nan"), float("-inf")), {"z": -0.0}]
    assert_same(value, roundtrip(value))


@pytest.mark.parametrize(
    "value",
    [
        2**63,
        -(2**63) - 1,
        10**100,
        -(10**300),
        2**4000,
        7**20000,  # > 4300 digits: beyond Python's int/str conversion limit
        -(7**20000),
    ],
    ids=["2^63", "-2^63-1", "googol", "-1e300", "2^4000", "huge", "-huge"],
)
def test_big_ints_round_trip(value: int) -> None:
    result = roundtrip(value)
    assert type(result) is int
    assert result == value
    assert roundtrip([value, {"k": value}]) == [value, {"k": value}]


def test_bool_and_int_are_distinguished() -> None:
    value = [True, 1, False, 0, (True, 1), {"flag": True, "count": 1}]
    result = roundtrip(value)
    assert_same(value, result)
    assert type(result[0]) is bool
    assert type(result[1]) is int


def test_bool_dict_keys_stay_bool() -> None:
    value = {True: "yes", None: "none"}
    result = roundtrip(value)
    assert [type(key) for key in result] == [bool, type(None)]


@pytest.mark.parametrize(
    "value",
    [
        "héllo wörld",
        "日本語テキスト",
        "emoji 🎉🚀",
        "\x00 control \x1f",
        'quotes " and \\ backslash',
        "\u2028 line separator",
        "",
    ],
)
def test_unicode_strings_round_trip(value: str) -> None:
    assert roundtrip(value) == value
    assert roundtrip({value: [value]}) == {value: [value]}


def test_non_ascii_text_is_written_unescaped() -> None:
    assert "日本" in dumps("日本")


def test_strings_with_lone_surrogates_round_trip() -> None:
    value = {"bad\ud800": ["\udfff", "ok"]}
    text = dumps(value)
    text.encode("utf-8")
    assert loads(text) == value


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 2, 29, 13, 45, 1, 123456),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
        dt.datetime(2024, 1, 1, 8, 30, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
        dt.datetime(2024, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1), "CET")),
        dt.datetime(2021, 11, 7, 1, 30, fold=1),
        dt.date(1999, 12, 31),
        dt.time(23, 59, 59, 999999),
        dt.time(1, 2, tzinfo=dt.timezone(dt.timedelta(hours=3))),
        dt.timedelta(days=-3, seconds=5, microseconds=7),
        dt.timedelta(0),
        decimal.Decimal("1.10"),
        decimal.Decimal("-0"),
        decimal.Decimal("1E+3"),
        decimal.Decimal("Infinity"),
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        pathlib.Path("/tmp/some dir/file.txt"),
        pathlib.PurePosixPath("relative/x"),
        pathlib.PureWindowsPath(r"C:\Users\x"),
        complex(1.5, -0.0),
    ],
    ids=lambda value: type(value).__name__,
)
def test_stdlib_values_round_trip_exactly(value: Any) -> None:
    assert_same(value, roundtrip(value))
    assert_same([value, (value,)], roundtrip([value, (value,)]))


def test_zoneinfo_datetimes_keep_their_zone() -> None:
    try:
        zone = zoneinfo.ZoneInfo("Europe/Paris")
    except zoneinfo.ZoneInfoNotFoundError:  # pragma: no cover - no tz database here
        pytest.skip("no IANA time zone database")
    value = dt.datetime(2024, 10, 27, 2, 30, tzinfo=zone, fold=1)
    result = roundtrip(value)
    assert result == value
    assert result.tzinfo is zone
    assert result.fold == 1
    assert result.utcoffset() == value.utcoffset()


def test_datetimes_with_unknown_tzinfo_classes_are_not_json_safe() -> None:
    class Custom(dt.tzinfo):
        def utcoffset(self, when: Any) -> dt.timedelta:
            return dt.timedelta(hours=2)

        def dst(self, when: Any) -> dt.timedelta:
            return dt.timedelta(0)

        def tzname(self, when: Any) -> str:
            return "CUSTOM"

    value = dt.datetime(2024, 1, 1, tzinfo=Custom())
    assert not is_json_safe(value)
    with pytest.raises(NotJsonSafe, match="tzinfo"):
        dumps(value)


# --- dataclasses ----------------------------------------------------------------------------------


def test_importable_dataclass_round_trips() -> None:
    value = Point(3, -0.5)
    result = roundtrip(value)
    assert type(result) is Point
    assert result == value


def test_frozen_dataclass_round_trips() -> None:
    value = FrozenPair((1, 2, 3), frozenset({"a", "b"}))
    result = roundtrip(value)
    assert_same(value, result)
    assert hash(result) == hash(value)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.left = ()  # type: ignore[misc]


def test_slotted_dataclass_round_trips() -> None:
    value = Slotted("s", [1, 2])
    assert_same(value, roundtrip(value))


def test_nested_dataclasses_round_trip() -> None:
    value = Nested(
        point=Point(1, 2.0),
        pair=FrozenPair((), frozenset()),
        by_id={7: Point(7, 7.5), -1: Point(0, -0.0)},
        tags={"x", "y"},
        blob=b"\x00\x01",
        maybe=Point(9, float("inf")),
    )
    result = roundtrip(value)
    assert_same(value, result)
    assert type(result.by_id[7]) is Point


def test_dataclass_nested_inside_a_class_round_trips() -> None:
    value = Outer(Outer.Inner("in"))
    result = roundtrip(value)
    assert type(result.inner) is Outer.Inner
    assert result == value


def test_dataclasses_are_rebuilt_without_calling_init() -> None:
    value = CountsInit(4)
    calls_before = len(INIT_CALLS)
    result = roundtrip(value)
    assert len(INIT_CALLS) == calls_before
    assert result.value == 4
    assert result.derived == 8


def test_dataclasses_inside_containers_round_trip() -> None:
    value = {"points": [Point(1, 1.0), Point(2, 2.0)], (1, 2): (Point(3, 3.0),)}
    assert_same(value, roundtrip(value))


def test_dataclass_with_extra_instance_attributes_is_not_json_safe() -> None:
    value = Point(1, 2.0)
    value.note = "not a field"  # type: ignore[attr-defined]
    assert not is_json_safe(value)
    with pytest.raises(NotJsonSafe, match="note"):
        dumps(value)


def test_dataclass_with_a_cached_property_value_stays_json_safe() -> None:
    value = WithCachedProperty(3)
    assert value.square == 9
    result = roundtrip(value)
    assert result == value
    assert result.square == 9


def test_dataclass_defined_in_a_function_is_not_json_safe() -> None:
    @dataclasses.dataclass
    class Local:
        x: int

    assert not is_json_safe(Local(1))
    assert not is_json_safe([Local(1)])
    with pytest.raises(NotJsonSafe, match="Local"):
        dumps({"a": Local(1)})


# --- the tag key ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {TAG: "tuple", "items": [1, 2]},
        {TAG: 1},
        {"outer": {TAG: "dict", "items": []}},
        [{TAG: "bytes", "b64": "AAAA"}],
        {TAG: {TAG: "set"}},
    ],
)
def test_dicts_holding_the_tag_key_round_trip(value: Any) -> None:
    result = roundtrip(value)
    assert_same(value, result)


def test_unknown_tag_in_data_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown tag"):
        loads(json.dumps({TAG: "no-such-kind"}))


# --- what is not JSON-safe ------------------------------------------------------------------------


class _Plain:
    pass


def _self_referencing_list() -> list[Any]:
    value: list[Any] = []
    value.append(value)
    return value


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (object(), "object"),
        (_Plain(), "_Plain"),
        ([1, _Plain()], "_Plain"),
        ({"k": {1: _Plain()}}, "_Plain"),
        (collections.OrderedDict(a=1), "OrderedDict"),
        (collections.defaultdict(list), "defaultdict"),
        (Color.RED, "Color"),
        (bytearray(b"x"), "bytearray"),
        (lambda: 1, "function"),
        (range(3), "range"),
        ({1.5: Ellipsis}, "ellipsis"),
    ],
    ids=lambda value: type(value).__name__ if not isinstance(value, str) else value,
)
def test_values_outside_the_codec_raise_not_json_safe(value: Any, type_name: str) -> None:
    assert not is_json_safe(value)
    with pytest.raises(NotJsonSafe, match=type_name):
        dumps(value)


def test_numpy_scalars_are_not_json_safe_even_when_they_subclass_float() -> None:
    np = pytest.importorskip("numpy")
    value = np.float64(1.5)
    assert isinstance(value, float)
    assert not is_json_safe(value)
    with pytest.raises(NotJsonSafe):
        dumps([value])


def test_self_referencing_values_raise_not_json_safe() -> None:
    value = _self_referencing_list()
    assert not is_json_safe(value)
    with pytest.raises(NotJsonSafe, match="nested too deeply"):
        dumps(value)


def test_not_json_safe_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        dumps(object())


# --- to_plain_json --------------------------------------------------------------------------------


def test_to_plain_json_converts_known_values() -> None:
    value = {
        "tuple": (1, 2),
        3: "int key",
        "enum": Color.RED,
        "date": dt.date(2020, 1, 2),
        "uuid": uuid.UUID(int=1),
        "decimal": decimal.Decimal("1.5"),
        "path": pathlib.PurePosixPath("a/b"),
        "point": Point(1, 2.0),
    }
    assert to_plain_json(value, strict=True) == {
        "tuple": [1, 2],
        "3": "int key",
        "enum": 1,
        "date": "2020-01-02",
        "uuid": "00000000-0000-0000-0000-000000000001",
        "decimal": "1.5",
        "path": "a/b",
        "point": {"x": 1, "y": 2.0},
    }


def test_to_plain_json_strict_raises_not_recordable_for_arbitrary_objects() -> None:
    with pytest.raises(NotRecordable, match="_Plain"):
        to_plain_json(_Plain(), strict=True)
    with pytest.raises(NotRecordable):
        to_plain_json({"nested": [_Plain()]}, strict=True)


def test_to_plain_json_lenient_falls_back_to_repr() -> None:
    value = _Plain()
    assert to_plain_json({"x": value}) == {"x": repr(value)}


def test_to_plain_json_orders_sets_independently_of_hashing() -> None:
    items = [f"name-{index}" for index in range(40)]
    forward = set(items)
    backward = set(reversed(items))
    result = to_plain_json(forward)
    assert result == to_plain_json(backward)
    assert result == sorted(items)


def test_to_plain_json_handles_pydantic_models_and_rejects_model_classes() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Model(pydantic.BaseModel):
        a: int
        when: dt.date

    assert to_plain_json(Model(a=1, when=dt.date(2020, 1, 1)), strict=True) == {
        "a": 1,
        "when": "2020-01-01",
    }
    with pytest.raises(NotRecordable):
        to_plain_json(Model, strict=True)
    assert to_plain_json(Model) == repr(Model)


def test_to_plain_json_model_that_pydantic_cannot_dump() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Holder(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        thing: _Plain

    value = Holder(thing=_Plain())
    with pytest.raises(NotRecordable, match="Holder"):
        to_plain_json(value, strict=True)
    assert to_plain_json(value) == repr(value)


def test_to_plain_json_converts_numpy_scalars() -> None:
    np = pytest.importorskip("numpy")
    result = to_plain_json([np.int64(3), np.float32(0.5), np.bool_(True)], strict=True)
    assert result == [3, 0.5, True]
    assert [type(item) for item in result] == [int, float, bool]


# --- property test --------------------------------------------------------------------------------

_hashable_leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=2**60, max_value=2**200)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.dates()
    | st.decimals(allow_nan=False, places=3)
    | st.uuids()
)
_leaves = (
    _hashable_leaves
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(st.characters(codec=None, exclude_categories=()), max_size=8)
    | st.datetimes(timezones=st.none() | st.just(dt.timezone.utc))
    | st.timedeltas()
)
_hashables = st.recursive(
    _hashable_leaves,
    lambda children: st.tuples(children, children) | st.frozensets(children, max_size=3),
    max_leaves=6,
)


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return (
        st.lists(children, max_size=4)
        | st.lists(children, max_size=4).map(tuple)
        | st.dictionaries(st.text(max_size=6), children, max_size=4)
        | st.dictionaries(_hashables, children, max_size=4)
        | st.sets(_hashables, max_size=4)
        | st.frozensets(_hashables, max_size=4)
    )


nested_values = st.recursive(_leaves, _containers, max_leaves=25)


@settings(max_examples=300, deadline=None)
@given(nested_values)
def test_property_decode_encode_is_identity_with_equal_types(value: Any) -> None:
    assert is_json_safe(value)
    result = roundtrip(value)
    assert_same(value, result)


@settings(max_examples=100, deadline=None)
@given(nested_values)
def test_property_encoding_is_deterministic(value: Any) -> None:
    assert dumps(value) == dumps(roundtrip(value))


def test_module_invariant_only_exact_types_are_accepted() -> None:
    class MyDict(dict):
        pass

    class MyStr(str):
        pass

    assert not is_json_safe(MyDict(a=1))
    assert not is_json_safe(MyStr("x"))
    assert json_codec.is_json_safe({"a": "x"})
