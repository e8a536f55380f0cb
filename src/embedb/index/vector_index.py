"""Vector indexes: the ``VectorIndex`` protocol, index specs, the registry of index types.

An index covers the rows of one vector column of one sealed segment; its row
numbers are the segment's row numbers, so a hit needs no id translation. The
kernels come from libraries made for it (DESIGN.md): Faiss for FLAT, HNSW,
IVF_FLAT, IVF_SQ8 and IVF_PQ (BIN_FLAT and BIN_IVF_FLAT for BINARY_VECTOR
fields, Faiss over their 0/1 bits), and hnswlib (``HNSWLIB``) and Annoy (``ANNOY``)
as optional adapters. ``AUTOINDEX`` resolves to HNSW (M=16, efConstruction=200)
(BIN_FLAT for a binary metric) and the resolved spec is what gets stored, so a user can see what was picked.
Vectors for COSINE arrive normalised (build and queries), so COSINE is inner
product inside every kernel. Scores are "higher is closer", as in
``embedb.query.exact``: similarity for IP/COSINE, negated squared distance for L2.

Parameters are checked before anything is built or searched; a bad one raises
``InvalidArgumentError`` naming the parameter and its allowed range.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from embedb.errors import InvalidArgumentError
from embedb.schema import MetricType

AUTOINDEX = "AUTOINDEX"
MAX_EF = 32_768
MAX_TOP_K = 16_384
INT_MAX = 2**31 - 1


class VectorIndex(Protocol):
    """An ANN (or flat) index over the rows of one segment's vector column.

    Thread-safety: ``search`` may run from many threads at once; ``build`` and
    ``load`` run once, before the index is published to searchers.
    """

    spec: IndexSpec

    @property
    def ntotal(self) -> int:
        """Number of rows indexed."""

    @property
    def filters_in_kernel(self) -> bool:
        """True when ``allowed`` is applied inside the search (Faiss ``IDSelectorBitmap``), not after it."""

    def build(
        self,
        vectors: np.ndarray,
        *,
        should_stop: Callable[[], bool] | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Index the rows of a float32 matrix (row i gets number i).

        Calls ``progress(rows_done)`` between chunks and raises ``BuildCancelled``
        as soon as ``should_stop()`` is true.
        """

    def search(
        self, queries: np.ndarray, k: int, params: Mapping[str, Any], allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(scores, rows), each (nq, k), best first; missing slots are row -1 with score -inf.

        ``params`` holds checked search parameters (``ef``, ``nprobe``, ``search_k``)
        already widened by the planner; ``allowed`` is a bool mask over rows or None.
        Adapters that cannot filter in the kernel over-fetch and filter after.
        """

    @property
    def nbytes(self) -> int:
        """Approximate memory the index holds (its file size once saved)."""

    def save(self, path: Path) -> None:
        """Write the index to one file at ``path`` (the caller makes it durable and checksums it)."""

    def load(self, path: Path) -> None:
        """Read an index written by ``save``; raise ``StorageError`` if the library cannot parse it."""


class BuildCancelled(Exception):
    """A build was stopped because its database is closing or its index was dropped."""


@dataclass(frozen=True)
class ParamRule:
    """One integer parameter: its allowed range and default (None: required)."""

    name: str
    low: int
    high: int
    default: int | None

    def check(self, value: Any, *, what: str) -> int:
        """The value as an int; raise ``InvalidArgumentError`` naming the parameter and its range."""
        number = _as_int(value)
        if number is None or not self.low <= number <= self.high:
            raise InvalidArgumentError(
                f"{what} parameter {self.name}={value!r} is out of range: use an integer in [{self.low}, {self.high}]",
                parameter=self.name,
            )
        return number


@dataclass(frozen=True)
class IndexType:
    """A registered index type: its parameters and where its implementation lives."""

    name: str
    library: str
    module: str  # implementation module, imported when the first index is made
    class_name: str
    build_params: tuple[ParamRule, ...]
    search_params: tuple[ParamRule, ...]
    description: str

    def make(self, spec: IndexSpec, dim: int) -> VectorIndex:
        """A new, empty index object for ``spec``; raise ``InvalidArgumentError`` if the library is missing."""
        try:
            module = importlib.import_module(self.module)
        except ImportError as error:
            raise InvalidArgumentError(
                f"index type {self.name} needs the {self.library!r} package ({error}); install embedb[indexes]"
            ) from None
        index: VectorIndex = getattr(module, self.class_name)(spec, dim)
        return index


@dataclass(frozen=True)
class IndexSpec:
    """A resolved index definition: a concrete type, the metric, every build parameter filled in."""

    index_type: str
    metric: MetricType
    params: dict[str, int] = field(default_factory=dict)

    @property
    def kind(self) -> IndexType:
        return INDEX_TYPES[self.index_type]

    def to_dict(self) -> dict[str, Any]:
        return {"index_type": self.index_type, "metric_type": self.metric.value, "params": dict(sorted(self.params.items()))}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IndexSpec:
        return cls(str(data["index_type"]), MetricType.parse(data["metric_type"]), {k: int(v) for k, v in data["params"].items()})


_EF = ParamRule("ef", 1, MAX_EF, None)  # default: see default_search_params
_NPROBE = ParamRule("nprobe", 1, 65_536, 8)
_NLIST = ParamRule("nlist", 1, 65_536, 1024)

INDEX_TYPES: dict[str, IndexType] = {
    t.name: t
    for t in (
        IndexType("FLAT", "faiss", "embedb.index.faiss_index", "FaissIndex", (), (), "exact search in Faiss (brute force)"),
        IndexType(
            "HNSW",
            "faiss",
            "embedb.index.faiss_index",
            "FaissIndex",
            (ParamRule("M", 2, 2048, 16), ParamRule("efConstruction", 1, INT_MAX, 200)),
            (_EF,),
            "Faiss IndexHNSWFlat: a graph, best recall per query time",
        ),
        IndexType("IVF_FLAT", "faiss", "embedb.index.faiss_index", "FaissIndex", (_NLIST,), (_NPROBE,), "Faiss IndexIVFFlat"),
        IndexType("BIN_FLAT", "faiss", "embedb.index.faiss_index", "FaissIndex", (), (), "exact search over a BINARY_VECTOR field"),
        IndexType(
            "BIN_IVF_FLAT", "faiss", "embedb.index.faiss_index", "FaissIndex", (_NLIST,), (_NPROBE,), "Faiss IVF over a BINARY_VECTOR field"
        ),
        IndexType(
            "IVF_SQ8", "faiss", "embedb.index.faiss_index", "FaissIndex", (_NLIST,), (_NPROBE,), "Faiss IndexIVFScalarQuantizer (8 bit)"
        ),
        IndexType(
            "IVF_PQ",
            "faiss",
            "embedb.index.faiss_index",
            "FaissIndex",
            (_NLIST, ParamRule("m", 1, 65_536, None), ParamRule("nbits", 1, 16, 8)),
            (_NPROBE,),
            "Faiss IndexIVFPQ: product-quantised codes, smallest memory",
        ),
        IndexType(
            "HNSWLIB",
            "hnswlib",
            "embedb.index.hnswlib_index",
            "HnswlibIndex",
            (ParamRule("M", 2, 2048, 16), ParamRule("efConstruction", 1, INT_MAX, 200)),
            (_EF,),
            "hnswlib HNSW graph (optional adapter, filters after search)",
        ),
        IndexType(
            "ANNOY",
            "annoy",
            "embedb.index.annoy_index",
            "AnnoyIndex",
            (ParamRule("n_trees", 1, 1024, 8),),
            (ParamRule("search_k", -1, INT_MAX, -1),),
            "Annoy random-projection forest (optional adapter, filters after search)",
        ),
    )
}

_BUILD_PARAM_NAMES = frozenset(
    rule.name for kind in INDEX_TYPES.values() for rule in (*kind.build_params, *kind.search_params)
)
AUTOINDEX_SPEC: dict[str, Any] = {"index_type": "HNSW", "params": {"M": 16, "efConstruction": 200}}
DEFAULT_EF = 64
SEARCH_PARAM_NAMES = frozenset({"ef", "nprobe", "search_k"})


def resolve_spec(index_type: str, metric: MetricType, params: Mapping[str, Any] | None, *, dim: int) -> IndexSpec:
    """Check a requested index and fill in defaults; ``AUTOINDEX`` becomes HNSW.

    Raises ``InvalidArgumentError`` for an unknown type, an unknown or
    out-of-range parameter, or an IVF_PQ ``m`` that does not divide ``dim``.
    """
    if not isinstance(index_type, str) or not index_type.strip():
        raise InvalidArgumentError(f"index_type must be a string, got {index_type!r}")
    name = index_type.strip().upper()
    given = dict(params or {})
    given.pop("metric_type", None)
    if name == AUTOINDEX and metric.is_binary:
        name = "BIN_FLAT"
    elif name == AUTOINDEX:
        name = str(AUTOINDEX_SPEC["index_type"])
        given = {**AUTOINDEX_SPEC["params"], **given}
    kind = INDEX_TYPES.get(name)
    if kind is None:
        allowed = ", ".join([AUTOINDEX, *INDEX_TYPES])
        raise InvalidArgumentError(f"unknown index_type {index_type!r}; allowed: {allowed}", parameter="index_type")
    if name.startswith("BIN_") != metric.is_binary:
        allowed = "BIN_FLAT or BIN_IVF_FLAT" if metric.is_binary else "an index type other than BIN_FLAT and BIN_IVF_FLAT"
        raise InvalidArgumentError(
            f"index type {name} does not fit a field with metric {metric.value}: use {allowed}", parameter="index_type"
        )
    rules = {rule.name: rule for rule in kind.build_params}
    # Milvus ignores another index type's parameters (``nlist`` given to FLAT, a search's ``nprobe``);
    # a name no index type has is a mistake.
    unknown = sorted(set(given) - set(rules) - _BUILD_PARAM_NAMES)
    given = {name: value for name, value in given.items() if name in rules}
    if unknown:
        known = ", ".join(rules) or "none"
        raise InvalidArgumentError(
            f"index type {name} has no build parameter(s) {unknown}; its parameters: {known}", parameter=unknown[0]
        )
    resolved: dict[str, int] = {}
    for rule in kind.build_params:
        if rule.name in given:
            resolved[rule.name] = rule.check(given[rule.name], what=f"{name} build")
        elif rule.default is None:
            raise InvalidArgumentError(f"index type {name} needs the build parameter {rule.name!r}", parameter=rule.name)
        else:
            resolved[rule.name] = rule.default
    if name == "IVF_PQ" and dim % resolved["m"]:
        raise InvalidArgumentError(
            f"IVF_PQ parameter m={resolved['m']} must divide the dimension {dim}", parameter="m"
        )
    return IndexSpec(name, metric, resolved)


def check_search_params(index_type: str | None, params: Mapping[str, Any], k: int) -> dict[str, int]:
    """The search parameters that apply to ``index_type``, checked against ``k``; others are ignored (as in Milvus).

    ``ef`` must be in [k, 32768], ``nprobe`` in [1, 65536], ``search_k`` -1 or
    at least k. Raises ``InvalidArgumentError`` naming the parameter.
    """
    if index_type is None:
        return {}
    checked: dict[str, int] = {}
    for rule in INDEX_TYPES[index_type].search_params:
        value = params.get(rule.name)
        if value is None:
            continue
        number = value if type(value) is int else _as_int(value)  # this runs on every search: ints first
        low = k if rule.name == "ef" else rule.low
        if number is None or not low <= number <= rule.high:
            raise InvalidArgumentError(
                f"search parameter {rule.name}={value!r} is out of range: use an integer in [{low}, {rule.high}]"
                + (" (ef must be at least the limit)" if rule.name == "ef" else ""),
                parameter=rule.name,
            )
        if rule.name == "search_k" and number != -1 and number < k:
            raise InvalidArgumentError(
                f"search parameter search_k={value!r} must be -1 or at least the limit {k}", parameter="search_k"
            )
        checked[rule.name] = number
    return checked


def default_search_params(spec: IndexSpec, k: int) -> dict[str, int]:
    """What a search uses when the request names no parameter for this index type."""
    if spec.index_type in ("HNSW", "HNSWLIB"):
        return {"ef": max(k, DEFAULT_EF)}
    if "IVF_" in spec.index_type:
        return {"nprobe": _NPROBE.default or 8}
    if spec.index_type == "ANNOY":
        return {"search_k": -1}
    return {}


def make_index(spec: IndexSpec, dim: int) -> VectorIndex:
    """A new, empty index for ``spec`` (the implementation module is imported lazily)."""
    return spec.kind.make(spec, dim)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    return None


__all__ = [
    "AUTOINDEX",
    "INDEX_TYPES",
    "BuildCancelled",
    "IndexSpec",
    "IndexType",
    "ParamRule",
    "VectorIndex",
    "check_search_params",
    "default_search_params",
    "make_index",
    "resolve_spec",
]
