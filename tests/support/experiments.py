"""An experiment record built in memory, for tests of routing and reports that need no database."""

from __future__ import annotations

from embedb.experiments.records import ExperimentMode, ExperimentRecord, ExperimentState


def record(mode: ExperimentMode, *, split: float = 0.5) -> ExperimentRecord:
    return ExperimentRecord(
        id=7,
        collection_id=1,
        field="embedding",
        mode=mode,
        champion="toy@champion",
        challenger="toy@challenger",
        champion_version="models:/toy/1",
        challenger_version="models:/toy/2",
        champion_key="embedding@toy/1",
        challenger_key="embedding@toy/2",
        split=split,
        k=10,
        alpha=0.05,
        sequential=True,
        horizon=None,
        salt="salt",
        state=ExperimentState.RUNNING,
        created_at=0.0,
        ended_at=None,
        final_report=None,
    )
