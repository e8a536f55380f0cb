"""``monitor`` (time series of what each model version of a field answered, and how users took it) and ``decay``."""

from __future__ import annotations

import math
import time
from typing import Any, cast

from embedb.contract.results import DecayReport, MonitorReport
from embedb.errors import InvalidArgumentError
from embedb.experiments import ExperimentService
from embedb.lifecycle import FieldBinding
from embedb.metadata import CollectionMetadata
from embedb.monitoring import Minute, SearchMonitor, checked_window, decay_signals, feedback_series
from embedb.monitoring.monitor import MAX_EPOCH_S, below, percentile
from embedb.schema import FieldSchema
from embedb.storage import CollectionInfo

MAX_BUCKETS = 10_000


class MonitoringOperation:
    """The ``monitor`` operation of the contract."""

    def __init__(self, metadata: CollectionMetadata, monitor: SearchMonitor, experiments: ExperimentService) -> None:
        self.metadata = metadata
        self.search_monitor = monitor
        self.experiments = experiments

    def _monitored_field(
        self, collection_name: str, field_name: str
    ) -> tuple[CollectionInfo, FieldSchema, FieldBinding]:
        """A model-bound field (its searches are the ones monitored); ``InvalidArgumentError`` for any other."""
        info = self.metadata.info(collection_name)
        field = self.metadata.search_field(info, field_name)
        binding = self.metadata.bindings(info).get(field.name)
        if binding is None:
            raise InvalidArgumentError(f"field {field.name!r} is not bound to a model: its searches are not monitored")
        return info, field, binding

    def monitor(
        self,
        collection_name: str,
        field_name: str,
        *,
        since: float | None = None,
        until: float | None = None,
        bucket_s: int = 3600,
        low_similarity: float = 0.3,
    ) -> MonitorReport:
        info, field, binding = self._monitored_field(collection_name, field_name)
        now = time.time()
        end = now if until is None else until
        start = end - 86_400 if since is None else since
        for name, value in (("since", start), ("until", end)):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
                or abs(value) > MAX_EPOCH_S
            ):
                raise InvalidArgumentError(f"{name} must be epoch seconds (at most {MAX_EPOCH_S:.0e})", argument=name)
        if isinstance(bucket_s, bool) or not isinstance(bucket_s, int) or bucket_s < 60 or bucket_s % 60:
            raise InvalidArgumentError(
                f"bucket_s must be a whole number of minutes (>= 60), got {bucket_s!r}", argument="bucket_s"
            )
        if not start <= end or (end - start) / bucket_s > MAX_BUCKETS:
            raise InvalidArgumentError(
                f"since..until must be ordered and span at most {MAX_BUCKETS} buckets", argument="since"
            )
        if (
            isinstance(low_similarity, bool)
            or not isinstance(low_similarity, int | float)
            or not -1 <= low_similarity <= 1
        ):
            raise InvalidArgumentError("low_similarity must be a similarity in [-1, 1]", argument="low_similarity")
        self.experiments.flush()
        minutes = self.search_monitor.minutes(info.id, field.name, start, end)
        clicks = feedback_series(self.experiments.store, info.id, field.name, start, end, bucket_s)
        versions: dict[str, Any] = {}
        for version in sorted(set(minutes) | set(clicks)):
            buckets: dict[float, Minute] = {}
            for minute, counts in minutes.get(version, []):
                buckets.setdefault(minute * 60 // bucket_s * bucket_s, Minute()).merge(counts)
            feedback = clicks.get(version, {})
            total, total_feedback = Minute(), {"logged": 0.0, "clicked": 0.0, "reciprocal_ranks": 0.0}
            series = []
            for bucket in sorted(set(buckets) | set(feedback)):
                counts = buckets.get(bucket, Minute())
                given = feedback.get(bucket, {"logged": 0.0, "clicked": 0.0, "reciprocal_ranks": 0.0})
                total.merge(counts)
                total_feedback = {key: total_feedback[key] + given[key] for key in total_feedback}
                series.append({"start": bucket, **_summary(counts, given, low_similarity)})
            versions[version] = {"buckets": series, "totals": _summary(total, total_feedback, low_similarity)}
        return cast(
            MonitorReport,
            {
                "collection_name": info.name,
                "field": field.name,
                "serving_version": binding.serving.uri,
                "since": start,
                "until": end,
                "bucket_s": bucket_s,
                "low_similarity": low_similarity,
                "versions": versions,
            },
        )

    def decay(
        self,
        collection_name: str,
        field_name: str,
        *,
        version: str | None = None,
        reference: list[float] | None = None,
        current: list[float] | None = None,
        alpha: float = 0.05,
        low_similarity: float = 0.3,
    ) -> DecayReport:
        info, field, binding = self._monitored_field(collection_name, field_name)
        if isinstance(alpha, bool) or not isinstance(alpha, int | float) or not 0 < alpha < 1:
            raise InvalidArgumentError(f"alpha must be in (0, 1), got {alpha!r}", argument="alpha")
        uri = binding.serving.uri if version is None else self.metadata.models.resolve(version).uri
        now = time.time()
        current_window = _window("current", current, (now - 86_400, now))
        reference_window = _window("reference", reference, (current_window[0] - 7 * 86_400, current_window[0]))
        start, end = min(reference_window[0], current_window[0]), max(reference_window[1], current_window[1])
        self.experiments.flush()
        minutes = self.search_monitor.minutes(info.id, field.name, start, end).get(uri, [])
        clicks = feedback_series(self.experiments.store, info.id, field.name, start, end, None).get(uri, {})
        result = decay_signals(
            _counts(minutes, clicks, reference_window, low_similarity),
            _counts(minutes, clicks, current_window, low_similarity),
            alpha=alpha,
        )
        return cast(
            DecayReport,
            {
                "collection_name": info.name,
                "field": field.name,
                "version": uri,
                "reference": list(reference_window),
                "current": list(current_window),
                "alpha": alpha,
                **result,
            },
        )


def _counts(
    minutes: list[tuple[int, Minute]],
    clicks: dict[float, dict[str, float]],
    window: tuple[float, float],
    threshold: float,
) -> dict[str, tuple[int, int]]:
    """(events, trials) of each decay signal within ``window``: searches by the minute they fell in, clicks exactly."""
    total = Minute()
    first_minute = int(window[0] // 60) * 60
    for minute, counts in minutes:
        if first_minute <= minute * 60 < window[1]:
            total.merge(counts)
    logged = sum(cell["logged"] for start, cell in clicks.items() if window[0] <= start < window[1])
    clicked = sum(cell["clicked"] for start, cell in clicks.items() if window[0] <= start < window[1])
    low, scored = below(total.scores, threshold)
    return {
        "ctr": (int(clicked), int(logged)),
        "empty_rate": (total.empty, total.queries),
        "low_similarity_rate": (low, scored),
    }


def _window(name: str, window: Any, default: tuple[float, float]) -> tuple[float, float]:
    return default if window is None else checked_window(name, window)


def _summary(counts: Minute, feedback: dict[str, float], threshold: float) -> dict[str, Any]:
    low, scored = below(counts.scores, threshold)
    logged = feedback["logged"]
    return {
        "queries": counts.queries,
        "empty_rate": counts.empty / counts.queries if counts.queries else None,
        "low_similarity_rate": low / scored if scored else None,
        "p50_ms": percentile(counts.latency, 0.5),
        "p95_ms": percentile(counts.latency, 0.95),
        "p99_ms": percentile(counts.latency, 0.99),
        "logged": int(logged),
        "clicks": int(feedback["clicked"]),
        "ctr": feedback["clicked"] / logged if logged else None,
        "mrr": feedback["reciprocal_ranks"] / logged if logged else None,
    }
