"""The same lifecycle mistake gets the same error embedded and over HTTP: class and message, side by side.

The other contract tests run each case once per backend and check the class;
this one runs every case on both backends in the same state and compares what
they raised, so a message that drifts on one side (or a different subclass) fails.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.support.bound_collections import FIELD, bound_collection, unique_model

from embedb.client import Client
from embedb.errors import EmbedbError

UNKNOWN_ID = 987_654_321
Case = Callable[[Client], object]


def outcome(db: Client, case: Case) -> tuple[str, str]:
    try:
        case(db)
    except EmbedbError as error:
        return type(error).__name__, str(error)
    return "no error", ""


def test_lifecycle_errors_are_identical_embedded_and_over_http(embedded_db: Client, http_db: Client, name: str) -> None:
    model = unique_model()
    backends = {"embedded": embedded_db, "http": http_db}
    for db in backends.values():
        bound_collection(db, name, model)
    v1, v2, champion = f"{model}/1", f"{model}/2", f"{model}@champion"

    def finished_job(db: Client) -> int:
        return db.list_jobs(name)[0]["job_id"]

    cases: dict[str, tuple[str, Case]] = {
        "unknown job": ("JobNotFoundError", lambda db: db.get_job(UNKNOWN_ID)),
        "pause a finished job": ("InvalidStateError", lambda db: db.pause_job(finished_job(db))),
        "cancel a finished job": ("InvalidStateError", lambda db: db.cancel_job(finished_job(db))),
        "add a held version": ("AlreadyExistsError", lambda db: db.add_embedding_version(name, FIELD, v2)),
        "drop the serving version": ("InUseError", lambda db: db.drop_embedding_version(name, FIELD, v1)),
        "promote the serving version": ("FailedPreconditionError", lambda db: db.promote(name, FIELD, v1)),
        "roll back without a promotion": ("FailedPreconditionError", lambda db: db.rollback(name, FIELD)),
        "promote on an unbound field": ("InvalidArgumentError", lambda db: db.promote(name, "text", v2)),
        "unknown alias": ("AliasNotFoundError", lambda db: db.describe_model_version(f"{model}@staging")),
        "unknown version": ("ModelVersionNotFoundError", lambda db: db.describe_model_version(f"{model}/9")),
        "unknown model": ("ModelNotFoundError", lambda db: db.describe_model(f"{model}_missing")),
        "malformed uri": ("InvalidArgumentError", lambda db: db.describe_model_version(f"{model}/0")),
        "delete an aliased version": ("InUseError", lambda db: db.delete_model_version(model, 1)),
        "alias a missing version": ("ModelVersionNotFoundError", lambda db: db.set_model_alias(model, "x", 9)),
        "bad experiment mode": (
            "InvalidArgumentError",
            lambda db: db.start_experiment(name, FIELD, champion=champion, challenger=v2, mode="bandit"),
        ),
        "champion that does not serve": (
            "FailedPreconditionError",
            lambda db: db.start_experiment(name, FIELD, champion=v2, challenger=v1, mode="split"),
        ),
        "unknown experiment": ("ExperimentNotFoundError", lambda db: db.experiment_report(UNKNOWN_ID)),
        "feedback on an unknown query": ("ExperimentNotFoundError", lambda db: db.feedback(name, "0" * 32, 1)),
        "bad evaluation metric": (
            "InvalidArgumentError",
            lambda db: db.evaluate(
                name, FIELD, queries={"q": "x"}, qrels={"q": {"1": 1.0}}, versions=[v1], metric="map@10"
            ),
        ),
    }
    for label, (expected, case) in cases.items():
        seen = {backend: outcome(db, case) for backend, db in backends.items()}
        assert seen["embedded"] == seen["http"], f"{label}: {seen}"
        assert seen["embedded"][0] == expected, f"{label}: {seen}"
