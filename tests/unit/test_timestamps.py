"""TIMESTAMPTZ conversions: any instant survives text -> microseconds -> text, and offsets and zones mean what they say."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from embedb.errors import DataError, InvalidArgumentError
from embedb.timestamps import interval_micros, to_micros, to_text

instants = st.datetimes(min_value=dt.datetime(1, 1, 2), max_value=dt.datetime(9999, 12, 30), timezones=st.just(dt.UTC))
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(lambda m: dt.timezone(dt.timedelta(minutes=m)))


@given(instants, offsets)
def test_an_instant_written_in_any_offset_comes_back_as_the_same_utc_instant(moment: dt.datetime, offset: dt.tzinfo) -> None:
    micros = to_micros(moment.astimezone(offset).isoformat())
    assert micros == to_micros(moment)
    text = to_text(micros)
    assert text.endswith("Z") and dt.datetime.fromisoformat(text) == moment


def test_text_without_an_offset_is_read_in_the_given_zone() -> None:
    assert to_text(to_micros("2025-01-01 00:00:00", "Asia/Shanghai")) == "2024-12-31T16:00:00Z"
    assert to_text(to_micros("2025-07-01T00:00:00", "America/New_York")) == "2025-07-01T04:00:00Z"  # daylight saving
    assert to_micros("1970-01-01T00:00:00Z") == 0
    with pytest.raises(InvalidArgumentError, match="unknown timezone"):
        to_micros("2025-01-01T00:00:00", "Atlantis/Capital")


@pytest.mark.parametrize("bad", ["2025-02-29T00:00:00Z", "2025-13-01", "2025-01-01T00:00:00+24:00", "", "tomorrow"])
def test_impossible_instants_are_refused(bad: str) -> None:
    with pytest.raises(DataError, match="ISO 8601"):
        to_micros(bad)


def test_intervals_are_fixed_durations() -> None:
    assert interval_micros("P1D") == 86_400_000_000
    assert interval_micros("P1W2DT3H4M5.5S") == ((9 * 24 + 3) * 3600 + 4 * 60 + 5.5) * 1_000_000
    assert interval_micros("-PT1S") == -1_000_000
    for bad in ("P1M", "P1Y", "1D", "P", "PT"):
        with pytest.raises(InvalidArgumentError, match="INTERVAL"):
            interval_micros(bad)
