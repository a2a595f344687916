"""Ids: random UUID4s for what users name by prefix, time-ordered UUID7s for bulk rows."""

from __future__ import annotations

import time
import uuid

from fanflow.ids import new_id, new_ordered_id, series_id, series_index, series_prefix


def test_ordered_ids_are_uuid7s_that_sort_by_the_millisecond_they_were_made():
    earlier = new_ordered_id()
    time.sleep(0.003)
    later = new_ordered_id()
    assert earlier < later
    for text in (earlier, later):
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert len(text) == 32 and text == text.lower()
    stamp_ms = int(later[:12], 16)
    assert abs(stamp_ms - time.time() * 1000) < 60_000


def test_ordered_ids_made_in_one_millisecond_still_differ():
    made = [new_ordered_id() for _ in range(20_000)]
    assert len(set(made)) == len(made)


def test_plain_ids_stay_random_uuid4s_so_short_prefixes_tell_them_apart():
    made = [new_id() for _ in range(1000)]
    assert all(uuid.UUID(text).version == 4 for text in made)
    assert len({text[:8] for text in made}) > 990


def test_a_series_is_its_prefix_and_each_id_gives_back_its_index():
    prefix = series_prefix()
    ids = [series_id(prefix, index) for index in (0, 1, 255, 4_000_000)]
    assert ids == sorted(ids) and all(uuid.UUID(av_id).version == 7 for av_id in ids)
    assert [series_index(prefix, av_id) for av_id in ids] == [0, 1, 255, 4_000_000]
    assert series_index(prefix, "f" * 32) is None  # another series (its version digit is 7)
    assert series_index(prefix, "short") is None
