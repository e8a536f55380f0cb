"""A policy step that an operation refuses is recorded as blocked, and the loop stays where it was."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import embedb
from embedb.engine.policies import PolicyOperation
from embedb.errors import InvalidArgumentError


def test_a_refused_step_is_blocked_not_an_error(tmp_path: Path) -> None:
    with embedb.connect(tmp_path / "data") as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        schema = {
            "fields": [
                {"name": "id", "type": "INT64", "is_primary": True},
                {"name": "text", "type": "VARCHAR", "max_length": 100},
                {"name": "embedding", "type": "FLOAT_VECTOR", "source": "text", "model": "toy@champion"},
            ]
        }
        db.create_collection("docs", schema=schema)
        database = db.database  # type: ignore[attr-defined]
        real = database.operations

        def operation(name: str) -> Any:
            if name == "decay":
                return lambda *args, **kwargs: {"decayed": True, "signals": {}}
            if name == "fine_tune":

                def refuse(*args: Any, **kwargs: Any) -> Any:
                    raise InvalidArgumentError("fine-tuning needs pairs of at least 4 distinct queries")

                return refuse
            return real[name]

        policies = PolicyOperation(database.catalog, database.metadata, operation)
        policies.set_policy("docs", "embedding", {"mode": "act"})
        step = policies.run_policy("docs", "embedding")
        assert (step["action"], step["acted"], step["state"]) == ("blocked", False, "idle")
        assert "at least 4 distinct queries" in step["detail"]["why"]
        assert [e["action"] for e in policies.get_policy("docs", "embedding")["events"]] == ["blocked"]
