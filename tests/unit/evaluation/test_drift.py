"""Drift tests: false alarms at most alpha on A/A samples, detection of real shifts, exact null laws.

Simulated with many seeds (numpy only, a few seconds): the decision's false-alarm rate
on exchangeable samples must stay at or under the nominal level (Bonferroni over the
three tests), and a shift of the mean or a new region of the space must be found.
"""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from embedb.errors import InvalidArgumentError
from embedb.evaluation.drift import _auc, _exceedance_tail, _ranks, detect_drift, ood_test

SEEDS = 150


def nearest(points: np.ndarray, corpus: np.ndarray) -> np.ndarray:
    squared = (points**2).sum(1)[:, None] + (corpus**2).sum(1)[None, :] - 2 * points @ corpus.T
    return np.sqrt(np.maximum(squared.min(axis=1), 0))


def test_false_alarms_stay_under_alpha_on_exchangeable_samples() -> None:
    alarms = {"classifier": 0, "mmd": 0, "ood": 0, "decision": 0}
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        corpus = rng.normal(size=(400, 16))
        reference, current = rng.normal(size=(120, 16)), rng.normal(size=(120, 16))
        report = detect_drift(
            reference,
            current,
            reference_distances=nearest(reference, corpus),
            current_distances=nearest(current, corpus),
            permutations=199,
            seed=seed,
        )
        alarms["decision"] += report["detected"]
        for name, test in report["tests"].items():
            alarms[name] += test["p_value"] < 0.05
    # each test's p-value is valid: about 5% below 0.05 (binomial sd 1.8% at 150 seeds); the decision at most alpha
    assert all(count / SEEDS <= 0.09 for count in alarms.values()), alarms
    assert alarms["decision"] / SEEDS <= 0.05 + 0.02, alarms


@pytest.mark.parametrize("rows", [100, 300])
def test_a_mean_shift_is_detected(rows: int) -> None:
    found = 0
    for seed in range(40):
        rng = np.random.default_rng(1_000 + seed)
        reference, current = rng.normal(size=(rows, 16)), rng.normal(size=(rows, 16))
        current[:, 0] += 1.0
        found += detect_drift(reference, current, permutations=199, seed=seed)["detected"]
    assert found >= 36, found  # 90% power at this shift


def test_a_new_region_is_out_of_domain() -> None:
    rng = np.random.default_rng(7)
    corpus = rng.normal(size=(500, 8))
    reference = rng.normal(size=(200, 8))
    current = np.vstack([rng.normal(size=(150, 8)), rng.normal(loc=4.0, size=(50, 8))])  # a quarter from elsewhere
    rate, p_value, detail = ood_test(nearest(reference, corpus), nearest(current, corpus))
    assert rate >= 0.25 and p_value < 1e-10 and detail["beyond"] >= 50


def test_the_exceedance_law_is_a_distribution_and_matches_simulation() -> None:
    n, m, j = 40, 30, 2
    assert sum(_exceedance_tail(x, j, n, m) - _exceedance_tail(x + 1, j, n, m) for x in range(m)) + _exceedance_tail(
        m, j, n, m
    ) == pytest.approx(1.0)
    rng = np.random.default_rng(3)
    draws = []
    for _ in range(4_000):
        values = rng.random(n + m)
        threshold = np.sort(values[:n])[::-1][j - 1]
        draws.append(int(np.count_nonzero(values[n:] > threshold)))
    for x in (1, 3, 6):
        assert np.mean(np.asarray(draws) >= x) == pytest.approx(_exceedance_tail(x, j, n, m), abs=0.025)


def test_auc_from_ranks_matches_pair_counting_with_ties() -> None:
    scores = np.array([0.1, 0.4, 0.4, 0.9, 0.3, 0.4, 0.2])
    positive = np.array([False, True, False, True, False, True, False])
    pairs = [(a, b) for a, b in combinations(range(len(scores)), 2) if positive[a] != positive[b]]
    wins = sum(
        1.0 if scores[p] > scores[q] else 0.5 if scores[p] == scores[q] else 0.0
        for a, b in pairs
        for p, q in [(a, b) if positive[a] else (b, a)]
    )
    assert _auc(_ranks(scores), positive) == pytest.approx(wins / (3 * 4))
    assert math.isclose(_auc(_ranks(np.arange(6.0)), np.array([False] * 3 + [True] * 3)), 1.0)


def test_bad_arguments_are_refused() -> None:
    sample = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(InvalidArgumentError, match="at least 10"):
        detect_drift(sample[:5], sample)
    with pytest.raises(InvalidArgumentError, match="unknown drift tests"):
        detect_drift(sample, sample, tests=["ks"])
    with pytest.raises(InvalidArgumentError, match="needs nearest-neighbour"):
        detect_drift(sample, sample, tests=["ood"])
    with pytest.raises(InvalidArgumentError, match="alpha"):
        detect_drift(sample, sample, alpha=1.5)
    with pytest.raises(InvalidArgumentError, match="finite"):
        detect_drift(np.full((20, 4), np.nan), sample)


def test_identical_constant_samples_are_no_drift() -> None:
    constant = np.ones((20, 16))  # every distance 0: MMD² of every permutation is rounding noise
    report = detect_drift(constant, constant.copy(), tests=["mmd", "classifier"], permutations=199)
    assert not report["detected"] and report["tests"]["mmd"]["p_value"] > 0.5


def test_bad_seeds_and_ragged_samples_are_refused() -> None:
    sample = np.random.default_rng(0).normal(size=(20, 4))
    with pytest.raises(InvalidArgumentError, match="seed"):
        detect_drift(sample, sample, seed=-1)
    with pytest.raises(InvalidArgumentError, match="equal-length"):
        detect_drift([[1.0, 2.0], [1.0]] * 10, sample)
