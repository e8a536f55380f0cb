"""``embedb eval`` and ``embedb experiments list|report`` through typer's CliRunner, on toy models."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

import embedb
from embedb.cli import app
from embedb.schema import CollectionSchema, DataType, FieldSchema, VectorField

runner = CliRunner()
VOCABULARY = [f"w{i}" for i in range(300)]


@pytest.fixture(autouse=True)
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as a wide terminal prints them, so no cell is cut."""
    monkeypatch.setattr("embedb.cli.lifecycle.console", Console(width=250))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """``docs`` with 400 two-word texts, embedded by toy/1 (16 buckets, serving) and toy/2 (8 buckets: more collisions)."""
    path = tmp_path / "data"
    rng = random.Random(0)
    with embedb.connect(path) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "embedb.models.testing:hash_embed_8", alias="challenger")
        schema = CollectionSchema(
            (
                FieldSchema("id", DataType.INT64, is_primary=True),
                FieldSchema("text", DataType.VARCHAR, max_length=200),
                VectorField("embedding", source="text", model="toy@champion", metric_type="COSINE"),
            )
        )
        db.create_collection("docs", schema=schema)
        db.insert("docs", [{"id": i, "text": " ".join(rng.sample(VOCABULARY, 2))} for i in range(400)])
        db.add_embedding_version("docs", "embedding", "toy@challenger", wait=True, timeout=60)
    return path


@pytest.fixture
def labelled(tmp_path: Path, data_dir: Path) -> tuple[Path, Path]:
    """Each of 150 documents' own text as a query, the document as its one relevant answer (BEIR files)."""
    with embedb.connect(data_dir, read_only=True) as db:
        rows = db.query("docs", "id < 150", output_fields=["text"])
    queries, qrels = tmp_path / "queries.jsonl", tmp_path / "qrels.tsv"
    queries.write_text("".join(json.dumps({"_id": f"q{r['id']}", "text": r["text"]}) + "\n" for r in rows))
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{r['id']}\t{r['id']}\t1\n" for r in rows))
    return queries, qrels


def eval_args(data_dir: Path, labelled: tuple[Path, Path], *extra: str) -> list[str]:
    queries, qrels = labelled
    return [
        "eval",
        str(data_dir),
        "docs",
        "--field",
        "embedding",
        "--queries",
        str(queries),
        "--qrels",
        str(qrels),
        *extra,
    ]


def test_eval_prints_tables_and_passes_a_better_candidate(data_dir: Path, labelled: tuple[Path, Path]) -> None:
    result = runner.invoke(app, eval_args(data_dir, labelled, "--baseline", "toy/2", "--candidate", "toy/1"))
    assert result.exit_code == 0, result.output
    assert "150 labelled queries" in result.stdout and "models:/toy/1" in result.stdout
    assert "nDCG@10" in result.stdout and "gate" in result.stdout and "pass" in result.stdout


def test_eval_exits_1_when_the_candidate_is_significantly_worse(data_dir: Path, labelled: tuple[Path, Path]) -> None:
    result = runner.invoke(
        app, eval_args(data_dir, labelled, "--baseline", "toy@champion", "--candidate", "toy@challenger", "--json")
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["gate"]["passed"] is False and report["verdict"]["decision"] == "keep"
    assert report["versions"]["toy@champion"]["ann"]["index"] == "exact (no index)"
    tolerant = runner.invoke(
        app,
        eval_args(
            data_dir, labelled, "--versions", "toy/1", "--versions", "toy/2", "--min-delta", "1", "--no-ann-check"
        ),
    )
    assert tolerant.exit_code == 0, tolerant.output


def test_experiments_list_and_report(data_dir: Path) -> None:
    with embedb.connect(data_dir) as db:
        experiment = db.collection("docs").start_experiment(
            "embedding", champion="toy@champion", challenger="toy@challenger", mode="split"
        )
        for user in range(20):
            (hits,) = db.search("docs", "w1 w2", limit=3, user_key=f"user-{user}")
            db.feedback("docs", hits[0]["query_id"], hits[0]["id"])
    listed = runner.invoke(app, ["experiments", "list", str(data_dir)])
    assert listed.exit_code == 0, listed.output
    assert "split" in listed.stdout and "RUNNING" in listed.stdout and "models:/toy/2" in listed.stdout
    shown = runner.invoke(app, ["experiments", "report", str(data_dir), str(experiment.id)])
    assert shown.exit_code == 0, shown.output
    assert "undecided" in shown.stdout and "click_rate" in shown.stdout and "challenger" in shown.stdout
    as_json = json.loads(
        runner.invoke(app, ["experiments", "report", str(data_dir), str(experiment.id), "--json"]).stdout
    )
    assert as_json["queries"] == 20 and as_json["feedback"] == 20 and as_json["decision"] == "undecided"


def test_eval_scores_search_configurations(tmp_path: Path) -> None:
    path = tmp_path / "texts"
    texts = {f"d{i}": f"doc {i} about {'cats' if i % 2 else 'dogs'} and item{i}" for i in range(40)}
    with embedb.connect(path) as db:
        db.create_collection(
            "docs",
            schema={
                "fields": [
                    {"name": "id", "type": "VARCHAR", "max_length": 8, "is_primary": True},
                    {"name": "text", "type": "VARCHAR", "max_length": 200, "enable_analyzer": True},
                    {"name": "terms", "type": "SPARSE_FLOAT_VECTOR"},
                ],
                "functions": [{"name": "bm25", "type": "BM25", "input_field_names": ["text"], "output_field_names": ["terms"]}],
            },
        )
        db.insert("docs", [{"id": key, "text": text} for key, text in texts.items()])
        db.register_model("docs_search", {"anns_field": "terms"}, alias="champion")
    queries, qrels = tmp_path / "queries.jsonl", tmp_path / "qrels.tsv"
    queries.write_text("".join(json.dumps({"id": f"q{i}", "text": f"item{i}"}) + "\n" for i in range(40)))
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(40)))
    args = ["eval", str(path), "docs", "--queries", str(queries), "--qrels", str(qrels), "--json"]
    result = runner.invoke(app, [*args, "--search", 'bm25={"anns_field": "terms"}', "--search", 'filtered={"anns_field": "terms", "filter": "id == \'d0\'"}'])
    assert result.exit_code == 1, result.output  # the filtered search finds one query's document: significantly worse
    report = json.loads(result.stdout)
    assert report["versions"]["bm25"]["metrics"]["recall@10"] == 1.0 and report["gate"]["passed"] is False
    registered = runner.invoke(app, [*args, "--search", "champion=docs_search@champion", "--search", 'inline={"anns_field": "terms"}'])
    assert registered.exit_code == 0, registered.output
    versions = json.loads(registered.stdout)["versions"]
    assert versions["champion"]["model_version"] == "models:/docs_search/1"
    assert versions["champion"]["metrics"] == versions["inline"]["metrics"]
    both = runner.invoke(app, [*args, "--field", "terms", "--search", "x={}"])
    assert both.exit_code != 0 and "not both" in str(both.exception)  # the CLI's main prints it as "error (invalid_argument)"
