"""The ``drift`` operation: has what a field's embeddings see moved away from a reference?

A sample is given as query text (embedded with the field's serving version, or
``embedding_version``), as vectors, as a filter over the stored rows (their
vectors of that version, sampled), or as a time window of the field's own query
stream (``{"logged": [since, until]}``: the query texts the search monitor
sampled then, each text once per minute however many versions answered it). Each item's distance to its nearest stored
neighbour (another row than itself) comes from a search of the field, for the
out-of-domain test. The statistics are ``embedb.evaluation.drift``'s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np

from embedb.contract.results import DriftReport
from embedb.engine.samples import stored_sample
from embedb.errors import InvalidArgumentError
from embedb.evaluation.drift import DEFAULT_PERMUTATIONS, as_float_matrix, checked_tests, detect_drift
from embedb.evaluation.stats import check_seed
from embedb.lifecycle import EmbeddingVersion, embed_query_text
from embedb.metadata import CollectionMetadata
from embedb.models import ModelRegistry
from embedb.monitoring import SearchMonitor, checked_window
from embedb.schema import FieldSchema, MetricType
from embedb.search import SearchOperation
from embedb.storage import CollectionInfo

SAMPLE_KINDS = ("texts", "vectors", "filter", "logged")
NEIGHBOURS = 5  # itself and exact copies are skipped among these
MAX_SAMPLE_ROWS = 5_000


@dataclass(frozen=True)
class DriftPlan:
    """A checked drift request: the field, the version its samples are embedded with, the tests, the sample size."""

    info: CollectionInfo
    field: FieldSchema
    version: EmbeddingVersion | None
    tests: tuple[str, ...]
    max_rows: int


class DriftOperation:
    """The ``drift`` operation of the contract (a cluster's router runs its parts: ``plan``, ``sample``, ``drift_report``)."""

    def __init__(
        self, metadata: CollectionMetadata, models: ModelRegistry, searcher: SearchOperation, monitor: SearchMonitor
    ) -> None:
        self.metadata = metadata
        self.models = models
        self.searcher = searcher
        self.search_monitor = monitor

    def drift(
        self,
        collection_name: str,
        field_name: str,
        *,
        reference: Mapping[str, Any],
        current: Mapping[str, Any],
        tests: Sequence[str] | None = None,
        alpha: float = 0.05,
        max_rows: int = 1000,
        permutations: int = DEFAULT_PERMUTATIONS,
        embedding_version: str | None = None,
        seed: int = 0,
    ) -> DriftReport:
        plan = self.plan(
            collection_name, field_name, tests=tests, max_rows=max_rows, embedding_version=embedding_version, seed=seed
        )
        rng = np.random.default_rng(seed)
        samples = {
            role: self.sample(plan, spec, role, rng) for role, spec in (("reference", reference), ("current", current))
        }
        distances = {}
        if "ood" in plan.tests:
            distances = {role: self._nearest(plan, *sample) for role, sample in samples.items()}
        return drift_report(plan, samples, distances, alpha=alpha, permutations=permutations, seed=seed)

    def plan(
        self,
        collection_name: str,
        field_name: str,
        *,
        tests: Sequence[str] | None,
        max_rows: int,
        embedding_version: str | None,
        seed: int,
    ) -> DriftPlan:
        """The request checked: a dense vector field, a sample size in range, known tests, a seed, a READY version."""
        info = self.metadata.info(collection_name)
        field = self.metadata.search_field(info, field_name)
        if not field.dtype.is_vector:
            raise InvalidArgumentError(
                f"drift is measured on a dense vector field; {field.name!r} is {field.dtype.name}"
            )
        if isinstance(max_rows, bool) or not isinstance(max_rows, int) or not 10 <= max_rows <= MAX_SAMPLE_ROWS:
            raise InvalidArgumentError(
                f"max_rows must be an integer in [10, {MAX_SAMPLE_ROWS}], got {max_rows!r}", argument="max_rows"
            )
        chosen = tuple(checked_tests(tests, with_distances=True))
        check_seed(seed)
        version = self.searcher.bound_version(field, embedding_version, self.metadata.bindings(info))
        return DriftPlan(info, field, version, chosen, max_rows)

    def sample(
        self, plan: DriftPlan, spec: Mapping[str, Any], role: str, rng: np.random.Generator
    ) -> tuple[np.ndarray, list[Any] | None]:
        """(vectors, their primary keys when they are stored rows) of one sample."""
        kind, value = sample_kind(spec, role)
        if kind == "filter":
            vectors, keys, _ = self.stored(plan, value, role, rng)
            return vectors, keys
        field, version, max_rows = plan.field, plan.version, plan.max_rows
        if kind == "logged":
            value = self._logged(plan.info, field, value, role)
        if kind in ("texts", "logged"):
            if version is None:
                raise InvalidArgumentError(
                    f"{role}: texts need a model-bound field; {field.name!r} is not bound", argument=role
                )
            if not isinstance(value, list) or not all(isinstance(text, str) for text in value):
                raise InvalidArgumentError(f"{role}: texts must be a list of strings", argument=role)
            texts = (
                [value[i] for i in sorted(rng.choice(len(value), max_rows, replace=False))]
                if len(value) > max_rows
                else value
            )
            return embed_query_text(texts, version, self.models), None
        matrix = as_float_matrix(value, role) if isinstance(value, list | np.ndarray) else np.empty(0)
        if matrix.ndim != 2 or matrix.shape[1] != (version.dimension if version is not None else field.dim):
            raise InvalidArgumentError(f"{role}: vectors must be a list of {field.dim}-d vectors", argument=role)
        rows = sorted(rng.choice(len(matrix), max_rows, replace=False)) if len(matrix) > max_rows else slice(None)
        return matrix[rows], None

    def stored(
        self, plan: DriftPlan, expression: Any, role: str, rng: np.random.Generator
    ) -> tuple[np.ndarray, list[Any], int]:
        """A sample of the stored rows matching ``expression``: vectors, keys, and how many rows matched."""
        if not isinstance(expression, str):
            raise InvalidArgumentError(f"{role}: filter must be an expression string", argument=role)
        version, field = plan.version, plan.field
        key = version.column_key if version is not None else field.name
        dimension = version.dimension if version is not None else (field.dim or 0)
        return stored_sample(self.metadata, plan.info, key, dimension, expression, plan.max_rows, rng)

    def _logged(self, info: CollectionInfo, field: FieldSchema, window: Any, role: str) -> list[str]:
        """The field's sampled query texts in ``window`` (epoch seconds), each once per minute."""
        since, until = checked_window(f"{role}: logged", window)
        seen: dict[tuple[int, str], None] = {}
        for when, text in self.search_monitor.texts(info.id, field.name, since, until):
            seen.setdefault((int(when // 60), text))
        if len(seen) < 2:
            raise InvalidArgumentError(
                f"{role}: the field's search monitor kept {len(seen)} query texts in that window; a drift test needs more",
                argument=role,
            )
        return [text for _, text in seen]

    def _nearest(self, plan: DriftPlan, vectors: np.ndarray, keys: list[Any] | None) -> np.ndarray:
        """Each vector's distance to its nearest stored row other than itself (larger is farther)."""
        if not len(vectors):
            return np.empty(0)
        with self.search_monitor.capturing():  # the test's own searches are not traffic the field served
            hits = self.searcher.search(
                plan.info.name,
                np.ascontiguousarray(vectors, dtype=np.float32),
                anns_field=plan.field.name,
                limit=NEIGHBOURS,
                output_fields=[],
                embedding_version=plan.version.uri if plan.version is not None else None,
            )
        assert plan.field.metric_type is not None
        return nearest_distances(hits, vectors, keys, plan.field.metric_type, plan.info.name)


def sample_kind(spec: Any, role: str) -> tuple[str, Any]:
    """A sample's kind (``SAMPLE_KINDS``) and value, or the error naming the forms a sample takes."""
    if not isinstance(spec, Mapping) or len(spec) != 1 or next(iter(spec)) not in SAMPLE_KINDS:
        raise InvalidArgumentError(
            f"{role} must be one of {{'texts': [...]}}, {{'vectors': [...]}}, {{'filter': 'expression'}},"
            " {'logged': [since, until]}",
            argument=role,
        )
    kind, value = next(iter(spec.items()))
    return str(kind), value


def nearest_distances(
    hits: Sequence[Sequence[Mapping[str, Any]]],
    vectors: np.ndarray,
    keys: list[Any] | None,
    metric: MetricType,
    collection_name: str,
) -> np.ndarray:
    """From each sample item's nearest hits (``NEIGHBOURS``), its distance to the nearest row other than itself."""
    farther = 1.0 if metric.smaller_is_closer else -1.0
    copy = _copy_test(metric, vectors)
    distances = []
    for position, query in enumerate(hits):
        # Itself (a stored row) or an exact copy of it is no neighbour: the sample's kind must not matter.
        not_self = [hit for hit in query if keys is None or hit["id"] != keys[position]]
        others = [hit for hit in not_self if not copy(position, float(hit["distance"]))]
        if not not_self:
            raise InvalidArgumentError(
                f"the ood test needs stored rows besides the sample in {collection_name!r}; leave 'ood' out of tests",
                argument="tests",
            )
        # Only copies among the nearest: the item is as much in the domain as it can be.
        distances.append(farther * (others or not_self)[0]["distance"])
    return np.asarray(distances, dtype=np.float64)


def drift_report(
    plan: DriftPlan,
    samples: Mapping[str, tuple[np.ndarray, Any]],
    distances: Mapping[str, np.ndarray],
    *,
    alpha: float,
    permutations: int,
    seed: int,
) -> DriftReport:
    """The statistics of two samples (``embedb.evaluation.drift``), with what they were taken of."""
    report = detect_drift(
        samples["reference"][0],
        samples["current"][0],
        reference_distances=distances.get("reference"),
        current_distances=distances.get("current"),
        tests=plan.tests,
        alpha=alpha,
        permutations=permutations,
        seed=seed,
    )
    return cast(
        DriftReport,
        {
            "collection_name": plan.info.name,
            "field": plan.field.name,
            "model_version": plan.version.uri if plan.version is not None else None,
            "reference_rows": len(samples["reference"][0]),
            "current_rows": len(samples["current"][0]),
            **report,
        },
    )


def _copy_test(metric: Any, vectors: np.ndarray) -> Any:
    """``copy(position, distance)``: whether a hit at that distance is an exact copy of query ``position``."""
    if metric.smaller_is_closer:
        return lambda position, distance: distance <= 1e-9
    if metric is MetricType.COSINE:
        return lambda position, distance: distance >= 1.0 - 1e-6
    squares = np.einsum("ij,ij->i", vectors, vectors)  # IP: a copy scores its own squared norm
    return lambda position, distance: abs(distance - squares[position]) <= 1e-6 * max(1.0, abs(squares[position]))
