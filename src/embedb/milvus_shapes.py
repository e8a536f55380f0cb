"""What pymilvus's MilvusClient returns, built from EmbeDB's own answers (the embedded facade's shapes).

``describe_collection`` over gRPC is shaped by pymilvus from Milvus's
messages; embedded, ``embedb.milvus`` builds the same dict from the
contract's description, so code that reads ``fields[i]["type"]``,
``fields[i]["params"]["dim"]`` or ``consistency_level`` runs either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from embedb.schema import DataType

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
        "num_shards": 1,
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
