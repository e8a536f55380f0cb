"""Has a model version decayed? Its recent searches and clicks against its own history, sequentially.

Three proportions of a version, each compared between a reference window and the
current one with the mixture sequential probability ratio test
(``embedb.evaluation.stats.msprt_two_proportions``), whose p-value is valid
however often it is looked at — a policy may ask every hour without raising its
false-alarm rate:

- ``ctr``: logged experiment queries with a click (decay: it falls);
- ``empty_rate``: searches with no hit (decay: it rises);
- ``low_similarity_rate``: searches whose top hit is below the similarity threshold
  (decay: it rises).

A signal is ``decayed`` when its p-value is below ``alpha / signals`` (Bonferroni over
the signals that have data in both windows) and it moved the bad way, so the
report's false-alarm rate is at most ``alpha``.
"""

from __future__ import annotations

from typing import Any

from embedb.evaluation.stats import msprt_two_proportions

WORSE_WHEN_LOWER = {"ctr": True, "empty_rate": False, "low_similarity_rate": False}


def decay_signals(
    reference: dict[str, tuple[int, int]], current: dict[str, tuple[int, int]], *, alpha: float
) -> dict[str, Any]:
    """``reference``/``current``: per signal (events, trials). Returns ``{"decayed", "signals": {...}}``."""
    usable = [name for name in WORSE_WHEN_LOWER if reference.get(name, (0, 0))[1] and current.get(name, (0, 0))[1]]
    signals: dict[str, Any] = {}
    for name in WORSE_WHEN_LOWER:
        (events_a, trials_a), (events_b, trials_b) = reference.get(name, (0, 0)), current.get(name, (0, 0))
        entry: dict[str, Any] = {
            "reference": events_a / trials_a if trials_a else None,
            "current": events_b / trials_b if trials_b else None,
            "reference_n": trials_a,
            "current_n": trials_b,
            "p_value": None,
            "decayed": False,
        }
        if name in usable:
            test = msprt_two_proportions(events_a, trials_a, events_b, trials_b, alpha=alpha)
            worse = test.estimate < 0 if WORSE_WHEN_LOWER[name] else test.estimate > 0
            entry.update(
                difference=test.estimate,
                p_value=test.p_value,
                decayed=bool(worse and test.p_value < alpha / len(usable)),
            )
        signals[name] = entry
    return {"decayed": any(entry["decayed"] for entry in signals.values()), "signals": signals}
