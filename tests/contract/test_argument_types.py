"""A scalar argument of the wrong type is refused the same way embedded and over HTTP (the contract's annotations)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from embedb.client import Client
from embedb.errors import InvalidArgumentError


def test_a_string_where_the_contract_declares_an_integer_is_refused_on_both_sides(db: Client) -> None:
    model = f"m_{uuid.uuid4().hex[:10]}"
    db.register_model(model, "embedb.models.testing:hash_embed_8")
    wrong: Any = "1"
    with pytest.raises(InvalidArgumentError, match="version"):
        db.set_model_tag(model, "stage", "prod", version=wrong)
    assert db.describe_model_version(f"{model}/1")["tags"] == {}, "nothing was written"
    db.set_model_tag(model, "stage", "prod", version=1)
    assert db.describe_model_version(f"{model}/1")["tags"] == {"stage": "prod"}


def test_a_bool_is_not_an_integer_and_a_number_is_not_a_string(db: Client, name: str) -> None:
    db.create_collection(name, dimension=4)
    flag: Any = True
    number: Any = 7
    with pytest.raises(InvalidArgumentError, match="limit"):
        db.search(name, [[0.1, 0.2, 0.3, 0.4]], limit=flag)
    with pytest.raises(InvalidArgumentError, match="anns_field"):
        db.search(name, [[0.1, 0.2, 0.3, 0.4]], anns_field=number)
