"""``embedb embeddings``: backfill, promote, rollback and history from the command line."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import embedb
from embedb.cli import app
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

runner = CliRunner()


def make_collection(path: Path) -> None:
    with embedb.connect(path) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "embedb.models.testing:hash_embed_8", alias="challenger")
        schema = CollectionSchema(
            (
                FieldSchema("id", DataType.INT64, is_primary=True),
                FieldSchema("text", DataType.VARCHAR, max_length=64),
                VectorField("embedding", source="text", model="toy@champion"),
            )
        )
        db.create_collection("docs", schema=schema)
        db.insert("docs", [{"id": i, "text": f"word{i} apple"} for i in range(300)])


def test_add_promote_rollback_history(tmp_path: Path) -> None:
    make_collection(tmp_path)
    added = runner.invoke(app, ["embeddings", "add", str(tmp_path), "docs", "embedding", "toy@challenger"])
    assert added.exit_code == 0, added.output
    assert "DONE" in added.output and "300" in added.output
    listed = runner.invoke(app, ["embeddings", "list", str(tmp_path), "docs"])
    assert "models:/toy/2" in listed.output and "READY" in listed.output
    promoted = runner.invoke(
        app, ["embeddings", "promote", str(tmp_path), "docs", "embedding", "toy/2", "--reason", "better"]
    )
    assert promoted.exit_code == 0, promoted.output
    assert "models:/toy/1 -> models:/toy/2" in promoted.output
    rolled = runner.invoke(app, ["embeddings", "rollback", str(tmp_path), "docs", "embedding", "--reason", "oops"])
    assert "models:/toy/2 -> models:/toy/1" in rolled.output
    history = runner.invoke(app, ["embeddings", "history", str(tmp_path), "docs"])
    assert "promote" in history.output and "rollback" in history.output and "oops" in history.output
    jobs = runner.invoke(app, ["embeddings", "jobs", str(tmp_path)])
    assert "DONE" in jobs.output and "100%" in jobs.output


def test_refused_promotion_is_reported_with_its_reason(tmp_path: Path) -> None:
    make_collection(tmp_path)
    result = runner.invoke(app, ["embeddings", "promote", str(tmp_path), "docs", "embedding", "toy/2"])
    assert result.exit_code != 0
    assert isinstance(result.exception, embedb.EmbedbError)
    assert "holds no vectors of models:/toy/2" in str(result.exception)
