"""Index and search requests in pymilvus's shapes, checked before anything runs.

``index_requests`` accepts what ``MilvusClient.create_index`` takes — an
``IndexParams`` (from ``embedb.milvus.prepare_index_params()``), a list of
dicts, one dict — or the direct keyword form
``create_index(collection, field_name=..., index_type=..., metric_type=..., params=...)``.
``search_options`` accepts ``search_params`` nested (``{"metric_type": ...,
"params": {"ef": 64}}``) or flat (``{"ef": 64}``), plus range and grouping
options.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from embedb.errors import InvalidArgumentError
from embedb.index.vector_index import AUTOINDEX, IndexSpec, check_search_params, default_search_params
from embedb.schema import MetricType

MAX_GROUP_SIZE = 1024


@dataclass(frozen=True)
class IndexRequest:
    """One requested index, before validation against the schema."""

    field_name: str
    index_type: str = AUTOINDEX
    index_name: str = ""
    metric_type: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


def index_requests(
    index_params: Any,
    *,
    field_name: str | None = None,
    index_type: str | None = None,
    metric_type: str | None = None,
    params: Mapping[str, Any] | None = None,
    index_name: str | None = None,
) -> list[IndexRequest]:
    """Normalise the accepted forms into ``IndexRequest``s; raise ``InvalidArgumentError`` on anything else."""
    direct = field_name is not None or index_type is not None or params is not None or index_name is not None
    if index_params is not None and direct:
        raise InvalidArgumentError("pass either index_params or field_name/index_type/params, not both")
    if index_params is None:
        if field_name is None:
            raise InvalidArgumentError("create_index needs index_params or field_name", parameter="field_name")
        items: list[Any] = [
            {
                "field_name": field_name,
                "index_type": index_type,
                "metric_type": metric_type,
                "params": params,
                "index_name": index_name,
            }
        ]
    elif isinstance(index_params, Mapping):
        items = [index_params]
    elif isinstance(index_params, str):
        raise InvalidArgumentError("index_params must be IndexParams, a dict or a list of dicts, not a string")
    else:
        try:
            items = list(index_params)
        except TypeError:
            raise InvalidArgumentError(
                f"index_params must be IndexParams or dicts, got {type(index_params).__name__}"
            ) from None
    requests = [_one_request(item) for item in items]
    if not requests:
        raise InvalidArgumentError("index_params holds no index")
    return requests


def _one_request(item: Any) -> IndexRequest:
    if not isinstance(item, Mapping):
        raise InvalidArgumentError(f"an index definition must be a dict, got {type(item).__name__}")
    unknown = set(item) - {"field_name", "index_type", "index_name", "metric_type", "params"}
    name = item.get("field_name")
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(f"an index definition needs field_name, got {item!r}", parameter="field_name")
    params = dict(item.get("params") or {})
    if not isinstance(item.get("params") or {}, Mapping):
        raise InvalidArgumentError(f"index params must be a dict, got {item.get('params')!r}", parameter="params")
    for key in unknown:  # pymilvus forwards extra keywords of add_index as index parameters
        params[key] = item[key]
    metric = item.get("metric_type") or params.pop("metric_type", None)
    return IndexRequest(
        name, str(item.get("index_type") or AUTOINDEX), str(item.get("index_name") or ""), metric, params
    )


@dataclass(frozen=True)
class SearchOptions:
    """Checked search options: kernel parameters (with defaults) and grouping."""

    params: dict[str, Any]
    group_by_field: str | None = None
    group_size: int = 1
    strict_group_size: bool = False


_SPECIAL_KEYS = frozenset({"metric_type", "params", "group_by_field", "group_size", "strict_group_size"})


def search_options(
    search_params: Mapping[str, Any] | None,
    *,
    metric: MetricType,
    field_name: str,
    k: int,
    spec: IndexSpec | None,
    group_by_field: str | None = None,
    group_size: int | None = None,
    strict_group_size: bool | None = None,
    defaults: tuple[tuple[str, int], ...] = (),
) -> SearchOptions:
    """Parse ``search_params`` for one search; raise ``InvalidArgumentError`` naming the bad parameter.

    ``defaults``: the search parameters a tuned index was measured at, used where the request names none.
    """
    cache_key = None
    if group_by_field is None and group_size is None and strict_group_size is None and _cacheable(search_params):
        cache_key = (id(spec), metric, field_name, k, tuple(search_params.items()) if search_params else (), defaults)
        cached = _OPTIONS_CACHE.get(cache_key)
        if cached is not None and cached[0] is spec:  # the entry holds its spec, so the id cannot be reused
            return cached[1]
    options = _parse_options(
        search_params, metric, field_name, k, spec, group_by_field, group_size, strict_group_size, defaults
    )
    if cache_key is not None:
        if len(_OPTIONS_CACHE) >= 256:
            _OPTIONS_CACHE.clear()
        _OPTIONS_CACHE[cache_key] = (spec, options)
    return options


# Searches repeat their parameters; parsing them is a visible share of a single-query search.
# Entries are immutable by convention (the planner copies before widening).
_OPTIONS_CACHE: dict[Any, tuple[IndexSpec | None, SearchOptions]] = {}


def _cacheable(search_params: Mapping[str, Any] | None) -> bool:
    """Flat dicts of plain scalars only: nested dicts are not hashable, and other types may change."""
    if not search_params:
        return search_params is None or type(search_params) is dict
    return type(search_params) is dict and all(type(v) in (int, float, str) for v in search_params.values())


def _parse_options(
    search_params: Mapping[str, Any] | None,
    metric: MetricType,
    field_name: str,
    k: int,
    spec: IndexSpec | None,
    group_by_field: str | None,
    group_size: int | None,
    strict_group_size: bool | None,
    defaults: tuple[tuple[str, int], ...] = (),
) -> SearchOptions:
    params: Mapping[str, Any]
    if not search_params:
        params = {}
    elif type(search_params) is dict and _SPECIAL_KEYS.isdisjoint(search_params):
        params = search_params  # the flat form: read, never changed
    elif isinstance(search_params, Mapping):
        params = _flatten(search_params, metric, field_name)
    else:
        raise InvalidArgumentError(f"search_params must be a dict, got {type(search_params).__name__}")
    checked: dict[str, Any] = {}
    if spec is not None:
        checked = default_search_params(spec, k)
        if defaults:  # raised to k where a limit needs more than the tuning did (ef, search_k)
            tuned = {
                name: value if value == -1 else max(value, k) if name in ("ef", "search_k") else value
                for name, value in defaults
            }
            checked.update(check_search_params(spec.index_type, tuned, k))
        if params:
            checked.update(check_search_params(spec.index_type, params, k))
    if "radius" in params or "range_filter" in params:
        bounds = range_bounds(params, metric)
        if bounds is not None:
            checked["_range"] = bounds
    group_by_field = group_by_field or params.get("group_by_field")
    group_size = group_size if group_size is not None else params.get("group_size")
    strict = strict_group_size if strict_group_size is not None else bool(params.get("strict_group_size", False))
    if group_by_field is None:
        if group_size is not None and group_size != 1:
            raise InvalidArgumentError("group_size needs group_by_field", parameter="group_size")
        return SearchOptions(checked)
    if not isinstance(group_by_field, str):
        raise InvalidArgumentError(
            f"group_by_field must be a field name, got {group_by_field!r}", parameter="group_by_field"
        )
    if "_range" in checked:
        raise InvalidArgumentError("range search and grouping search cannot be combined", parameter="group_by_field")
    size = 1 if group_size is None else group_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_GROUP_SIZE:
        raise InvalidArgumentError(
            f"group_size must be an integer in [1, {MAX_GROUP_SIZE}], got {group_size!r}", parameter="group_size"
        )
    return SearchOptions(checked, group_by_field, size, strict)


def _flatten(search_params: Mapping[str, Any], metric: MetricType, field_name: str) -> dict[str, Any]:
    """pymilvus's nested form (``{"metric_type": ..., "params": {...}}``) as one flat dict; the metric must match."""
    params = dict(search_params)
    requested_metric = params.pop("metric_type", None)
    if requested_metric is not None and str(requested_metric).upper() != metric.value:
        raise InvalidArgumentError(
            f"search metric {requested_metric!r} does not match field {field_name!r}, which uses {metric.value}",
            parameter="metric_type",
        )
    nested = params.pop("params", None)
    if nested is not None:
        if not isinstance(nested, Mapping):
            raise InvalidArgumentError(f"search_params['params'] must be a dict, got {nested!r}", parameter="params")
        params.update(nested)
    return params


def range_bounds(params: Mapping[str, Any], metric: MetricType) -> tuple[float, float] | None:
    """Milvus range search as score bounds (low, high], or None; raise ``InvalidArgumentError`` on bad values.

    IP/COSINE keep ``radius < distance <= range_filter``; L2, HAMMING and JACCARD
    keep ``range_filter <= distance < radius`` (distances as returned).
    """
    radius = params.get("radius")
    range_filter = params.get("range_filter")
    if radius is None:
        if range_filter is not None:
            raise InvalidArgumentError("range_filter needs radius as well", parameter="range_filter")
        return None
    values = {}
    for name, value in (("radius", radius), ("range_filter", range_filter)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise InvalidArgumentError(
                f"search parameter {name} must be a finite number, got {value!r}", parameter=name
            )
        values[name] = float(value)
    if metric.smaller_is_closer:
        if "range_filter" in values and not values["range_filter"] < values["radius"]:
            raise InvalidArgumentError(
                f"for {metric.value}, range_filter must be smaller than radius", parameter="range_filter"
            )
        offset = 1.0 if metric is MetricType.JACCARD else 0.0  # JACCARD scores are 1 - distance, the others -distance
        return offset - values["radius"], offset - values.get("range_filter", -math.inf)
    if "range_filter" in values and not values["range_filter"] > values["radius"]:
        raise InvalidArgumentError(
            f"for {metric.value}, range_filter must be larger than radius", parameter="range_filter"
        )
    return values["radius"], values.get("range_filter", math.inf)
