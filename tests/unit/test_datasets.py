"""The packaged revdict data set: read from the installed package, consistent ids, licence beside it."""

from __future__ import annotations

from importlib import resources

from embedb.datasets import load_revdict


def test_revdict_loads_from_the_package() -> None:
    revdict = load_revdict()
    assert (len(revdict.corpus), len(revdict.queries)) == (20_000, 1_000)
    assert revdict.corpus[0] == ("a00016756", "scarce")
    document_ids = {doc_id for doc_id, _ in revdict.corpus}
    assert set(revdict.qrels) == {query_id for query_id, _ in revdict.queries}
    assert all(doc_id in document_ids for judged in revdict.qrels.values() for doc_id in judged)
    assert sum(len(judged) for judged in revdict.qrels.values()) == 1_027


def test_license_and_readme_ship_with_the_data() -> None:
    folder = resources.files("embedb").joinpath("data", "revdict")
    assert "Princeton University" in folder.joinpath("LICENSE-WordNet").read_text(encoding="utf-8")
    assert "WordNet" in folder.joinpath("README.md").read_text(encoding="utf-8")
