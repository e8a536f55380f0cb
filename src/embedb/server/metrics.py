"""Prometheus metrics of one server app, in a registry of its own (two apps in a process never mix).

Request metrics are labelled by route template, never by raw path, so their
cardinality is bounded by the operation table. Storage metrics (rows and
segments per collection, index build progress) are read from the backend when
``/metrics`` is scraped, not maintained on the write path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from embedb.contract import Backend
from embedb.errors import EmbedbError

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class StorageCollector(Collector):
    """Rows, segments, index build and backfill progress, read from the backend at scrape time."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend

    def collect(self) -> Iterator[GaugeMetricFamily]:
        rows = GaugeMetricFamily("embedb_collection_rows", "Live rows per collection.", labels=["collection"])
        growing = GaugeMetricFamily(
            "embedb_collection_growing_rows", "Rows not yet sealed into a segment.", labels=["collection"]
        )
        segments = GaugeMetricFamily(
            "embedb_collection_segments", "Sealed segments per collection.", labels=["collection"]
        )
        deleted = GaugeMetricFamily(
            "embedb_collection_deleted_rows", "Rows marked deleted, not yet compacted away.", labels=["collection"]
        )
        indexes = GaugeMetricFamily(
            "embedb_index_build_progress",
            "Fraction of rows an index covers (1.0 = built).",
            labels=["collection", "index"],
        )
        backfill = GaugeMetricFamily(
            "embedb_backfill_progress",
            "Fraction of rows a backfill job has embedded, by job (unfinished jobs only).",
            labels=["collection", "field", "job"],
        )
        labels = ["collection", "field", "version"]
        version_families = [
            (GaugeMetricFamily(f"embedb_version_{key}_last_hour", help_text, labels=labels), key)
            for key, help_text in (
                ("queries", "Searches a model version answered in the last hour."),
                ("empty_rate", "Share of them with no hit."),
                ("low_similarity_rate", "Share whose top hit's similarity was below 0.3."),
                ("p95_ms", "95th percentile latency (upper edge of its histogram bin), milliseconds."),
                ("ctr", "Click-through of its experiment queries."),
            )
        ]
        try:
            names = self._backend.list_collections()
        except EmbedbError:
            names = []
        for name in names:
            try:
                stats = self._backend.get_collection_stats(name)
            except EmbedbError:  # dropped between listing and reading
                continue
            rows.add_metric([name], float(stats.get("row_count", 0)))
            growing.add_metric([name], float(stats.get("growing_rows", 0)))
            segments.add_metric([name], float(stats.get("sealed_segments", 0)))
            deleted.add_metric([name], float(stats.get("deleted_rows", 0)))
            for index, progress in self._index_progress(name):
                indexes.add_metric([name, index], progress)
            for field, version, totals in self._version_totals(name):
                for family, key in version_families:
                    if totals.get(key) is not None:
                        family.add_metric([name, field, version], float(totals[key]))
        for job in self._unfinished_jobs():
            backfill.add_metric(
                [str(job.get("collection_name")), str(job.get("field")), str(job.get("job_id"))], float(job["progress"])
            )
        dropped = GaugeMetricFamily(
            "embedb_experiment_dropped_queries",
            "Routed queries the experiment query log could not write, by experiment (its report rests on incomplete logs).",
            labels=["experiment"],
        )
        for experiment_id, count in self._dropped_queries().items():
            dropped.add_metric([str(experiment_id)], float(count))
        yield from (rows, growing, segments, deleted, indexes, backfill, dropped)
        yield from (family for family, _ in version_families)

    def _version_totals(self, collection: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(field, version, last hour's totals)`` of each model-bound field, for backends that monitor searches."""
        try:
            bound = self._backend.describe_collection(collection).get("embedding_versions", {})
            for field in bound:
                report = self._backend.monitor(collection, field, since=time.time() - 3600, bucket_s=3600)
                for version, series in report["versions"].items():
                    yield field, version, series["totals"]
        except EmbedbError as error:
            log.debug("monitoring of %s unavailable: %s", collection, error)

    def _dropped_queries(self) -> dict[int, int]:
        """Lost experiment log entries by experiment, for backends that log experiment queries in this process."""
        counts = getattr(getattr(self._backend, "experiments", None), "dropped_by_experiment", None)
        if not callable(counts):
            return {}
        try:
            return dict(counts())
        except EmbedbError as error:
            log.debug("experiment log losses unavailable: %s", error)
            return {}

    def _unfinished_jobs(self) -> list[dict[str, Any]]:
        """Backfill jobs still to finish, for backends that run them (``list_jobs``)."""
        list_jobs = getattr(self._backend, "list_jobs", None)
        if not callable(list_jobs):
            return []
        try:
            jobs = list_jobs()
        except EmbedbError as error:
            log.debug("backfill progress unavailable: %s", error)
            return []
        return [job for job in jobs if isinstance(job, dict) and job.get("finished_at") is None and "progress" in job]

    def _index_progress(self, collection: str) -> Iterator[tuple[str, float]]:
        """``(index name, fraction built)`` for backends that have indexes (the contract grows them)."""
        list_indexes = getattr(self._backend, "list_indexes", None)
        describe_index = getattr(self._backend, "describe_index", None)
        if not callable(list_indexes) or not callable(describe_index):
            return
        try:
            for index in list_indexes(collection):
                described: dict[str, Any] = describe_index(collection, index)
                total = float(described.get("total_rows") or 0)
                indexed = float(described.get("indexed_rows") or 0)
                yield str(index), (indexed / total if total else 1.0)
        except (EmbedbError, TypeError, AttributeError) as error:
            log.debug("index progress of %s unavailable: %s", collection, error)


class ServerMetrics:
    """The counters and histograms one app updates, plus the storage collector."""

    def __init__(self, backend: Backend) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "embedb_http_requests",
            "HTTP requests by route and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "embedb_http_request_duration_seconds",
            "HTTP request latency by route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge("embedb_http_requests_in_flight", "Requests being served now.", registry=self.registry)
        self.operation_seconds = Histogram(
            "embedb_operation_duration_seconds",
            'Backend call latency by operation (search latency is operation="search").',
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(StorageCollector(backend))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one finished request and record its latency."""
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)

    @contextmanager
    def time_operation(self, operation: str) -> Iterator[None]:
        """Observe the duration of the backend call inside the block (failed calls included)."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.operation_seconds.labels(operation).observe(time.perf_counter() - started)

    def render(self) -> bytes:
        """The Prometheus text exposition of every metric."""
        return generate_latest(self.registry)
