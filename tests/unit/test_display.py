"""Results draw themselves in a notebook: escaped HTML tables for hits, rows, reports and jobs; a progress callback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.support.bound_collections import bound_schema

import embedb
from embedb.display import MAX_ROWS, Record, Rows, SearchResult, present, progress

SCRIPT = "<script>alert(1)</script>"


def test_present_wraps_by_shape_and_changes_nothing_else() -> None:
    hits = present([[{"id": 1, "distance": 0.5, "entity": {"text": "a"}}]])
    rows = present([{"id": 1}, {"id": 2}])
    record = present({"state": "DONE"})
    assert (type(hits), type(rows), type(record)) == (SearchResult, Rows, Record)
    assert hits == [[{"id": 1, "distance": 0.5, "entity": {"text": "a"}}]] and json.loads(json.dumps(rows)) == rows
    assert present(["a", "b"]) == ["a", "b"] and type(present(["a"])) is list and present(None) is None
    assert type(present([])) is list


def test_every_value_is_escaped_and_long_tables_are_cut() -> None:
    hits = SearchResult([[{"id": SCRIPT, "distance": 0.25, "entity": {"text": SCRIPT, "tags": {"k": SCRIPT}}}]])
    shown = hits._repr_html_()
    assert SCRIPT not in shown and "&lt;script&gt;" in shown and "<th>text</th>" in shown and "0.25" in shown
    many = Rows([{"n": i, "note": SCRIPT} for i in range(MAX_ROWS + 7)])._repr_html_()
    assert many.count("<tr>") == MAX_ROWS + 1 and "7 more rows not shown" in many and SCRIPT not in many
    assert SCRIPT not in Record({"state": SCRIPT, "reason": SCRIPT})._repr_html_()


def test_client_results_show_as_tables(tmp_path: Path) -> None:
    with embedb.connect(tmp_path / "data") as db:
        db.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
        db.register_model("toy", "embedb.models.testing:hash_embed_16")
        db.create_collection("docs", schema=bound_schema("toy", max_length=100))
        db.insert("docs", [{"id": i, "text": f"{SCRIPT} text {i}"} for i in range(20)])
        found = db.search("docs", "text 3", limit=3, output_fields=["text"])
        assert isinstance(found, SearchResult) and "query 1: 3 hits" in found._repr_html_()
        assert SCRIPT not in found._repr_html_()
        history = db.model_alias_history("toy")
        assert isinstance(history, Rows) and "champion" in history._repr_html_()
        col = db.collection("docs")
        job = col.add_embedding_version("embedding", "toy/2")
        job.wait(timeout=60)
        assert "DONE" in job._repr_html_() and "<progress" in job._repr_html_()
        experiment = col.start_experiment("embedding", champion="toy@champion", challenger="toy/2", mode="interleave")
        (hits,) = col.search("text 4", limit=4, user_key="u1")
        col.feedback(hits[0]["query_id"], hits[0]["id"])
        shown = experiment._repr_html_()
        assert "undecided" in shown and "arms" in shown and "queries / feedback" in shown


def test_the_progress_callback_takes_both_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    update = progress("backfill")
    for done in range(0, 11, 5):
        update(done, 10)
    staged = progress("policy")
    staged("fine-tune", 2, 2)
    staged("backfill", 3, 3)
    shown = capsys.readouterr().out
    assert "backfill" in shown and "10/10" in shown
    assert "policy: fine-tune" in shown and "2/2" in shown and "policy: backfill" in shown and "3/3" in shown


def test_an_index_build_can_be_followed_with_a_progress_bar(tmp_path: Path) -> None:
    import numpy as np

    seen: list[tuple[int, int]] = []
    with embedb.connect(tmp_path / "data") as db:
        db.create_collection("vectors", dimension=16)
        rows = np.random.default_rng(1).normal(size=(5_000, 16))
        db.insert("vectors", [{"id": i, "vector": row.tolist()} for i, row in enumerate(rows)])
        db.flush("vectors")
        db.drop_index("vectors", "vector")
        db.create_index("vectors", field_name="vector", index_type="HNSW", sync=False)
        done = db.wait_for_index("vectors", "vector", timeout=60, progress=lambda d, t: seen.append((d, t)))
    assert done["state"] == "Finished" and seen[-1] == (5_000, 5_000)
    assert all(d <= t for d, t in seen)


def test_huge_and_ragged_results_draw_small_and_say_what_they_left_out() -> None:
    ragged = Rows([{"id": i, f"attr_{i}": i} for i in range(20_000)])
    shown = ragged._repr_html_()
    assert len(shown) < 20_000, "only the shown rows and columns are drawn"
    assert "19950 more rows" in shown and "more columns" in shown and shown.count("<th>") <= 40
    many = SearchResult([[{"id": i, "distance": 0.5}] for i in range(1_000)])._repr_html_()
    assert many.count("<table>") == 10 and "990 more queries not shown" in many
    history = Rows([{"time": 1_796_000_000.0, "alias": "champion"}])._repr_html_()
    assert "2026-" in history and "UTC" in history and "e+09" not in history


def test_a_progress_bar_closes_when_its_operation_stops_early(tmp_path: Path) -> None:
    import numpy as np

    bar = progress("index")
    with pytest.raises(TypeError, match="takes"):
        bar(1)
    with embedb.connect(tmp_path / "data") as db:
        db.create_collection("vectors", dimension=32)
        db.insert("vectors", [{"id": i, "vector": v.tolist()} for i, v in enumerate(np.ones((20_000, 32)))])
        db.flush("vectors")
        db.wait_for_index("vectors", "vector", timeout=0.0, progress=bar)
        assert not bar.running and not bar.bar.live.is_started
        bar(-3, 10)  # a reused bar starts afresh; odd numbers are drawn as 0
        bar(10, 10)
        assert not bar.running
