"""Offline evaluation of a field's model versions on labelled queries, and the CI/CD gate.

Each labelled query (BEIR layout: ``queries.jsonl`` and ``qrels.tsv``) is searched
once per model version with that version's vectors and query embedding
(``search(..., embedding_version=)``), and the runs are scored with
:func:`embedb.evaluation.metrics.evaluate_run`: recall@k, nDCG@10 and MRR@10.
Every other version is compared with the baseline on the gate metric by a paired
randomization test and a paired bootstrap interval of the mean difference
(:func:`embedb.evaluation.verdict.offline_verdict`). The gate fails when the candidate
is significantly worse than the baseline by more than ``min_delta``
(:func:`embedb.evaluation.verdict.gate_fails`): a drop that cannot be told from noise
does not block a pipeline.

The ANN check compares each version's index with exact search on the same query
vectors: recall@k of the index against the exact top k, and per-query latency.
How to embed, search and check is handed in by the backend (seams), so this module
knows nothing of storage.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embedb.contract.search_configs import checked_configs
from embedb.errors import InvalidArgumentError
from embedb.evaluation.metrics import METRICS, RankingEvaluation, evaluate_run
from embedb.evaluation.verdict import gate_fails, offline_verdict

SEARCH_BATCH = 256
MAX_DEPTH = 1000

Embed = Callable[[str, list[str]], np.ndarray]
"""``embed(version, texts)``: query vectors made by that model version."""
SearchIds = Callable[[str, np.ndarray, int], list[list[Any]]]
"""``search(version, vectors, depth)``: ranked primary keys per query vector."""
AnnCheck = Callable[[str, np.ndarray, int], dict[str, Any]]
"""``check(version, vectors, k)``: the index's recall@k against exact search, and its latency."""
Progress = Callable[[str, int, int], None]
"""``progress(version, queries_done, queries_total)``."""


def read_queries(path: str | Path) -> dict[str, str]:
    """Read BEIR ``queries.jsonl`` (``{"_id" or "id", "text"}`` per line); raise ``InvalidArgumentError``."""
    queries: dict[str, str] = {}
    for number, line in enumerate(_read(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            query_id = record["_id"] if "_id" in record else record["id"]
            text = record["text"]
        except (ValueError, KeyError, TypeError) as error:
            raise InvalidArgumentError(
                f"{path}, line {number}: expected a JSON object with _id (or id) and text: {error}"
            ) from None
        if not isinstance(text, str):
            raise InvalidArgumentError(f"{path}, line {number}: text must be a string")
        queries[str(query_id)] = text
    return queries


def read_qrels(path: str | Path) -> dict[str, dict[str, float]]:
    """Read BEIR ``qrels.tsv`` (``query-id, corpus-id, score``, with or without its header)."""
    qrels: dict[str, dict[str, float]] = {}
    for number, row in enumerate(csv.reader(_read(path).splitlines(), delimiter="\t"), start=1):
        if not row or (number == 1 and row[0] == "query-id"):
            continue
        if len(row) < 3:
            raise InvalidArgumentError(
                f"{path}, line {number}: expected query-id, corpus-id and score separated by tabs"
            )
        try:
            grade = float(row[2])
        except ValueError:
            raise InvalidArgumentError(f"{path}, line {number}: the score {row[2]!r} is not a number") from None
        qrels.setdefault(row[0], {})[row[1]] = grade
    return qrels


def parse_metric(metric: str) -> tuple[str, int]:
    """Split ``"ndcg@10"`` into ``("ndcg", 10)``; raise ``InvalidArgumentError`` naming the known metrics."""
    name, _, cutoff = str(metric).lower().partition("@")
    if name not in METRICS or not cutoff.isdigit() or not 1 <= int(cutoff) <= MAX_DEPTH:
        known = ", ".join(f"{m}@k" for m in METRICS)
        raise InvalidArgumentError(
            f"metric must be one of {known} (1 <= k <= {MAX_DEPTH}), got {metric!r}", field="metric"
        )
    return name, int(cutoff)


def evaluate_versions(
    *,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, float]],
    versions: Sequence[str],
    embed: Embed,
    search: SearchIds,
    k: int = 10,
    baseline: str | None = None,
    candidate: str | None = None,
    metric: str = "ndcg@10",
    min_delta: float = 0.0,
    alpha: float = 0.05,
    ann_check: AnnCheck | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Score every version on the judged queries, compare each with the baseline, and gate the candidate.

    ``versions`` are model references the field holds (``"minilm@champion"``,
    ``"minilm/2"``); ``baseline`` defaults to the first and ``candidate`` to the second.
    Returns a JSON-ready dict: per version its metrics (and ANN check), per other
    version its verdict against the baseline, and the gate (``passed`` is False when
    the candidate is significantly worse).

    Raises:
        InvalidArgumentError: bad queries or qrels (a judged query without text, no
            judged query with a relevant document), no versions, a bad metric, k or
            ``min_delta``.
    """
    metric_name, metric_cutoff = parse_metric(metric)
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= MAX_DEPTH:
        raise InvalidArgumentError(f"k must be an integer in [1, {MAX_DEPTH}], got {k!r}", field="k")
    if (
        isinstance(min_delta, bool)
        or not isinstance(min_delta, int | float)
        or not (math.isfinite(min_delta) and min_delta >= 0)
    ):
        raise InvalidArgumentError(f"min_delta must be a finite number >= 0, got {min_delta!r}", field="min_delta")
    ordered = _versions(versions, baseline, candidate)
    baseline = baseline or ordered[0]
    candidate = candidate or (next((v for v in ordered if v != baseline), None))
    judged, texts, labels = _judged(queries, qrels)
    gate_metric = f"{metric_name}@{metric_cutoff}"
    cutoffs = sorted({k, 10, metric_cutoff})
    report: dict[str, Any] = {
        "k": k,
        "metric": gate_metric,
        "alpha": alpha,
        "min_delta": float(min_delta),
        "queries": len(judged),
        "baseline": baseline,
        "candidate": candidate,
        "versions": {},
        "comparisons": {},
    }
    evaluations: dict[str, dict[int, RankingEvaluation]] = {}
    for version in ordered:
        vectors = embed(version, texts)
        ranked: list[list[Any]] = []
        for start in range(0, len(texts), SEARCH_BATCH):
            ranked.extend(search(version, vectors[start : start + SEARCH_BATCH], max(cutoffs)))
            if progress is not None:
                progress(version, min(start + SEARCH_BATCH, len(texts)), len(texts))
        run = {query_id: [str(doc) for doc in ids] for query_id, ids in zip(judged, ranked, strict=True)}
        evaluations[version] = {cutoff: evaluate_run(run, labels, k=cutoff) for cutoff in cutoffs}
        names = [f"recall@{k}", "ndcg@10", "mrr@10", gate_metric]
        report["versions"][version] = {
            "metrics": {
                name: evaluations[version][int(name.split("@")[1])].mean(name) for name in dict.fromkeys(names)
            },
            "ann": ann_check(version, vectors, k) if ann_check is not None else None,
        }
    for version in ordered:
        if version == baseline:
            continue
        verdict = offline_verdict(
            evaluations[baseline][metric_cutoff].values(gate_metric),
            evaluations[version][metric_cutoff].values(gate_metric),
            metric_name=gate_metric,
            alpha=alpha,
            min_delta=float(min_delta),
        )
        report["comparisons"][version] = verdict.to_dict()
        if version == candidate:
            failed = gate_fails(verdict, min_delta=float(min_delta))
            report["verdict"] = verdict.to_dict()
            report["gate"] = {
                "passed": not failed,
                "reason": _gate_reason(failed, baseline, candidate, gate_metric, float(min_delta), verdict.ci),
            }
    return report


def _versions(versions: Sequence[str], baseline: str | None, candidate: str | None) -> list[str]:
    if isinstance(versions, str):
        versions = [versions]
    ordered = [v for v in (*versions, baseline, candidate) if v is not None]
    if not ordered:
        raise InvalidArgumentError(
            "name the model versions to evaluate (versions=, or baseline= and candidate=)", field="versions"
        )
    for version in ordered:
        if not isinstance(version, str) or not version:
            raise InvalidArgumentError(
                f"a model version reference must be a non-empty string, got {version!r}", field="versions"
            )
    return list(dict.fromkeys(ordered))


def _judged(
    queries: Mapping[str, str], qrels: Mapping[str, Mapping[str, float]]
) -> tuple[list[str], list[str], dict[str, dict[str, float]]]:
    if not isinstance(queries, Mapping) or not isinstance(qrels, Mapping):
        raise InvalidArgumentError("queries must map query ids to texts and qrels query ids to {doc id: grade}")
    judged = [query_id for query_id in sorted(qrels) if any(float(g) > 0 for g in qrels[query_id].values())]
    if not judged:
        raise InvalidArgumentError("qrels hold no query with a relevant document (grade > 0)", field="qrels")
    missing = [query_id for query_id in judged if not isinstance(queries.get(query_id), str)]
    if missing:
        raise InvalidArgumentError(
            f"{len(missing)} judged queries have no text in queries, e.g. {missing[:3]}", field="queries"
        )
    labels = {query_id: {str(doc): float(grade) for doc, grade in qrels[query_id].items()} for query_id in judged}
    return judged, [queries[query_id] for query_id in judged], labels


def _gate_reason(
    failed: bool, baseline: str, candidate: str, metric: str, min_delta: float, ci: tuple[float, float] | None
) -> str:
    interval = f"[{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci is not None else "none"
    if failed:
        return (
            f"fail: {candidate} is significantly worse than {baseline} on {metric} "
            f"(interval of the difference {interval} lies below -{min_delta:g})"
        )
    return f"pass: {candidate} is not significantly worse than {baseline} on {metric} (interval of the difference {interval})"


def _read(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidArgumentError(f"cannot read {path}: {error}") from error


def exact_recall(ann: np.ndarray, exact: np.ndarray, missing: int) -> float:
    """Mean over queries of |ANN top k ∩ exact top k| / |exact top k|; rows are ids with ``missing`` as padding."""
    shares = []
    for found, truth in zip(ann.tolist(), exact.tolist(), strict=True):
        wanted = {item for item in truth if item != missing}
        if wanted:
            shares.append(len(wanted & set(found)) / len(wanted))
    return float(np.mean(shares)) if shares else 1.0


ConfigRun = Callable[[dict[str, Any], list[str], int], list[list[Any]]]
"""``run(config, texts, depth)``: ranked primary keys per query text, searched with one search configuration."""


def evaluate_configs(
    *,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, float]],
    configs: Mapping[str, Mapping[str, Any] | str] | Any,
    resolve: Callable[[str], tuple[str, dict[str, Any]]],
    run: ConfigRun,
    k: int = 10,
    baseline: str | None = None,
    candidate: str | None = None,
    metric: str = "ndcg@10",
    min_delta: float = 0.0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """``evaluate_versions`` over search configurations (``evaluate_search``): each searched with the query text.

    ``configs`` maps a name to a configuration or to a registered configuration version, which
    ``resolve`` turns into (its URI, its configuration). Raises ``InvalidArgumentError`` for a bad
    configuration (named), or a baseline or candidate that names none.
    """
    given = dict(configs) if isinstance(configs, Mapping) else {}
    registered = {name: resolve(ref) for name, ref in given.items() if isinstance(ref, str)}
    resolved = {**given, **{name: config for name, (_, config) in registered.items()}}
    checked = checked_configs(resolved if given else configs)  # names what is wrong with a bad one
    for role, name in (("baseline", baseline), ("candidate", candidate)):
        if name is not None and name not in checked:
            raise InvalidArgumentError(f"{role} {name!r} names no configuration; configs: {sorted(checked)}", field=role)

    def texts_as_given(_: str, texts: list[str]) -> np.ndarray:
        return np.asarray(texts, dtype=object)  # each configuration searches with the query text itself

    def search_ids(name: str, texts: np.ndarray, depth: int) -> list[list[Any]]:
        return run(dict(checked[name]), [str(text) for text in texts], depth)

    report = evaluate_versions(
        queries=queries,
        qrels=qrels,
        versions=list(checked),
        embed=texts_as_given,
        search=search_ids,
        k=k,
        baseline=baseline,
        candidate=candidate,
        metric=metric,
        min_delta=min_delta,
        progress=progress,
    )
    for name, entry in report["versions"].items():
        entry["config"] = dict(checked[name])
        if name in registered:
            entry["model_version"] = registered[name][0]
    return report
