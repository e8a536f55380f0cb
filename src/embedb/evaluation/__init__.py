"""Judging models: ranking metrics, statistics and verdicts, offline and online.

Learn the layer from these names:

- ``evaluate_versions`` / ``exact_recall`` / ``read_queries`` / ``read_qrels`` /
  ``parse_metric`` — offline evaluation of model versions on labelled queries
  (BEIR files), with a paired randomization test and a bootstrap interval;
- ``METRICS`` / ``RankingEvaluation`` / ``evaluate_run`` / ``overlap_at_k`` —
  recall@k, nDCG@10, MRR@10 and overlap of two rankings;
- ``Verdict`` / ``Decision`` and ``offline_verdict`` / ``interleaving_verdict`` /
  ``split_verdict`` / ``gate_fails`` — what the numbers say: promote, keep or
  undecided, and why;
- ``stats`` — the statistical tests themselves (binomial, Wilson, mSPRT...).

What this layer does not do: it reads no collection and runs no search; callers
hand it rankings and counts. It depends on nothing but NumPy.
"""

from embedb.evaluation import stats
from embedb.evaluation.metrics import METRICS, RankingEvaluation, evaluate_run, overlap_at_k
from embedb.evaluation.offline import (
    Progress,
    evaluate_configs,
    evaluate_versions,
    exact_recall,
    parse_metric,
    read_qrels,
    read_queries,
)
from embedb.evaluation.verdict import (
    Decision,
    Verdict,
    gate_fails,
    interleaving_verdict,
    offline_verdict,
    split_verdict,
)

__all__ = [
    "METRICS",
    "Decision",
    "Progress",
    "RankingEvaluation",
    "Verdict",
    "evaluate_configs",
    "evaluate_run",
    "evaluate_versions",
    "exact_recall",
    "gate_fails",
    "interleaving_verdict",
    "offline_verdict",
    "overlap_at_k",
    "parse_metric",
    "read_qrels",
    "read_queries",
    "split_verdict",
    "stats",
]
