"""Health, readiness, Prometheus metrics, access logs and the OpenAPI document of a running server."""

from __future__ import annotations

import json
import re
import time
import uuid

import httpx
import pytest
from tests.support.server_process import ServerProcess

from embedb.backends.http import HttpBackend
from embedb.protocol import OPERATIONS


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a Prometheus exposition; 0.0 when absent."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_health_and_readiness(raw: httpx.Client) -> None:
    assert httpx.get(str(raw.base_url.join("/healthz"))).json() == {"status": "ok"}
    assert raw.get("/readyz").json() == {"status": "ready"}


def test_metrics_count_requests_time_searches_and_report_storage(raw: httpx.Client, admin: HttpBackend) -> None:
    name = f"m_{uuid.uuid4().hex[:8]}"
    admin.create_collection(name, dimension=2)
    admin.insert(name, [{"id": i, "vector": [1.0, float(i)]} for i in range(7)])
    before = raw.get("/metrics").text
    for _ in range(3):
        admin.search(name, [[1.0, 0.0]], limit=2)
    raw.post("/v1/collections/describe", json={"collection_name": name + "_missing"})
    text = raw.get("/metrics").text
    route = {"method": "POST", "route": "/v1/entities/search", "status": "200"}
    assert (
        metric(text, "embedb_http_requests_total", **route) - metric(before, "embedb_http_requests_total", **route) == 3
    )
    assert metric(text, "embedb_http_requests_total", route="/v1/collections/describe", status="404") >= 1
    searches = metric(text, "embedb_operation_duration_seconds_count", operation="search")
    assert searches - metric(before, "embedb_operation_duration_seconds_count", operation="search") == 3
    assert metric(text, "embedb_http_request_duration_seconds_count", route="/v1/entities/search") >= 3
    assert metric(text, "embedb_collection_rows", collection=name) == 7
    assert metric(text, "embedb_collection_growing_rows", collection=name) == 7
    admin.flush(name)
    text = raw.get("/metrics").text
    assert metric(text, "embedb_collection_segments", collection=name) >= 1
    assert "embedb_http_requests_in_flight" in text
    assert 'route="unmatched"' not in text or all(
        "/v1/" not in line for line in text.splitlines() if 'route="unmatched"' in line
    )


def test_metrics_report_each_model_versions_last_hour(raw: httpx.Client, admin: HttpBackend) -> None:
    name, analyzer = f"m_{uuid.uuid4().hex[:8]}", f"words_{uuid.uuid4().hex[:8]}"
    admin.register_model(analyzer, {"type": "english"}, alias="champion")  # an analyzer: data, no code to allow
    schema = {
        "fields": [
            {"name": "id", "type": "INT64", "is_primary": True},
            {"name": "text", "type": "VARCHAR", "max_length": 100, "enable_analyzer": True},
            {"name": "sparse", "type": "SPARSE_FLOAT_VECTOR", "source": "text", "model": f"{analyzer}@champion"},
        ],
        "functions": [{"name": "bm25", "type": "BM25", "input_field_names": ["text"], "output_field_names": ["sparse"]}],
    }
    admin.create_collection(name, schema=schema)
    admin.insert(name, [{"id": i, "text": f"running text {i}"} for i in range(5)])
    admin.search(name, ["runs", "text", "nothing"], anns_field="sparse", limit=2)
    text = raw.get("/metrics").text
    labels = {"collection": name, "field": "sparse", "version": f"models:/{analyzer}/1"}
    assert metric(text, "embedb_version_queries_last_hour", **labels) == 3
    assert metric(text, "embedb_version_empty_rate_last_hour", **labels) == pytest.approx(1 / 3)
    assert metric(text, "embedb_version_p95_ms_last_hour", **labels) > 0


def test_access_log_has_one_json_line_per_request(server: ServerProcess, raw: httpx.Client) -> None:
    marker = f"/v1/marker_{uuid.uuid4().hex[:8]}"
    raw.post(marker, json={})
    deadline = time.monotonic() + 5
    while marker not in server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [line for line in server.log().splitlines() if marker in line]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["status"] == 404 and record["method"] == "POST" and record["route"] == "unmatched"
    assert server.token is not None, "the server fixture runs with auth"
    assert record["token_id"] == server.token.split("_")[1]
    assert record["duration_ms"] >= 0 and record["client"].startswith("127.0.0.1:")


def test_openapi_document_lists_every_operation(raw: httpx.Client) -> None:
    document = raw.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    operation_ids = {spec["operationId"] for methods in document["paths"].values() for spec in methods.values()}
    assert {op.operation_id for op in OPERATIONS} <= operation_ids
    search = document["paths"]["/v1/entities/search"]["post"]
    assert search["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/SearchRequest")
    assert "422" not in search["responses"] and "400" in search["responses"]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert document["paths"]["/healthz"]["get"]["security"] == []
    arrow = document["paths"]["/v1/entities/insert_arrow"]["post"]["requestBody"]["content"]
    assert "application/vnd.apache.arrow.stream" in arrow
