"""Index specs and parameters: defaults, AUTOINDEX, and typed errors naming the parameter before anything is built."""

from __future__ import annotations

import pytest

from embedb.errors import InvalidArgumentError
from embedb.index import INDEX_TYPES, IndexSpec, check_search_params, default_search_params, range_bounds, resolve_spec
from embedb.index.requests import index_requests, search_options
from embedb.milvus import MilvusClient
from embedb.schema import MetricType


def test_autoindex_is_hnsw_with_sound_defaults() -> None:
    spec = resolve_spec("AUTOINDEX", MetricType.COSINE, None, dim=8)
    assert spec == IndexSpec("HNSW", MetricType.COSINE, {"M": 16, "efConstruction": 200})
    assert resolve_spec("autoindex", MetricType.L2, {"M": 32}, dim=8).params == {"M": 32, "efConstruction": 200}


def test_every_type_resolves_with_its_defaults() -> None:
    for name in INDEX_TYPES:
        params = {"m": 4} if name == "IVF_PQ" else {}
        metric = MetricType.HAMMING if name.startswith("BIN_") else MetricType.IP
        spec = resolve_spec(name, metric, params, dim=16)
        assert spec.index_type == name and IndexSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("index_type", "params", "message"),
    [
        ("DISKANN", {}, "unknown index_type 'DISKANN'; allowed: AUTOINDEX, FLAT, HNSW"),
        ("HNSW", {"M": 1}, r"M=1 is out of range: use an integer in \[2, 2048\]"),
        ("HNSW", {"M": "many"}, "M='many'"),
        ("HNSW", {"M": True}, "M=True"),
        ("HNSW", {"efConstruction": 0}, "efConstruction=0"),
        ("HNSW", {"nlsit": 8}, r"no build parameter\(s\) \['nlsit'\]; its parameters: M, efConstruction"),
        ("IVF_FLAT", {"nlist": 0}, r"nlist=0 is out of range: use an integer in \[1, 65536\]"),
        ("IVF_PQ", {}, "needs the build parameter 'm'"),
        ("IVF_PQ", {"m": 5}, "m=5 must divide the dimension 16"),
        ("IVF_PQ", {"m": 4, "nbits": 17}, r"nbits=17 is out of range: use an integer in \[1, 16\]"),
        ("ANNOY", {"n_trees": 0}, "n_trees=0"),
    ],
)
def test_bad_build_parameters_name_the_parameter(index_type: str, params: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError, match=message):
        resolve_spec(index_type, MetricType.IP, params, dim=16)


def test_numeric_strings_are_accepted_as_milvus_does() -> None:
    assert resolve_spec("HNSW", MetricType.IP, {"M": "8", "efConstruction": 64.0}, dim=4).params == {"M": 8, "efConstruction": 64}


def test_search_parameters_are_checked_against_the_limit() -> None:
    assert check_search_params("HNSW", {"ef": 10, "nprobe": 3}, 10) == {"ef": 10}, "nprobe does not apply to HNSW"
    with pytest.raises(InvalidArgumentError, match=r"ef=5 is out of range: use an integer in \[10, 32768\]"):
        check_search_params("HNSW", {"ef": 5}, 10)
    with pytest.raises(InvalidArgumentError, match="nprobe=0"):
        check_search_params("IVF_FLAT", {"nprobe": 0}, 10)
    with pytest.raises(InvalidArgumentError, match="search_k=5 must be -1 or at least the limit 10"):
        check_search_params("ANNOY", {"search_k": 5}, 10)
    assert check_search_params("ANNOY", {"search_k": -1}, 10) == {"search_k": -1}


def test_defaults_cover_the_limit() -> None:
    hnsw = resolve_spec("HNSW", MetricType.IP, None, dim=4)
    assert default_search_params(hnsw, 10) == {"ef": 64}
    assert default_search_params(hnsw, 100) == {"ef": 100}


def test_search_options_take_the_nested_and_the_flat_form() -> None:
    spec = resolve_spec("HNSW", MetricType.COSINE, None, dim=4)
    nested = search_options({"metric_type": "cosine", "params": {"ef": 99}}, metric=MetricType.COSINE, field_name="v", k=10, spec=spec)
    flat = search_options({"ef": 99}, metric=MetricType.COSINE, field_name="v", k=10, spec=spec)
    assert nested.params == flat.params == {"ef": 99}
    with pytest.raises(InvalidArgumentError, match="search metric 'L2' does not match field 'v', which uses COSINE"):
        search_options({"metric_type": "L2"}, metric=MetricType.COSINE, field_name="v", k=10, spec=spec)
    with pytest.raises(InvalidArgumentError, match="group_size must be an integer"):
        search_options(None, metric=MetricType.COSINE, field_name="v", k=10, spec=spec, group_by_field="g", group_size=0)


def test_range_bounds_follow_milvus() -> None:
    assert range_bounds({"radius": 0.5, "range_filter": 0.9}, MetricType.COSINE) == (0.5, 0.9)
    assert range_bounds({"radius": 4.0}, MetricType.L2) == (-4.0, float("inf"))
    assert range_bounds({"radius": 4.0, "range_filter": 1.0}, MetricType.L2) == (-4.0, -1.0)
    assert range_bounds({}, MetricType.L2) is None
    with pytest.raises(InvalidArgumentError, match="range_filter must be larger than radius"):
        range_bounds({"radius": 0.9, "range_filter": 0.5}, MetricType.IP)
    with pytest.raises(InvalidArgumentError, match="range_filter must be smaller than radius"):
        range_bounds({"radius": 1.0, "range_filter": 2.0}, MetricType.L2)
    with pytest.raises(InvalidArgumentError, match="range_filter needs radius"):
        range_bounds({"range_filter": 2.0}, MetricType.L2)


def test_index_requests_accept_pymilvus_index_params_and_keywords() -> None:
    params = MilvusClient.prepare_index_params()
    params.add_index(field_name="vector", index_type="HNSW", metric_type="COSINE", params={"M": 8})
    (request,) = index_requests(params)
    assert (request.field_name, request.index_type, request.metric_type, request.params) == ("vector", "HNSW", "COSINE", {"M": 8})
    (direct,) = index_requests(None, field_name="vector", index_type="IVF_FLAT", params={"nlist": 4})
    assert (direct.index_type, direct.params) == ("IVF_FLAT", {"nlist": 4})
    with pytest.raises(InvalidArgumentError, match="needs index_params or field_name"):
        index_requests(None)
    with pytest.raises(InvalidArgumentError, match="not both"):
        index_requests(params, field_name="vector")


def test_another_index_types_parameters_are_ignored_as_in_milvus() -> None:
    spec = resolve_spec("FLAT", MetricType.L2, {"nlist": 128}, dim=8)
    assert spec.params == {}
    assert resolve_spec("HNSW", MetricType.IP, {"M": 8, "nlist": 4, "nprobe": 2}, dim=8).params == {"M": 8, "efConstruction": 200}
