"""Online experiments and feedback over one ``Database`` (the rules are in ``embedb.experiments.service``).

Each method has the name and signature of its ``Backend`` operation. Searches
are routed through a running experiment by ``embedb.search``, not here.
"""

from __future__ import annotations

from typing import Any, cast

from embedb.contract.results import (
    ExperimentInfo,
    ExperimentPromotion,
    ExperimentReportInfo,
    FeedbackEvent,
    TrajectoryPoint,
)
from embedb.errors import InvalidArgumentError
from embedb.experiments import ExperimentRecord, ExperimentService
from embedb.metadata import CollectionMetadata
from embedb.search import ConfiguredSearch
from embedb.storage import StorageEngine

MAX_TRAJECTORY_POINTS = 200


class ExperimentOperations:
    """start / get / list / report / stop / promote experiments, and feedback on their queries."""

    def __init__(
        self, storage: StorageEngine, metadata: CollectionMetadata, experiments: ExperimentService, configured: ConfiguredSearch
    ) -> None:
        self.storage = storage
        self.metadata = metadata
        self.experiments = experiments
        self.configured = configured

    def start_experiment(
        self,
        collection_name: str,
        field_name: str,
        *,
        champion: str,
        challenger: str,
        mode: str,
        split: float = 0.5,
        k: int = 10,
        alpha: float = 0.05,
        sequential: bool = True,
        horizon: int | None = None,
    ) -> ExperimentInfo:
        """Route the field's text searches through a new experiment; return it (see ``Backend``)."""
        info = self.metadata.info(collection_name)
        if isinstance(field_name, str) and not info.schema.has_field(field_name):
            for reference in (champion, challenger):  # both arms must run here before any traffic is routed
                self.configured.check_config_version(info, reference)
        record = self.experiments.start(
            info,
            field_name,
            champion=champion,
            challenger=challenger,
            mode=mode,
            split=split,
            k=k,
            alpha=alpha,
            sequential=sequential,
            horizon=horizon,
        )
        return cast(ExperimentInfo, record.to_dict(info.name))

    def get_experiment(self, experiment_id: int) -> ExperimentInfo:
        record, name = self._experiment(experiment_id)
        return cast(ExperimentInfo, record.to_dict(name))

    def list_experiments(self, collection_name: str | None = None) -> list[ExperimentInfo]:
        collection_id = self.metadata.info(collection_name).id if collection_name is not None else None
        return cast(
            list[ExperimentInfo],
            [
                record.to_dict(self.storage.collection_by_id(record.collection_id).name)
                for record in self.experiments.store.select(collection_id)
            ],
        )

    def experiment_report(self, experiment_id: int) -> ExperimentReportInfo:
        record, name = self._experiment(experiment_id)
        return cast(ExperimentReportInfo, self.experiments.report(self.metadata.info(name), record).to_dict())

    def experiment_trajectory(self, experiment_id: int, *, points: int = 20) -> list[TrajectoryPoint]:
        if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_TRAJECTORY_POINTS:
            raise InvalidArgumentError(
                f"points must be an integer in [1, {MAX_TRAJECTORY_POINTS}], got {points!r}", argument="points"
            )
        record, name = self._experiment(experiment_id)
        return cast(list[TrajectoryPoint], self.experiments.trajectory(self.metadata.info(name), record, points))

    def stop_experiment(self, experiment_id: int) -> ExperimentInfo:
        record, name = self._experiment(experiment_id)
        return cast(ExperimentInfo, self.experiments.stop(self.metadata.info(name), record.id).to_dict(name))

    def promote_experiment(
        self, experiment_id: int, *, reason: str | None = None, actor: str | None = None
    ) -> ExperimentPromotion:
        record, name = self._experiment(experiment_id)
        ended, report, moved = self.experiments.promote(self.metadata.info(name), record.id, reason=reason, actor=actor)
        return cast(ExperimentPromotion, {**moved, "experiment": ended.to_dict(name), "report": report.to_dict()})

    def feedback(
        self, collection_name: str, query_id: str, doc_id: Any, *, kind: str = "click", relevance: float | None = None
    ) -> FeedbackEvent:
        return cast(
            FeedbackEvent,
            self.experiments.feedback(
                self.metadata.info(collection_name), query_id, doc_id, kind=kind, relevance=relevance
            ),
        )

    def _experiment(self, experiment_id: int) -> tuple[ExperimentRecord, str]:
        if isinstance(experiment_id, bool) or not isinstance(experiment_id, int):
            raise InvalidArgumentError(
                f"experiment_id must be an integer, got {experiment_id!r}", field="experiment_id"
            )
        record = self.experiments.store.get(experiment_id)
        return record, self.storage.collection_by_id(record.collection_id).name
