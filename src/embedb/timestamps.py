"""TIMESTAMPTZ values: ISO 8601 text at the edges, UTC microseconds inside.

Milvus takes a TIMESTAMPTZ as ISO 8601 text (``2025-05-01T23:59:59+08:00``,
a space instead of the ``T`` too); text without an offset is local time of
the collection's ``timezone`` property (UTC when unset). EmbeDB stores the
instant as int64 microseconds since 1970-01-01 UTC, so that comparisons,
ordering and indexes are integer ones, and returns it as UTC text with a
``Z`` (``2024-12-31T16:00:00Z``; fractions of a second only when there are
some). Filters name instants as ``ISO '...'`` and durations as
``INTERVAL 'P1DT2H'`` (ISO 8601 durations in weeks, days, hours, minutes and
seconds: years and months have no fixed length and are refused).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from embedb.errors import DataError, InvalidArgumentError

UTC_NAME = "UTC"
TIMEZONE = "timezone"  # the collection property naming the zone of text without an offset
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MICROSECOND = dt.timedelta(microseconds=1)
_DURATION = re.compile(
    r"\A(?P<sign>-)?P(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d{1,6})?)S)?)?\Z"
)


@lru_cache(maxsize=64)
def zone(name: str) -> dt.tzinfo:
    """The time zone an IANA name (``Asia/Shanghai``, ``UTC``) or a fixed offset (``+08:00``) names."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidArgumentError(
            f"timezone must be an IANA name such as 'Asia/Shanghai' or 'UTC', got {name!r}", argument="timezone"
        )
    text = name.strip()
    if text.upper() in ("UTC", "Z"):
        return dt.UTC
    offset = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", text)
    if offset:
        minutes = int(offset.group(2)) * 60 + int(offset.group(3))
        if minutes >= 24 * 60:
            raise InvalidArgumentError(f"timezone offset {text!r} is out of range", argument="timezone")
        return dt.timezone(dt.timedelta(minutes=minutes if offset.group(1) == "+" else -minutes))
    try:
        return zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidArgumentError(
            f"unknown timezone {name!r}; use an IANA name such as 'Asia/Shanghai' or 'UTC'", argument="timezone"
        ) from None


def collection_timezone(properties: Mapping[str, Any]) -> str:
    """The zone TIMESTAMPTZ text without an offset is read in: the collection's ``timezone`` property, else UTC."""
    value = properties.get(TIMEZONE)
    return value if isinstance(value, str) and value else UTC_NAME


def to_micros(value: object, timezone: str = UTC_NAME, *, what: str = "value") -> int:
    """An instant (ISO 8601 text or a ``datetime``) as microseconds since the epoch, UTC.

    Text or a ``datetime`` without an offset is read in ``timezone``. Raises
    ``DataError`` naming ``what`` for anything that is not a valid instant.
    """
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise DataError(
                f"{what}: {value!r} is not an ISO 8601 timestamp (such as '2025-05-01T23:59:59+08:00')"
            ) from None
    else:
        raise DataError(f"{what}: a TIMESTAMPTZ takes ISO 8601 text or a datetime, not {type(value).__name__}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone(timezone))
    try:
        moment.astimezone(dt.UTC)  # the instant must be a date in years 1..9999 in UTC too, to be read back
    except OverflowError:
        raise DataError(f"{what}: {value!r} falls outside years 1..9999 in UTC") from None
    return (moment - _EPOCH) // _MICROSECOND


def to_text(micros: int) -> str:
    """Microseconds since the epoch as Milvus returns a TIMESTAMPTZ: UTC ISO 8601 text ending in ``Z``."""
    moment = _EPOCH + dt.timedelta(microseconds=micros)
    spec = "seconds" if moment.microsecond == 0 else "microseconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def interval_micros(text: str) -> int:
    """An ISO 8601 duration (``P1D``, ``PT3H``, ``P2DT6H30M``) in microseconds; ``InvalidArgumentError`` otherwise."""
    match = _DURATION.fullmatch(text.strip().upper()) if isinstance(text, str) else None
    if match is None or not any(match.group(unit) for unit in ("weeks", "days", "hours", "minutes", "seconds")):
        date_part = text.strip().upper().split("T")[0] if isinstance(text, str) else ""
        hint = " (years and months have no fixed length: use days)" if "Y" in date_part or "M" in date_part else ""
        raise InvalidArgumentError(
            f"INTERVAL {text!r} is not an ISO 8601 duration such as 'P1D' or 'PT3H'{hint}", argument="filter"
        )
    seconds = float(match.group("seconds") or 0)
    try:
        delta = dt.timedelta(
            weeks=int(match.group("weeks") or 0),
            days=int(match.group("days") or 0),
            hours=int(match.group("hours") or 0),
            minutes=int(match.group("minutes") or 0),
            seconds=seconds,
        )
    except OverflowError:
        raise InvalidArgumentError(f"INTERVAL {text!r} is longer than any two instants can be apart", argument="filter") from None
    micros = delta // _MICROSECOND
    return -micros if match.group("sign") else micros


__all__ = ["TIMEZONE", "UTC_NAME", "collection_timezone", "interval_micros", "to_micros", "to_text", "zone"]
