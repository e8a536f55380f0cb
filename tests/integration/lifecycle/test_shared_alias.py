"""What a model alias means across collections (issue 18).

An alias is the registry's, shared by every field that follows it. A promotion
moves the alias its field follows only when that field is the alias's one
follower; otherwise it switches its own field and leaves the alias — and so every
other collection — alone (moving a shared alias is ``set_model_alias``, a registry
operation). So a promotion on one collection never changes what another
collection's alias names, and a collection-scoped token never moves a shared alias.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.lifecycle.conftest import bound_schema

import embedb
from embedb.backends.local import LocalBackend

TEXTS = [f"text {i} about apples and {i % 3} pears" for i in range(30)]


def _bound(db: LocalBackend, name: str) -> None:
    db.create_collection(
        name,
        schema=bound_schema("toy"),
    )
    db.insert(name, [{"id": i, "text": text} for i, text in enumerate(TEXTS)])
    db.add_embedding_version(name, "embedding", "models:/toy/2", wait=True)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[LocalBackend]:
    client = embedb.connect(tmp_path / "data", durability="relaxed")
    assert isinstance(client, LocalBackend)
    client.register_model("toy", "embedb.models.testing:hash_embed_16", alias="champion")
    client.register_model("toy", "embedb.models.testing:hash_embed_8")
    yield client
    client.close()


def _serving(db: LocalBackend, name: str) -> str:
    (version,) = [v for v in db.describe_collection(name)["embedding_versions"]["embedding"] if v["serving"]]
    return str(version["model_version"])


def test_promoting_one_of_two_followers_leaves_the_shared_alias_and_the_other_collection(db: LocalBackend) -> None:
    _bound(db, "a")
    _bound(db, "b")
    moved = db.promote("a", "embedding", "models:/toy/2")
    assert moved["alias"] is None, "the alias is shared with b: it does not move"
    assert _serving(db, "a") == "models:/toy/2" and _serving(db, "b") == "models:/toy/1"
    assert db.describe_model_version("toy@champion")["version"] == 1
    # b's alias still names what b serves: an experiment on b with its champion alias starts
    experiment = db.start_experiment("b", "embedding", champion="toy@champion", challenger="models:/toy/2", mode="shadow")
    assert experiment["champion_version"] == "models:/toy/1"


def test_a_sole_follower_moves_its_alias_with_the_promotion(db: LocalBackend) -> None:
    _bound(db, "a")
    moved = db.promote("a", "embedding", "models:/toy/2")
    assert moved["alias"] == "toy@champion"
    assert db.describe_model_version("toy@champion")["version"] == 2
    assert [h["to_version"] for h in db.model_alias_history("toy", "champion")][-1] == 2
