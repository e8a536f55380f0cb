"""pymilvus's names and shapes for the embedded facade: its small classes, and its dicts built from EmbeDB's answers.

``Hit``, ``LoadState``, ``IndexType``, ``FieldOp``, ``Function``,
``AnnSearchRequest``, ``RRFRanker`` and ``WeightedRanker`` behave as pymilvus's
(the numbers and names are Milvus's), so code that imports them from
``embedb.milvus`` instead of ``pymilvus`` runs unchanged.

``describe_collection`` over gRPC is shaped by pymilvus from Milvus's
messages; embedded, ``embedb.milvus`` builds the same dict from the
contract's description, so code that reads ``fields[i]["type"]``,
``fields[i]["params"]["dim"]`` or ``consistency_level`` runs either way.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from typing import Any

from embedb.schema import DataType
from embedb.schema.functions import FunctionSchema


class Hit(dict[str, Any]):
    """A search hit as pymilvus's: a dict (``id``, ``distance``, ``entity``) that also answers ``hit[<primary key field>]``,
    ``hit[<output field>]`` and attributes ``hit.id``, ``hit.pk``, ``hit.distance``, ``hit.entity``.

    The primary key's field name is looked up only when it is asked for.
    """

    def __init__(self, hit: Mapping[str, Any], primary: Callable[[], str]) -> None:
        super().__init__(hit)
        self._primary = primary

    def __missing__(self, key: str) -> Any:
        if key == self._primary():
            return self["id"]
        entity = dict.get(self, "entity") or {}
        if key in entity:
            return entity[key]
        raise KeyError(key)

    @property
    def id(self) -> Any:
        return self["id"]

    pk = id

    @property
    def distance(self) -> float:
        return float(self["distance"])

    score = distance

    @property
    def entity(self) -> dict[str, Any]:
        return dict(dict.get(self, "entity") or {})

    @property
    def fields(self) -> dict[str, Any]:
        return self.entity

    def to_dict(self) -> dict[str, Any]:
        return dict(self)


class LoadState(enum.IntEnum):
    """pymilvus's ``LoadState``: what ``get_load_state`` answers (printed by name, as there)."""

    NotExist = 0
    NotLoad = 1
    Loading = 2
    Loaded = 3

    def __str__(self) -> str:
        return self.name


class FieldOpType(enum.IntEnum):
    """pymilvus's ``FieldOpType``: how ``upsert(field_ops=)`` changes a field."""

    REPLACE = 0
    ARRAY_APPEND = 1
    ARRAY_REMOVE = 2


class FieldOp:
    """pymilvus's ``FieldOp`` factory: ``upsert(..., field_ops={"tags": FieldOp.array_append()})``."""

    @staticmethod
    def replace() -> str:
        return "replace"

    @staticmethod
    def array_append() -> str:
        return "array_append"

    @staticmethod
    def array_remove() -> str:
        return "array_remove"


class FunctionType(enum.IntEnum):
    """pymilvus's ``FunctionType`` numbers; EmbeDB runs BM25."""

    UNKNOWN = 0
    BM25 = 1
    TEXTEMBEDDING = 2
    RERANK = 3


class Function:
    """pymilvus's ``Function``: ``Function(name, FunctionType.BM25, input_field_names="text", output_field_names="sparse")``."""

    def __init__(
        self,
        name: str,
        function_type: FunctionType | str,
        input_field_names: str | list[str],
        output_field_names: str | list[str] | None = None,
        description: str = "",
        params: dict[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.function_type = function_type
        self.input_field_names = [input_field_names] if isinstance(input_field_names, str) else list(input_field_names)
        names = output_field_names or []
        self.output_field_names = [names] if isinstance(names, str) else list(names)
        self.description = description
        self.params = dict(params or {})

    def to_schema(self) -> FunctionSchema:
        kind = self.function_type.name if isinstance(self.function_type, enum.Enum) else str(self.function_type)
        return FunctionSchema(
            self.name,
            kind.upper(),
            tuple(self.input_field_names),
            tuple(self.output_field_names),
            self.params,
            self.description,
        )

    def to_dict(self) -> dict[str, Any]:
        return self.to_schema().to_dict()


class AnnSearchRequest:
    """pymilvus's ``AnnSearchRequest``: one search of a ``hybrid_search``."""

    def __init__(
        self,
        data: Any,
        anns_field: str,
        param: dict[str, Any] | None = None,
        limit: int = 10,
        expr: str | None = None,
        expr_params: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        self.data, self.anns_field, self.param, self.limit = data, anns_field, dict(param or {}), limit
        self.expr, self.expr_params = expr or "", expr_params

    def to_dict(self) -> dict[str, Any]:
        return {
            "data": self.data,
            "anns_field": self.anns_field,
            "param": self.param,
            "limit": self.limit,
            "expr": self.expr,
            "expr_params": self.expr_params,
        }


class RRFRanker:
    """pymilvus's ``RRFRanker(k=60)``: reciprocal rank fusion."""

    def __init__(self, k: int = 60) -> None:
        self.k = k

    def dict(self) -> dict[str, Any]:
        return {"strategy": "rrf", "params": {"k": self.k}}


class WeightedRanker:
    """pymilvus's ``WeightedRanker(w1, w2, ..., norm_score=True)``: a weighted sum of normalised scores."""

    def __init__(self, *weights: float, norm_score: bool = True) -> None:
        self.weights, self.norm_score = list(weights), norm_score

    def dict(self) -> dict[str, Any]:
        return {"strategy": "weighted", "params": {"weights": self.weights, "norm_score": self.norm_score}}


class IndexType(enum.IntEnum):
    """pymilvus's ``IndexType`` (its numbers and names): ``add_index(index_type=IndexType.HNSW)``."""

    INVALID = 0
    FLAT = 1
    IVFLAT = 2
    IVF_SQ8 = 3
    RNSG = 4
    IVF_SQ8H = 5
    IVF_PQ = 6
    HNSW = 11
    ANNOY = 12

    def __str__(self) -> str:
        return self.name


FIRST_FIELD_ID = 100  # Milvus numbers user fields from 100
_PARAMS = ("dim", "max_length", "max_capacity", "enable_analyzer", "enable_match", "analyzer_params")
_FLAGS = ("is_partition_key", "is_clustering_key", "nullable")


def collection_description(described: Mapping[str, Any]) -> dict[str, Any]:
    """pymilvus's ``describe_collection`` dict for an EmbeDB description (``Backend.describe_collection``)."""
    fields = [_field(index, field) for index, field in enumerate(described["fields"])]
    created_ms = int(float(described.get("created_at", 0)) * 1000)
    return {
        "collection_name": described["collection_name"],
        "auto_id": bool(described.get("auto_id", False)),
        "num_shards": int(described.get("num_shards", 1)),
        "description": described.get("description", ""),
        "fields": fields,
        "functions": [_function(function) for function in described.get("functions", [])],
        "aliases": list(described.get("aliases", [])),
        "collection_id": described["collection_id"],
        "consistency_level": 0,
        "consistency_level_name": "Strong",
        "properties": dict(described.get("properties", {})),
        "num_partitions": int(described.get("num_partitions", 1)),
        "enable_dynamic_field": bool(described.get("enable_dynamic_field", False)),
        "created_timestamp": created_ms << 18,  # a Milvus hybrid timestamp: milliseconds above 18 logical bits
    }


def _function(function: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": function["name"],
        "description": function.get("description", ""),
        "type": function["type"],
        "input_field_names": list(function["input_field_names"]),
        "output_field_names": list(function["output_field_names"]),
        "params": dict(function.get("params", {})),
    }


def _field(index: int, field: Mapping[str, Any]) -> dict[str, Any]:
    shaped: dict[str, Any] = {
        "field_id": FIRST_FIELD_ID + index,
        "name": field["name"],
        "description": field.get("description", ""),
        "type": DataType.parse(field["type"]),
        "params": {key: field[key] for key in _PARAMS if field.get(key) is not None},
    }
    if field.get("is_primary"):
        shaped["auto_id"] = bool(field.get("auto_id", False))
        shaped["is_primary"] = True
    if field.get("element_type"):
        shaped["element_type"] = DataType.parse(field["element_type"])
    if field.get("default_value") is not None:
        shaped["default_value"] = field["default_value"]
    shaped.update({flag: True for flag in _FLAGS if field.get(flag)})
    return shaped
