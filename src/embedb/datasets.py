"""Small labelled data sets shipped inside the package, for tests, examples and evaluations.

``load_revdict()`` returns the WordNet reverse-dictionary set described in
``embedb/data/revdict/README.md``. Data is read from the installed package
(``importlib.resources``), never downloaded.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from importlib import resources

from embedb.errors import StorageError

_REVDICT_PACKAGE = "embedb"
_REVDICT_DIR = ("data", "revdict")


@dataclass(frozen=True)
class RevDict:
    """The reverse-dictionary set: documents, queries and which documents answer which query.

    ``corpus`` and ``queries`` are ``(id, text)`` pairs in file order; ``qrels`` maps a
    query id to ``{document id: relevance}`` (all relevances are 1).
    """

    corpus: list[tuple[str, str]]
    queries: list[tuple[str, str]]
    qrels: dict[str, dict[str, int]]


def _read_text(filename: str) -> str:
    resource = resources.files(_REVDICT_PACKAGE).joinpath(*_REVDICT_DIR, filename)
    try:
        return resource.read_text(encoding="utf-8")
    except OSError as error:
        raise StorageError(
            f"the packaged data file {'/'.join((*_REVDICT_DIR, filename))} cannot be read: {error}"
        ) from error


def _read_jsonl(filename: str) -> list[tuple[str, str]]:
    pairs = []
    for line in _read_text(filename).splitlines():
        if line.strip():
            record = json.loads(line)
            pairs.append((str(record["id"]), str(record["text"])))
    return pairs


def load_revdict() -> RevDict:
    """Return the WordNet reverse-dictionary set (20,000 documents, 1,000 queries); raise ``StorageError``."""
    qrels: dict[str, dict[str, int]] = {}
    reader = csv.DictReader(io.StringIO(_read_text("qrels.tsv")), delimiter="\t")
    for row in reader:
        qrels.setdefault(row["query-id"], {})[row["corpus-id"]] = int(row["score"])
    return RevDict(corpus=_read_jsonl("corpus.jsonl"), queries=_read_jsonl("queries.jsonl"), qrels=qrels)
