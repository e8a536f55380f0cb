"""Model-bound collections for the lifecycle contract tests, and checks those tests share.

A bound collection has a text field and a vector field ``embedding`` that follows
``<model>@champion``; its model is registered by the test under a name no other
test uses (a backend's registry is shared by every collection on it).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from embedb.client import Client
from embedb.contract import results
from embedb.errors import EmbedbError

HASH_16 = "embedb.models.testing:hash_embed_16"
HASH_8 = "embedb.models.testing:hash_embed_8"
GATED_8 = "tests.support.toy_embedders:gated_hash_8"
SCRAMBLED_8 = "tests.support.toy_embedders:scrambled_8"
FIELD = "embedding"
TEXTS = (
    "red apple pie",
    "green apple tart",
    "stock market crash",
    "market prices fall",
    "blue whale song",
    "whale river",
)


def unique_model() -> str:
    return f"m_{uuid.uuid4().hex[:10]}"


def bound_schema(
    model: str, *, follows: str = "champion", max_length: int = 400, text_ids: bool = False
) -> dict[str, Any]:
    """``id``, ``text`` and ``embedding`` (from ``text``, following ``model@follows``), as ``create_collection`` takes it.

    ``text_ids``: the primary key is a VARCHAR (the revdict set's ids), not an INT64.
    """
    key = {"type": "VARCHAR", "max_length": 32} if text_ids else {"type": "INT64"}
    return {
        "fields": [
            {"name": "id", **key, "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": max_length},
            {"name": FIELD, "type": "FLOAT_VECTOR", "source": "text", "model": f"{model}@{follows}"},
        ]
    }


def bound_collection(
    db: Client,
    name: str,
    model: str,
    *,
    challenger: str = HASH_8,
    segments: Sequence[Sequence[str]] = (TEXTS,),
    backfill: bool = True,
) -> None:
    """Register ``model`` 1 (``hash_embed_16``, alias champion) and 2 (``challenger``, alias challenger),
    create ``name`` following ``model@champion``, insert one sealed segment per entry of ``segments``
    (ids count up from 0) and, with ``backfill``, add version 2 to the field and wait until it is DONE.
    """
    db.register_model(model, HASH_16, alias="champion")
    db.register_model(model, challenger, alias="challenger")
    db.create_collection(name, schema=bound_schema(model))
    first = 0
    for texts in segments:
        db.insert(name, [{"id": first + i, "text": text} for i, text in enumerate(texts)])
        db.flush(name)
        first += len(texts)
    if backfill:
        job = db.add_embedding_version(name, FIELD, f"{model}@challenger", wait=True, timeout=60)
        assert job["state"] == "DONE", job


def wait_until_embedding(db: Client, job_id: int, *, rows_total: int, timeout_s: float = 20.0) -> results.Job:
    """Poll a job until it is RUNNING and has counted its rows (so it is inside its first chunk); return it."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = db.get_job(job_id)
        if job["state"] == "RUNNING" and job["rows_total"] == rows_total:
            return job
        assert job["state"] in ("PENDING", "RUNNING"), job
        assert time.monotonic() < deadline, f"job {job_id} did not start embedding: {job}"
        time.sleep(0.02)


@contextmanager
def raises_exactly(error: type[EmbedbError], match: str | None = None) -> Iterator[pytest.ExceptionInfo[EmbedbError]]:
    """Like ``pytest.raises``, but a subclass does not do: both backends must raise this very class."""
    with pytest.raises(error, match=match) as caught:
        yield caught
    assert type(caught.value) is error, f"expected {error.__name__}, got {type(caught.value).__name__}: {caught.value}"
