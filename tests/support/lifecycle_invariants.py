"""What must hold of a collection's lifecycle whenever no transition is half done (issue 18).

``lifecycle_violations`` reads a collection through any client (embedded or over
HTTP) and returns each broken invariant as a sentence, so a test asserts the list
is empty and a client process can print them:

- the serving version of every model-bound field is READY (never RETIRING or RETIRED);
- the model alias a field follows names its serving version (the field is the alias's
  one follower in these tests);
- every row has a vector of every READY version of the field;
- a RUNNING experiment's champion is the version serving its field, one per field;
- each version's latest job agrees with the version: DONE ⇒ READY (or RETIRED when a
  later drop removed it), CANCELLED ⇒ RETIRED, an unfinished job ⇒ BACKFILLING.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from embedb.client import Client

UNFINISHED_JOB_STATES = ("PENDING", "RUNNING", "PAUSED", "FAILED")


def lifecycle_violations(db: Client, collection: str, *, dropped: Collection[str] = ()) -> list[str]:
    """Every invariant of the module docstring that ``collection`` breaks; ``dropped``: versions a drop may have retired after their job."""
    described = db.describe_collection(collection)
    followed = {field["name"]: field.get("model") for field in described["fields"]}
    ids = [row["id"] for row in db.query(collection, "", output_fields=["id"], limit=16384)]
    found: list[str] = []
    serving_by_field: dict[str, str] = {}
    for field, versions in described["embedding_versions"].items():
        by_uri = {version["model_version"]: version for version in versions}
        serving = [version for version in versions if version["serving"]]
        if len(serving) != 1:
            found.append(f"field {field!r} has {len(serving)} serving versions")
            continue
        serving_uri = serving_by_field[field] = serving[0]["model_version"]
        if serving[0]["state"] != "READY":
            found.append(f"{serving_uri} serves field {field!r} while {serving[0]['state']}")
        found.extend(_alias_violations(db, field, followed.get(field), serving_uri))
        for version in versions:
            if version["state"] == "READY":
                found.extend(_missing_vectors(db, collection, field, version["model_version"], ids))
        found.extend(_job_violations(db, collection, field, by_uri, dropped))
    running: dict[str, int] = {}
    for experiment in db.list_experiments(collection):
        if experiment["state"] != "RUNNING":
            continue
        field = experiment["field"]
        running[field] = running.get(field, 0) + 1
        if experiment["champion_version"] != serving_by_field.get(field):
            found.append(
                f"experiment {experiment['experiment_id']} runs with champion {experiment['champion_version']}"
                f" while {serving_by_field.get(field)} serves field {field!r}"
            )
    found.extend(f"{count} experiments run on field {field!r}" for field, count in running.items() if count > 1)
    return found


def _alias_violations(db: Client, field: str, model_ref: Any, serving_uri: str) -> list[str]:
    if not isinstance(model_ref, str) or "@" not in model_ref:
        return []
    named = db.describe_model_version(model_ref)["uri"]
    return [] if named == serving_uri else [f"{model_ref} names {named} while {serving_uri} serves field {field!r}"]


def _missing_vectors(db: Client, collection: str, field: str, uri: str, ids: list[Any]) -> list[str]:
    tag = f"{field}@{uri}"
    missing = [row["id"] for row in db.get(collection, ids, output_fields=[tag]) if row.get(tag) is None]
    return [f"{uri} of field {field!r} is READY but {len(missing)} rows lack its vector"] if missing else []


def _job_violations(
    db: Client, collection: str, field: str, by_uri: dict[str, dict[str, Any]], dropped: Collection[str]
) -> list[str]:
    latest = {job["model_version"]: job for job in db.list_jobs(collection) if job["field"] == field}
    found = []
    for uri, job in latest.items():
        state = by_uri[uri]["state"] if uri in by_uri else None
        if job["state"] == "DONE":
            allowed = ("READY", "RETIRED") if uri in dropped else ("READY",)
        elif job["state"] == "CANCELLED":
            allowed = ("RETIRED",)
        else:
            allowed = ("BACKFILLING",)
        if state not in allowed:
            found.append(f"job {job['job_id']} of {uri} is {job['state']} while the version is {state}")
    return found
