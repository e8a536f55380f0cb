"""Monitoring of what each serving version answers: time series per (collection, field, model version).

Learn the layer from these names:

- ``SearchMonitor`` — counts every search of a model-bound field in memory per
  minute (queries, empty answers, top-1 score histogram, latency histogram) and
  writes the minutes to the catalog in the background (``monitor_minutes``,
  bounded retention), so a search pays a dictionary update and no I/O;
- ``Minute`` — one minute's counts; ``series`` reads them back resampled into
  buckets, with latency percentiles and the low-similarity rate computed from
  the histograms;
- ``feedback_series`` — clicks, click-through and the mean reciprocal rank of
  clicked hits per version, from the experiments' query logs and feedback;
- ``decay_signals`` — has a version's click-through fallen, or its empty or
  low-similarity rate risen, against its own history (an always-valid test).

What this layer does not do: it acts on nothing (drift tests are
``embedb.evaluation.drift``; policies are to build on these signals) and it
never slows a search down: if the catalog refuses a write, the minutes wait in
memory for the next attempt.
"""

from embedb.monitoring.decay import decay_signals
from embedb.monitoring.monitor import (
    LATENCY_EDGES_MS,
    SCORE_EDGES,
    Minute,
    SearchMonitor,
    checked_window,
    feedback_series,
)

__all__ = [
    "LATENCY_EDGES_MS",
    "SCORE_EDGES",
    "Minute",
    "SearchMonitor",
    "checked_window",
    "decay_signals",
    "feedback_series",
]
