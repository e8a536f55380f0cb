"""Validation of what a caller hands the registry: tags, params, metrics, versions, free text.

Every check raises ``InvalidArgumentError`` naming the offending key, before
anything is written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from embedb.errors import InvalidArgumentError
from embedb.schema import MAX_DIMENSION

MAX_TAG_KEY_LENGTH = 250
MAX_TAG_VALUE_LENGTH = 5000
MAX_TEXT_LENGTH = 10_000


def checked_tag(key: object, value: object) -> tuple[str, str]:
    """Return a valid ``(key, value)`` tag pair."""
    if not isinstance(key, str) or not key or len(key) > MAX_TAG_KEY_LENGTH:
        raise InvalidArgumentError(
            f"a tag key must be a non-empty string of at most {MAX_TAG_KEY_LENGTH} characters, got {key!r}"
        )
    if not isinstance(value, str) or len(value) > MAX_TAG_VALUE_LENGTH:
        raise InvalidArgumentError(
            f"tag {key!r}: the value must be a string of at most {MAX_TAG_VALUE_LENGTH} characters, got {type(value).__name__}"
        )
    return key, value


def checked_tags(tags: Mapping[str, str] | None) -> dict[str, str]:
    """Return ``tags`` as a plain dict of valid string pairs."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise InvalidArgumentError(f"tags must be a mapping of strings to strings, got {type(tags).__name__}")
    return dict(checked_tag(key, value) for key, value in tags.items())


def checked_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return ``params`` as a dict with string keys and JSON-serialisable values."""
    if params is None:
        return {}
    if not isinstance(params, Mapping):
        raise InvalidArgumentError(f"params must be a mapping, got {type(params).__name__}")
    checked: dict[str, Any] = {}
    for key, value in params.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"param keys must be non-empty strings, got {key!r}")
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as error:
            raise InvalidArgumentError(f"param {key!r} is not JSON-serialisable: {error}") from None
        checked[key] = value
    return checked


def checked_metrics(metrics: Mapping[str, float] | None) -> dict[str, float]:
    """Return ``metrics`` as a dict of finite floats."""
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise InvalidArgumentError(f"metrics must be a mapping of names to numbers, got {type(metrics).__name__}")
    checked: dict[str, float] = {}
    for key, value in metrics.items():
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"metric names must be non-empty strings, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidArgumentError(f"metric {key!r} must be a finite number, got {value!r}")
        checked[key] = float(value)
    return checked


def checked_version_number(version: object) -> int:
    """Return ``version`` as a positive int (digit strings accepted)."""
    if isinstance(version, str) and version.isascii() and version.isdigit():
        version = int(version)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidArgumentError(f"a model version must be a positive integer, got {version!r}")
    return version


def checked_text(value: object, *, what: str) -> str | None:
    """Return an optional free-text value (actor, reason, description)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT_LENGTH:
        raise InvalidArgumentError(f"{what} must be a string of at most {MAX_TEXT_LENGTH} characters, got {value!r}")
    return value


def checked_dimension(dimension: object) -> int | None:
    """Return an optional positive dimension."""
    if dimension is None:
        return None
    if not isinstance(dimension, int) or isinstance(dimension, bool) or not 1 <= dimension <= MAX_DIMENSION:
        raise InvalidArgumentError(f"dimension must be an integer between 1 and {MAX_DIMENSION}, got {dimension!r}")
    return dimension
