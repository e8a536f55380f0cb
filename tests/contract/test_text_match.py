"""TEXT_MATCH and PHRASE_MATCH: filters on a VARCHAR field's tokens (its own analyzer), with any search or query."""

from __future__ import annotations

import pytest

from embedb.client import Client
from embedb.errors import FilterError, FilterSyntaxError

TEXTS = [
    "Machine learning models embedding text",
    "Vector databases store embeddings",
    "Learning to rank with machine learning",
    "The database learned nothing",
    None,
]


def _create(db: Client, name: str, match: bool = True) -> None:
    db.create_collection(
        name,
        schema={
            "fields": [
                {"name": "id", "type": "INT64", "is_primary": True},
                {
                    "name": "text",
                    "type": "VARCHAR",
                    "max_length": 200,
                    "nullable": True,
                    "enable_analyzer": True,
                    "enable_match": match,
                    "analyzer_params": {"type": "english"},
                },
                {"name": "v", "type": "FLOAT_VECTOR", "dim": 2},
            ]
        },
    )
    db.insert(name, [{"id": i, "text": text, "v": [1.0, float(i)]} for i, text in enumerate(TEXTS)])


def _ids(db: Client, name: str, expression: str) -> list[int]:
    return sorted(row["id"] for row in db.query(name, expression))


def test_text_match_finds_any_word_as_the_analyzer_reads_it(db: Client, name: str) -> None:
    _create(db, name)
    assert _ids(db, name, "TEXT_MATCH(text, 'learning')") == [0, 2, 3], "english stems learned and learning alike"
    assert _ids(db, name, "TEXT_MATCH(text, 'databases rank')") == [1, 2, 3]
    assert _ids(db, name, "text_match(text, 'the')") == [], "stop words match nothing"
    assert _ids(db, name, "TEXT_MATCH(text, 'machine') and id > 0") == [2]
    assert _ids(db, name, "not TEXT_MATCH(text, 'machine')") == [1, 3], "a null text is unknown, not a non-match"
    hits = db.search(name, [[1.0, 0.0]], limit=5, filter="TEXT_MATCH(text, 'embeddings')")[0]
    assert sorted(hit["id"] for hit in hits) == [0, 1]


def test_phrase_match_needs_the_words_in_order(db: Client, name: str) -> None:
    _create(db, name)
    assert _ids(db, name, "PHRASE_MATCH(text, 'machine learning')") == [0, 2]
    assert _ids(db, name, "PHRASE_MATCH(text, 'learning machine')") == []
    assert _ids(db, name, "PHRASE_MATCH(text, 'learning machine', 1)") == [2], (
        "learning (rank) machine: one token between"
    )
    assert _ids(db, name, "PHRASE_MATCH(text, 'learning rank')") == [2], "the stop word 'to' is gone"
    assert _ids(db, name, "PHRASE_MATCH(text, 'machine models', 0)") == []
    assert _ids(db, name, "PHRASE_MATCH(text, 'machine models', 1)") == [0]


def test_text_match_needs_enable_match_and_well_formed_calls(db: Client, name: str) -> None:
    _create(db, name, match=False)
    with pytest.raises(FilterError, match="enable_match=True"):
        db.query(name, "TEXT_MATCH(text, 'learning')")
    with pytest.raises(FilterSyntaxError, match="takes 2 arguments"):
        db.query(name, "TEXT_MATCH(text)")
    with pytest.raises(FilterError, match="enable_match"):
        db.query(name, "TEXT_MATCH(id, 'x')")
