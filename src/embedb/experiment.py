"""A handle on one online experiment: ``col.start_experiment(...)`` returns it.

Like ``Collection``, it holds only the backend and the id, so it works the same
embedded and over HTTP::

    exp = col.start_experiment("embedding", champion="minilm@champion", challenger="minilm@challenger", mode="interleave")
    hits = col.search("a bill in a restaurant", user_key="user-17")   # each hit has query_id and arm
    col.feedback(hits[0][0]["query_id"], hits[0][0]["id"])            # a click
    report = exp.report()                                             # report.decision: promote / keep / undecided
    if report.decision is Decision.PROMOTE:
        exp.promote()
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from embedb.experiments import ExperimentReport

if TYPE_CHECKING:
    from embedb.contract import Backend, results


class Experiment:
    """One experiment of a ``Backend``, by id."""

    def __init__(self, backend: Backend, experiment_id: int) -> None:
        self.backend = backend
        self.id = experiment_id

    def __repr__(self) -> str:
        return f"Experiment({self.id})"

    def _repr_html_(self) -> str:
        """Its live report (the verdict, the numbers, the arms)."""
        return self.report()._repr_html_()

    def describe(self) -> results.ExperimentInfo:
        """Return its settings and state (``mode``, ``champion_version``, ``state``...); raises ``ExperimentNotFoundError``."""
        return self.backend.get_experiment(self.id)

    @property
    def state(self) -> str:
        """``RUNNING``, ``STOPPED`` or ``PROMOTED``."""
        return str(self.describe()["state"])

    def report(self) -> ExperimentReport:
        """Return the verdict (``.decision``, ``.verdict.reason``), the numbers per arm, and ``.to_dict()`` for JSON.

        Live while it runs; the final report once it ended. Raises ``ExperimentNotFoundError``.
        """
        return ExperimentReport.from_dict(self.backend.experiment_report(self.id))

    def trajectory(self, points: int = 20) -> list[results.TrajectoryPoint]:
        """The verdict at ``points`` moments of the experiment: decision, estimate and interval as they stood then."""
        return self.backend.experiment_trajectory(self.id, points=points)

    def promote(self, *, reason: str | None = None, actor: str | None = None) -> results.ExperimentPromotion:
        """Promote the challenger (serving version + model alias in one transaction) and end the experiment.

        Returns what moved. Raises ``InvalidStateError`` (it has ended) and
        ``FailedPreconditionError`` (the challenger's index is not built yet).
        """
        return self.backend.promote_experiment(self.id, reason=reason, actor=actor)

    def stop(self) -> results.ExperimentInfo:
        """End it without promoting; returns it. Raises ``InvalidStateError`` when it has ended already."""
        return self.backend.stop_experiment(self.id)
