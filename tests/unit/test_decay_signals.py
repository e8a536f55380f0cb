"""Decay signals: the sequential test's false alarms stay under alpha when a version does not change, even looked at often."""

from __future__ import annotations

import numpy as np

from embedb.monitoring import decay_signals


def test_repeated_looks_at_an_unchanged_version_rarely_alarm() -> None:
    alarms = 0
    runs = 200
    for seed in range(runs):
        rng = np.random.default_rng(seed)
        history = rng.random(2_000) < 0.3  # clicks in the reference window
        stream = rng.random(2_000) < 0.3  # the same rate now
        looked = False
        for n in range(100, 2_001, 100):  # a policy asking every 100 queries
            clicks = int(stream[:n].sum())
            result = decay_signals({"ctr": (int(history.sum()), 2_000)}, {"ctr": (clicks, n)}, alpha=0.05)
            looked = looked or result["decayed"]
        alarms += looked
    assert alarms / runs <= 0.05, alarms


def test_a_real_drop_is_found() -> None:
    rng = np.random.default_rng(1)
    history, now = rng.random(2_000) < 0.3, rng.random(1_000) < 0.2
    result = decay_signals({"ctr": (int(history.sum()), 2_000)}, {"ctr": (int(now.sum()), 1_000)}, alpha=0.05)
    assert result["decayed"] and result["signals"]["ctr"]["difference"] < 0
    assert result["signals"]["empty_rate"]["p_value"] is None  # no data: not tested, not counted
    emptier = decay_signals({"empty_rate": (20, 1_000)}, {"empty_rate": (80, 1_000)}, alpha=0.05)
    assert emptier["decayed"] and emptier["signals"]["empty_rate"]["decayed"]
    fuller = decay_signals({"empty_rate": (80, 1_000)}, {"empty_rate": (20, 1_000)}, alpha=0.05)
    assert not fuller["decayed"], "fewer empty answers is no decay"
