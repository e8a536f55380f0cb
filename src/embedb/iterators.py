"""pymilvus-style iterators over the contract: ``QueryIterator`` and ``SearchIterator``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from embedb.contract import MAX_SEARCH_LIMIT, Backend, Hit, Row
from embedb.errors import InvalidArgumentError


def _check_batch_size(batch_size: int, limit: int) -> None:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidArgumentError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < -1:
        raise InvalidArgumentError(f"limit must be -1 (no limit) or a non-negative integer, got {limit!r}")


class QueryIterator:
    """pymilvus-style iterator: ``next()`` returns the next page (empty at the end); also iterable."""

    def __init__(
        self,
        backend: Backend,
        collection_name: str,
        *,
        batch_size: int = 1000,
        limit: int = -1,
        filter: str = "",
        output_fields: Sequence[str] | None = None,
        partition_names: Sequence[str] | None = None,
    ) -> None:
        _check_batch_size(batch_size, limit)
        self._backend = backend
        self._name = collection_name
        self._batch_size = batch_size
        self._remaining = limit
        self._filter = filter
        self._output_fields = list(output_fields or [])
        self._partitions = partition_names
        primary = backend.describe_collection(collection_name)["primary_field"]
        self._primary = primary
        self._last_key: Any = None
        self._closed = False

    def next(self) -> list[Row]:
        if self._closed or self._remaining == 0:
            return []
        size = self._batch_size if self._remaining < 0 else min(self._batch_size, self._remaining)
        conditions = [f"({self._filter})"] if self._filter.strip() else []
        params: dict[str, Any] = {}
        if self._last_key is not None:
            conditions.append(f"{self._primary} > {{__after}}")
            params["__after"] = self._last_key
        page = self._backend.query(
            self._name,
            " and ".join(conditions),
            output_fields=self._output_fields,
            limit=size,
            partition_names=self._partitions,
            filter_params=params or None,
        )
        if page:
            self._last_key = page[-1][self._primary]
            if self._remaining > 0:
                self._remaining -= len(page)
        else:
            self._closed = True
        return page

    def close(self) -> None:
        self._closed = True

    def __iter__(self) -> Iterator[list[Row]]:
        while page := self.next():
            yield page


class SearchIterator:
    """Pages of hits for one query, closest first; ``next()`` is empty at the end.

    Pages by a cursor, as pymilvus's iterator does, not by offset: each page
    after the first is a range search (``radius``/``range_filter``) bounded by
    the last distance returned so far, minus the ids already returned at exactly
    that distance. So every page costs about the same, and the iteration is not
    capped by the most hits one search may return. Rows written while it runs
    may or may not be returned; a row is never returned twice.
    """

    def __init__(
        self,
        backend: Backend,
        collection_name: str,
        data: Any,
        *,
        batch_size: int = 1000,
        limit: int = -1,
        filter: str = "",
        search_params: dict[str, Any] | None = None,
        anns_field: str | None = None,
        **search: Any,
    ) -> None:
        _check_batch_size(batch_size, limit)
        if batch_size > MAX_SEARCH_LIMIT:
            raise InvalidArgumentError(f"batch_size must be at most {MAX_SEARCH_LIMIT}, got {batch_size}")
        if not isinstance(filter, str):
            raise InvalidArgumentError(f"filter must be a string, got {type(filter).__name__}")
        if search_params is not None and not isinstance(search_params, dict):
            raise InvalidArgumentError(f"search_params must be a dict, got {type(search_params).__name__}")
        described = backend.describe_collection(collection_name)
        self._backend = backend
        self._name = collection_name
        self._data = data
        self._batch_size = batch_size
        self._remaining = limit
        self._filter = filter
        self._search_params = search_params or {}
        self._anns_field = anns_field
        self._search = search
        self._primary: str = described["primary_field"]
        self._lower_is_closer = _field_metric(described, anns_field) in ("L2", "HAMMING", "JACCARD")
        self._boundary: float | None = None  # the distance of the last hit returned so far
        self._at_boundary: list[Any] = []  # ids returned at exactly that distance
        self._closed = False

    def next(self) -> list[Hit]:
        if self._closed or self._remaining == 0:
            return []
        size = self._batch_size if self._remaining < 0 else min(self._batch_size, self._remaining)
        conditions = [f"({self._filter})"] if self._filter.strip() else []
        params: dict[str, Any] = {}
        if self._at_boundary:
            conditions.append(f"{self._primary} not in {{__returned}}")
            params["__returned"] = self._at_boundary
        hits = self._backend.search(
            self._name,
            self._data,
            limit=size,
            filter=" and ".join(conditions),
            filter_params=params or None,
            search_params=self._page_params(),
            anns_field=self._anns_field,
            **self._search,
        )
        if len(hits) != 1:
            raise InvalidArgumentError("search_iterator takes exactly one query")
        page = hits[0]
        for hit in page:
            if hit["distance"] != self._boundary:
                self._boundary = hit["distance"]
                self._at_boundary = []
            self._at_boundary.append(hit["id"])
        if self._remaining > 0:
            self._remaining -= len(page)
        if len(page) < size:
            self._closed = True
        return page

    def _page_params(self) -> dict[str, Any]:
        """The caller's search parameters, with the range narrowed to what lies at or beyond the boundary."""
        if self._boundary is None:
            return self._search_params
        nested = self._search_params.get("params")
        inner = dict(nested) if isinstance(nested, dict) else dict(self._search_params)
        radius = inner.get("radius")
        range_filter = inner.get("range_filter")
        if self._lower_is_closer:  # L2 keeps range_filter <= distance < radius
            inner["radius"] = _FARTHEST if radius is None else radius
            if self._boundary > 0:  # a distance shown as 0 may hide a tiny negative one: no lower bound then
                inner["range_filter"] = self._boundary if range_filter is None else max(range_filter, self._boundary)
        else:  # IP and COSINE keep radius < distance <= range_filter
            inner["radius"] = -_FARTHEST if radius is None else radius
            inner["range_filter"] = self._boundary if range_filter is None else min(range_filter, self._boundary)
        if isinstance(nested, dict):
            return {**self._search_params, "params": inner}
        return inner

    def close(self) -> None:
        self._closed = True

    def __iter__(self) -> Iterator[list[Hit]]:
        while page := self.next():
            yield page


# A bound no distance reaches: float32's largest value (scores are float32).
_FARTHEST = 3.4028234663852886e38


def _field_metric(described: Mapping[str, Any], anns_field: str | None) -> str:
    """The metric of the vector field a search reads (the only one when ``anns_field`` is None)."""
    vectors = [field for field in described["fields"] if field.get("metric_type")]
    chosen = [field for field in vectors if anns_field is None or field["name"] == anns_field]
    if len(chosen) != 1:
        return ""  # let the search raise the error it raises for a bad anns_field
    return str(chosen[0]["metric_type"]).upper()
