"""Run tables give back the memory of removed entries, in place and without changing them."""

from __future__ import annotations

import sys

from fanflow.execution.tables import compact


def test_a_mostly_emptied_dict_is_rebuilt_smaller_in_place():
    table = {f"map:m:{index}": index for index in range(50_000)}
    alias = table
    full = sys.getsizeof(table)
    for index in range(49_990):
        del table[f"map:m:{index}"]
    assert sys.getsizeof(table) == full  # Python never shrinks it by itself
    compact(table)
    assert alias is table
    assert sys.getsizeof(table) < full // 100
    assert table == {f"map:m:{index}": index for index in range(49_990, 50_000)}


def test_a_mostly_emptied_set_is_rebuilt_smaller_in_place():
    members = set(range(100_000))
    full = sys.getsizeof(members)
    members.difference_update(range(99_000))
    compact(members)
    assert sys.getsizeof(members) < full // 20
    assert members == set(range(99_000, 100_000))


def test_full_and_small_tables_are_left_alone():
    full = {index: index for index in range(20_000)}
    small: dict[int, int] = {index: index for index in range(100)}
    for index in range(90):
        del small[index]
    before = (id(full), sys.getsizeof(full), sys.getsizeof(small))
    compact(full, small)
    assert (id(full), sys.getsizeof(full), sys.getsizeof(small)) == before
