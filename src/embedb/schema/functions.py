"""Schema functions (Milvus's ``Function``): fields computed from other fields on every write.

One kind so far, ``BM25``: its input is a VARCHAR field with
``enable_analyzer=True`` (its analyzer turns each text into tokens) and its
output a SPARSE_FLOAT_VECTOR field, which then holds ``{term id: count}`` per
row and is searched with text under the metric BM25. A write gives the input;
the output is filled by EmbeDB and may not be given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from embedb.errors import SchemaError
from embedb.schema.types import DataType, MetricType, check_name

FUNCTION_TYPES = ("BM25",)


@dataclass(frozen=True)
class FunctionSchema:
    """A function of a collection: its name, kind, input and output fields, and parameters."""

    name: str
    function_type: str
    input_field_names: tuple[str, ...]
    output_field_names: tuple[str, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.function_type,
            "input_field_names": list(self.input_field_names),
            "output_field_names": list(self.output_field_names),
        }
        if self.params:
            out["params"] = dict(self.params)
        if self.description:
            out["description"] = self.description
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FunctionSchema:
        if not isinstance(data, Mapping):
            raise SchemaError(f"a function must be an object, got {type(data).__name__}")
        unknown = sorted(
            set(data)
            - {"name", "type", "function_type", "input_field_names", "output_field_names", "params", "description"}
        )
        if unknown:
            raise SchemaError(f"function {data.get('name')!r}: unknown keys {unknown}")
        kind = data.get("type", data.get("function_type"))
        kind = getattr(kind, "name", kind)  # a FunctionType member
        return cls(
            name=data.get("name"),  # type: ignore[arg-type]  # checked by check_functions()
            function_type=str(kind or "").upper(),
            input_field_names=_names(data.get("input_field_names")),
            output_field_names=_names(data.get("output_field_names")),
            params=dict(data.get("params") or {}),
            description=str(data.get("description") or ""),
        )


def _names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Sequence) and all(isinstance(name, str) for name in value):
        return tuple(value)
    raise SchemaError(f"a function's field names are a list of names, got {value!r}")


def check_functions(functions: Sequence[FunctionSchema], fields: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``functions`` against the schema's fields (by name); returns the fields with their BM25 outputs' metric set.

    Raises ``SchemaError`` naming the function and what is wrong.
    """
    updated = dict(fields)
    outputs: set[str] = set()
    names: set[str] = set()
    for function in functions:
        check_name(function.name, kind="function")
        where = f"function {function.name!r}"
        if function.name in names:
            raise SchemaError(f"{where}: two functions have this name")
        names.add(function.name)
        if function.function_type not in FUNCTION_TYPES:
            raise SchemaError(
                f"{where}: function type {function.function_type!r} is not supported; supported: {list(FUNCTION_TYPES)}"
            )
        if len(function.input_field_names) != 1 or len(function.output_field_names) != 1:
            raise SchemaError(f"{where}: a BM25 function has one input field and one output field")
        source, target = updated.get(function.input_field_names[0]), updated.get(function.output_field_names[0])
        if source is None or source.dtype is not DataType.VARCHAR or not source.enable_analyzer:
            raise SchemaError(
                f"{where}: the input field {function.input_field_names[0]!r} must be a VARCHAR field with enable_analyzer=True"
            )
        if target is None or target.dtype is not DataType.SPARSE_FLOAT_VECTOR:
            raise SchemaError(
                f"{where}: the output field {function.output_field_names[0]!r} must be a SPARSE_FLOAT_VECTOR field"
            )
        if target.source is not None and target.source != source.name:
            raise SchemaError(f"{where}: the output field {target.name!r} names source {target.source!r}, the function reads {source.name!r}")
        if target.name in outputs:
            raise SchemaError(f"{where}: field {target.name!r} is already another function's output")
        outputs.add(target.name)
        if target.metric_type not in (None, MetricType.BM25, MetricType.IP):
            raise SchemaError(
                f"{where}: the output field {target.name!r} is searched with BM25, not {target.metric_type.value}"
            )
        updated[target.name] = target.with_metric(MetricType.BM25)
    return updated


__all__ = ["FUNCTION_TYPES", "FunctionSchema", "check_functions"]
