"""``embedb drift``: a gate on a data directory — exit 0 without drift, 1 with drift, 2 for a bad request."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.bound_collections import bound_schema
from typer.testing import CliRunner

import embedb
from embedb.cli import app, main
from embedb.datasets import load_revdict
from embedb.errors import InvalidArgumentError

runner = CliRunner()


def test_drift_gate_exit_codes(tmp_path: Path) -> None:
    data = load_revdict()
    docs = [text for _, text in data.corpus[:300]]
    definitions = [text for _, text in data.queries[:150]]
    path = tmp_path / "data"
    with embedb.connect(path) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.create_collection("docs", schema=bound_schema("toy", max_length=2000))
        db.insert("docs", [{"id": i, "text": text} for i, text in enumerate(docs)])
    reference, same, shifted = tmp_path / "reference.txt", tmp_path / "same.jsonl", tmp_path / "shifted.txt"
    reference.write_text("\n".join(docs[:150]) + "\n")
    same.write_text("".join(json.dumps({"id": i, "text": text}) + "\n" for i, text in enumerate(docs[150:])))
    shifted.write_text("\n".join(definitions) + "\n")
    args = ["drift", str(path), "docs", "embedding", "--reference", str(reference)]

    calm = runner.invoke(app, [*args, "--current", str(same), "--json"])
    assert calm.exit_code == 0, calm.output
    assert json.loads(calm.stdout)["detected"] is False
    drifted = runner.invoke(app, [*args, "--current", str(shifted)])
    assert drifted.exit_code == 1 and "drift detected" in drifted.stdout
    stored = runner.invoke(
        app, [*args[:4], "--reference-filter", "id < 150", "--current", str(shifted), "--test", "mmd"]
    )
    assert stored.exit_code == 1, stored.output
    with embedb.connect(path) as db:
        db.search("docs", definitions[:20], limit=3)  # the logged stream: today only, no week before it
    logged = runner.invoke(app, [*args[:4], "--logged-hours", "1"])
    assert isinstance(logged.exception, InvalidArgumentError) and "reference: the field's search monitor kept 0" in str(
        logged.exception
    )
    mixed = runner.invoke(app, [*args, "--logged-hours", "1"])
    assert isinstance(mixed.exception, InvalidArgumentError) and "not both" in str(mixed.exception)
    both = runner.invoke(app, [*args, "--current", str(same), "--current-filter", "id > 0"])
    # raised to embedb.cli.main, which prints "error (invalid_argument): ..." and exits 2
    assert isinstance(both.exception, InvalidArgumentError) and "one of them" in str(both.exception)


def test_monitor_prints_each_versions_series(tmp_path: Path) -> None:
    path = tmp_path / "data"
    with embedb.connect(path) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.create_collection("docs", schema=bound_schema("toy"))
        db.insert("docs", [{"id": i, "text": f"text number {i}"} for i in range(20)])
        db.search("docs", ["number 3", "number 7"], limit=3)
    shown = runner.invoke(app, ["monitor", str(path), "docs", "embedding", "--bucket-minutes", "5"])
    assert shown.exit_code == 0, shown.output
    assert "models:/toy/1" in shown.stdout and "total" in shown.stdout
    report = json.loads(runner.invoke(app, ["monitor", str(path), "docs", "embedding", "--json"]).stdout)
    assert report["versions"]["models:/toy/1"]["totals"]["queries"] == 2
    calm = runner.invoke(app, ["decay", str(path), "docs", "embedding"])
    assert calm.exit_code == 0 and "no decay detected" in calm.stdout


def test_an_error_exits_2_never_the_gates_1(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("one\ntwo\n")
    embedb.connect(tmp_path / "data").close()
    for command in (
        ["drift", str(tmp_path / "data"), "missing", "embedding", "--reference", str(texts), "--current", str(texts)],
        ["decay", str(tmp_path / "data"), "missing", "embedding"],
        ["tune-index", str(tmp_path / "data"), "missing", "vector"],
    ):
        with pytest.raises(SystemExit) as exited:
            main(command)
        assert exited.value.code == 2, command


def test_select_model_names_the_winner(tmp_path: Path) -> None:
    data = load_revdict()
    query_ids = [query for query, _ in data.queries[:40]]
    relevant = {doc for query in query_ids for doc in data.qrels[query]}
    corpus = dict([(doc, text) for doc, text in data.corpus if doc in relevant] + data.corpus[:200])
    path = tmp_path / "data"
    with embedb.connect(path) as db:
        db.register_model("words", "tests.support.toy_embedders:scrambled_8", alias="champion")
        db.create_collection(
            "docs",
            schema=bound_schema("words", max_length=2000, text_ids=True),
        )
        db.insert("docs", [{"id": doc, "text": text} for doc, text in corpus.items()])
    texts = dict(data.queries)
    queries, qrels = tmp_path / "queries.jsonl", tmp_path / "qrels.tsv"
    queries.write_text("".join(json.dumps({"_id": q, "text": texts[q]}) + "\n" for q in query_ids))
    qrels.write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t1\n" for q in query_ids for d in data.qrels[q])
    )
    shown = runner.invoke(
        app,
        [
            "select-model",
            str(path),
            "docs",
            "embedding",
            "--queries",
            str(queries),
            "--qrels",
            str(qrels),
            "--corpus-rows",
            "200",
        ],
    )
    assert shown.exit_code == 0, shown.output
    assert "winner: new:lsa -> models:/words/2 (@challenger)" in shown.stdout


def test_policy_commands_set_run_and_show(tmp_path: Path) -> None:
    path = tmp_path / "data"
    with embedb.connect(path) as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.create_collection("docs", schema=bound_schema("toy"))
    assert runner.invoke(app, ["policy", "set", str(path), "docs", "embedding", "--mode", "act"]).exit_code == 0
    ran = runner.invoke(app, ["policy", "run", str(path), "docs", "embedding"])
    assert ran.exit_code == 0 and "nothing to do" in ran.stdout
    shown = runner.invoke(app, ["policy", "show", str(path), "docs", "embedding", "--json"])
    report = json.loads(shown.stdout)
    assert report["policy"]["mode"] == "act" and [e["action"] for e in report["events"]] == ["none"]
