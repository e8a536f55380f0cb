"""Checks of the ``properties`` arguments (collections, indexes): JSON values by non-empty names.

One property is acted on: a collection's ``timezone`` (an IANA name), the zone
TIMESTAMPTZ text without an offset is read in (``embedb.timestamps.collection_timezone``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from embedb.errors import InvalidArgumentError
from embedb.timestamps import TIMEZONE, zone

MAX_PROPERTIES_BYTES = 64 * 1024


def checked_properties(properties: Any) -> dict[str, Any]:
    """``properties`` as plain JSON values; ``InvalidArgumentError`` for anything else (or over 64 KiB)."""
    if not isinstance(properties, Mapping) or not all(isinstance(key, str) and key for key in properties):
        raise InvalidArgumentError("properties must be a dict of values by non-empty name", argument="properties")
    try:
        text = json.dumps(dict(properties), allow_nan=False)
    except (TypeError, ValueError, RecursionError):
        raise InvalidArgumentError("property values must be JSON (text, numbers, booleans, lists, objects)", argument="properties") from None
    if len(text) > MAX_PROPERTIES_BYTES:
        raise InvalidArgumentError(f"properties take at most {MAX_PROPERTIES_BYTES} bytes of JSON", argument="properties")
    checked = dict(json.loads(text))
    if TIMEZONE in checked:
        zone(checked[TIMEZONE])  # InvalidArgumentError naming a zone that does not exist
    return checked


def checked_keys(keys: Any) -> list[str]:
    """Property names to drop; ``InvalidArgumentError`` unless a list of text."""
    if isinstance(keys, str) or not isinstance(keys, Sequence) or not all(isinstance(key, str) for key in keys):
        raise InvalidArgumentError("property_keys must be a list of names", argument="property_keys")
    return list(keys)
