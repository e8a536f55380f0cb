"""Index tuning: the fastest index configuration that meets a recall target, found by Optuna.

``tune(base, queries, truth, ...)`` searches index types and build parameters
(HNSW ``M``/``efConstruction``, IVF ``nlist``, IVF_PQ ``m``, hnswlib when installed)
with Optuna's TPE sampler. Each trial builds the index EmbeDB itself would build
(``make_index``) on the sample, then sweeps its search parameter (``ef`` or
``nprobe``) upwards, measuring recall@k against the exact answers and the
queries per second, until the recall target is met — by the one-sided 95% lower
confidence bound of the recall over the queries, not its mean: the fastest of many
points that barely meet a target on a sample falls short on new queries (on MiniLM
WordNet vectors, a recipe at mean recall 0.950 gave 0.940 on unseen ones). A
trial's value is its best feasible QPS (recall met, memory and build time within
budget), or how far it fell short (negative), so the search moves toward
feasible, fast configurations. Every measured point is kept; ``pareto_front``
returns those no other point beats on recall, QPS, memory and build time. QPS is
measured one query per call (an online search) and for the whole batch; memory
is the index's saved size.
"""

from __future__ import annotations

import importlib.util
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from embedb.errors import InvalidArgumentError
from embedb.index.vector_index import INDEX_TYPES, MAX_EF, make_index, resolve_spec
from embedb.schema import MetricType

TUNABLE = ("HNSW", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSWLIB")
EF_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 1024, 2048)
CONFIDENCE_Z = 1.645  # a point is feasible when the one-sided 95% lower bound of its recall meets the target
MIN_POINTS_PER_LIST = 39  # Faiss's k-means warns below this many training points per centroid

TrialProgress = Callable[[int, int], None]
"""``progress(trials_done, trials)``."""


@dataclass(frozen=True)
class TunedPoint:
    """One measured configuration: an index build and one search parameter value."""

    index_type: str
    params: dict[str, int]
    search_params: dict[str, int]
    recall: float
    recall_low: float  # the one-sided 95% lower confidence bound of ``recall`` over the queries
    qps: float  # one query per call, as an online search runs
    qps_batch: float  # every query in one call
    memory_bytes: int
    build_s: float
    feasible: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def available_types(requested: Sequence[str] | None, metric: MetricType) -> tuple[str, ...]:
    """The index types to try: ``requested`` (checked) or every tunable one whose library is installed."""
    if metric.is_binary:
        raise InvalidArgumentError(
            "index tuning covers dense float fields; BINARY_VECTOR fields use BIN_FLAT or BIN_IVF_FLAT"
        )
    if requested is None:
        return tuple(name for name in TUNABLE if importlib.util.find_spec(INDEX_TYPES[name].library) is not None)
    if isinstance(requested, str) or not requested or not all(isinstance(name, str) for name in requested):
        raise InvalidArgumentError(f"index_types must be a non-empty list of {list(TUNABLE)}", argument="index_types")
    names = tuple(dict.fromkeys(name.upper() for name in requested))
    unknown = [name for name in names if name not in TUNABLE]
    if unknown:
        raise InvalidArgumentError(
            f"cannot tune {unknown}; tunable index types: {list(TUNABLE)}", argument="index_types"
        )
    return names


def tune(
    base: np.ndarray,
    queries: np.ndarray,
    truth: np.ndarray,
    *,
    metric: MetricType,
    k: int,
    recall: float,
    index_types: Sequence[str],
    trials: int,
    max_memory_bytes: int | None,
    max_build_s: float | None,
    seed: int,
    progress: TrialProgress | None = None,
) -> list[TunedPoint]:
    """Run ``trials`` Optuna trials over ``index_types``; return every measured point (see the module)."""
    try:
        import optuna
    except ImportError:
        raise InvalidArgumentError("index tuning needs Optuna: install embedb[automl]") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    points: list[TunedPoint] = []
    dim = base.shape[1]

    def objective(trial: Any) -> float:
        index_type = trial.suggest_categorical("index_type", list(index_types))
        params = _suggest(trial, index_type, len(base), dim)
        spec = resolve_spec(index_type, metric, params, dim=dim)
        index = make_index(spec, dim)
        started = time.perf_counter()
        index.build(base)
        build_s = time.perf_counter() - started
        memory = _saved_size(index)
        within = (max_memory_bytes is None or memory <= max_memory_bytes) and (
            max_build_s is None or build_s <= max_build_s
        )
        best_feasible, best_recall = None, 0.0
        for search_params in _search_steps(index_type, spec.params, k):
            started = time.perf_counter()
            _, rows = index.search(queries, k, search_params, None)
            qps_batch = len(queries) / max(time.perf_counter() - started, 1e-9)
            per_query = recalls_at_k(rows, truth)
            found = float(per_query.mean())
            spread = float(per_query.std(ddof=1)) / math.sqrt(len(per_query)) if len(per_query) > 1 else 0.0
            low = found - CONFIDENCE_Z * spread
            qps = _single_query_qps(index, queries, k, search_params)
            feasible = within and low >= recall
            point = TunedPoint(
                index_type, dict(spec.params), search_params, found, low, qps, qps_batch, memory, build_s, feasible
            )
            points.append(point)
            best_recall = max(best_recall, found)
            if feasible:
                best_feasible = qps
                break  # a wider search is only slower
        if progress is not None:
            progress(trial.number + 1, trials)
        return best_feasible if best_feasible is not None else best_recall - recall - (0.0 if within else 1.0)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=trials)
    return points


def recalls_at_k(rows: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Each query's share of its exact top k that was found."""
    shares = [
        len(set(found[found >= 0].tolist()) & set(true.tolist())) / len(true)
        for found, true in zip(rows, truth, strict=True)
    ]
    return np.asarray(shares, dtype=np.float64)


def best_point(points: Sequence[TunedPoint]) -> TunedPoint | None:
    """The fastest feasible point (ties: less memory)."""
    feasible = [point for point in points if point.feasible]
    return max(feasible, key=lambda point: (point.qps, -point.memory_bytes)) if feasible else None


def pareto_front(points: Sequence[TunedPoint]) -> list[TunedPoint]:
    """The points no other point beats on every one of recall, QPS, memory and build time; by recall."""

    def beats(a: TunedPoint, b: TunedPoint) -> bool:
        no_worse = (
            a.recall >= b.recall and a.qps >= b.qps and a.memory_bytes <= b.memory_bytes and a.build_s <= b.build_s
        )
        better = a.recall > b.recall or a.qps > b.qps or a.memory_bytes < b.memory_bytes or a.build_s < b.build_s
        return no_worse and better

    front = [p for p in points if not any(beats(other, p) for other in points)]
    return sorted(front, key=lambda point: (point.recall, point.qps))


def _single_query_qps(index: Any, queries: np.ndarray, k: int, params: dict[str, int]) -> float:
    started = time.perf_counter()
    for position in range(len(queries)):
        index.search(queries[position : position + 1], k, params, None)
    return len(queries) / max(time.perf_counter() - started, 1e-9)


def _saved_size(index: Any) -> int:
    """The index's size as saved (what it holds in memory once loaded)."""
    with tempfile.TemporaryDirectory(prefix="embedb-tune-") as folder:
        path = Path(folder) / "index"
        index.save(path)
        return path.stat().st_size


def _suggest(trial: Any, index_type: str, rows: int, dim: int) -> dict[str, int]:
    if index_type in ("HNSW", "HNSWLIB"):
        return {
            "M": trial.suggest_int(f"{index_type}.M", 4, 64, log=True),
            "efConstruction": trial.suggest_int(f"{index_type}.efConstruction", 32, 512, log=True),
        }
    most = max(1, min(4096, rows // MIN_POINTS_PER_LIST))
    params = {"nlist": trial.suggest_int(f"{index_type}.nlist", 1, most, log=True)}
    if index_type == "IVF_PQ":
        divisors = [m for m in (4, 8, 16, 24, 32, 48, 64, 96, 128) if dim % m == 0 and m <= dim]
        params["m"] = trial.suggest_categorical("IVF_PQ.m", divisors or [1])
        params["nbits"] = 8 if rows >= 256 * MIN_POINTS_PER_LIST else 4
    return params


def _search_steps(index_type: str, params: dict[str, int], k: int) -> list[dict[str, int]]:
    """Search parameter values to try, cheapest first."""
    if index_type in ("HNSW", "HNSWLIB"):
        return [{"ef": ef} for ef in sorted({max(k, ef) for ef in EF_STEPS if ef <= MAX_EF})]
    nlist = params["nlist"]
    steps = sorted({min(nlist, 2**power) for power in range(int(math.log2(nlist)) + 2)})
    return [{"nprobe": nprobe} for nprobe in steps]
