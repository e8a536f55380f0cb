"""The systems the search benchmark runs, behind one small interface.

Each runner owns a directory, ingests ``(ids, vectors, bucket)`` rows, builds
its HNSW index (M=16, efConstruction=200, cosine) and answers top-k queries,
optionally restricted to ``bucket < p``. Runners use each system's public
Python API the way its documentation shows; the raw Faiss runner is the
library limit (the same index EmbeDB builds, with no database around it).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

M, EF_CONSTRUCTION = 16, 200
BATCH = 10_000


class Runner:
    """What the benchmark asks of a system; ``build_during_ingest`` when indexing happens on insert."""

    name = ""
    build_during_ingest = False
    supports_batch = True

    def __init__(self, folder: Path, dim: int) -> None:
        self.folder = folder
        self.dim = dim

    def ingest(self, ids: np.ndarray, vectors: np.ndarray, bucket: np.ndarray) -> None:
        raise NotImplementedError

    def build(self) -> None:
        """Build the index (after ingest)."""

    def set_ef(self, ef: int) -> None:
        self.ef = ef

    def search(self, queries: np.ndarray, k: int, below: int | None) -> list[list[int]]:
        """Ids of the top-k per query; ``below`` restricts to rows with bucket < below."""
        raise NotImplementedError

    def close(self) -> None:
        pass

    def reopen(self) -> None:
        raise NotImplementedError

    def disk_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())

    def extra(self) -> dict[str, Any]:
        return {}


class EmbedbRunner(Runner):
    """EmbeDB through its public API (``embedb.connect``)."""

    name = "embedb"

    def __init__(self, folder: Path, dim: int) -> None:
        super().__init__(folder, dim)
        import embedb

        self._embedb = embedb
        # One segment for the whole set, like the single raw Faiss index (the default caps a segment at 256 MiB).
        self.settings: dict[str, Any] = {"segment_max_bytes": 4 << 30, "segment_max_rows": 2_000_000}
        self.db = embedb.connect(folder / "data", **self.settings)
        schema = embedb.CollectionSchema(
            (
                embedb.FieldSchema("id", embedb.DataType.INT64, is_primary=True),
                embedb.FieldSchema("vector", embedb.DataType.FLOAT_VECTOR, dim=dim, metric_type=embedb.MetricType.COSINE),
                embedb.FieldSchema("bucket", embedb.DataType.INT64),
            )
        )
        self.db.create_collection("bench", schema=schema)

    def ingest(self, ids: np.ndarray, vectors: np.ndarray, bucket: np.ndarray) -> None:
        for start in range(0, ids.size, BATCH):
            part = slice(start, start + BATCH)
            self.db.insert("bench", {"id": ids[part], "vector": vectors[part], "bucket": bucket[part]})
        self.db.flush("bench")

    def build(self) -> None:
        self.db.create_index("bench", field_name="vector", index_type="HNSW", params={"M": M, "efConstruction": EF_CONSTRUCTION})

    def search(self, queries: np.ndarray, k: int, below: int | None) -> list[list[int]]:
        hits = self.db.search(
            "bench", queries, limit=k, filter=f"bucket < {below}" if below is not None else "", search_params={"ef": self.ef}
        )
        return [[hit["id"] for hit in query] for query in hits]

    def close(self) -> None:
        self.db.close()

    def reopen(self) -> None:
        self.db = self._embedb.connect(self.folder / "data", **self.settings)

    def raw_index(self) -> Any:
        """The Faiss HNSW graph EmbeDB built, bare (for the same-process control: Faiss's own search of it)."""
        import faiss

        db: Any = self.db
        collection = db.indexes.collection(db.database.metadata.info("bench"))
        (index,) = collection.ready.values()
        built: Any = index._index
        return faiss.downcast_index(built.index) if isinstance(built, faiss.IndexIDMap) else built

    def extra(self) -> dict[str, Any]:
        description = self.db.describe_index("bench", "vector")
        return {"index_bytes": description["index_bytes"], "settings": self.settings}


class FaissRunner(Runner):
    """Raw Faiss ``IndexHNSWFlat`` over normalised vectors (inner product), filters as ``IDSelectorBitmap``."""

    name = "faiss"

    def __init__(self, folder: Path, dim: int) -> None:
        super().__init__(folder, dim)
        import faiss

        self.faiss: Any = faiss  # its bundled stubs lack the SearchParameters keywords
        self.index: Any = None
        self.bucket = np.empty(0)
        self._selectors: dict[int, tuple[Any, np.ndarray]] = {}
        self.widen = False

    def ingest(self, ids: np.ndarray, vectors: np.ndarray, bucket: np.ndarray) -> None:
        self.vectors = vectors  # already unit length; Faiss keeps its own copy when it builds
        self.bucket = bucket

    def build(self) -> None:
        index = self.faiss.IndexHNSWFlat(self.dim, M, self.faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = EF_CONSTRUCTION
        index.add(self.vectors)
        self.index = index
        del self.vectors
        self.folder.mkdir(parents=True, exist_ok=True)
        self.faiss.write_index(index, str(self.folder / "index.faiss"))

    def _params(self, below: int | None, k: int) -> Any:
        if below is None:
            return self.faiss.SearchParametersHNSW(efSearch=self.ef)
        if below not in self._selectors:
            allowed = self.bucket < below
            bitmap = np.packbits(allowed, bitorder="little")
            self._selectors[below] = (self.faiss.IDSelectorBitmap(bitmap.size, self.faiss.swig_ptr(bitmap)), bitmap)
        ef = self.ef
        if self.widen:  # what EmbeDB's planner does: about 2.5 k allowed rows in the list
            ef = max(ef, int(np.ceil(2.5 * k * self.bucket.size / max(1, int((self.bucket < below).sum())))))
        return self.faiss.SearchParametersHNSW(efSearch=ef, sel=self._selectors[below][0])

    def search(self, queries: np.ndarray, k: int, below: int | None) -> list[list[int]]:
        _, rows = self.index.search(queries, k, params=self._params(below, k))
        return rows.tolist()

    def close(self) -> None:
        self.index = None

    def reopen(self) -> None:
        self.index = self.faiss.read_index(str(self.folder / "index.faiss"))


class HnswlibRunner(Runner):
    """Raw hnswlib (the other library limit): one ``Index`` over the rows, filters as hnswlib's Python callback."""

    name = "hnswlib"

    def __init__(self, folder: Path, dim: int) -> None:
        super().__init__(folder, dim)
        import hnswlib

        self.hnswlib = hnswlib
        self.index: Any = None
        self.bucket = np.empty(0)
        self._filters: dict[int, Callable[[int], bool]] = {}

    def ingest(self, ids: np.ndarray, vectors: np.ndarray, bucket: np.ndarray) -> None:
        self.vectors, self.ids = vectors, ids  # already unit length
        self.bucket = bucket

    def build(self) -> None:
        index = self.hnswlib.Index(space="ip", dim=self.dim)
        index.init_index(max_elements=self.ids.size, M=M, ef_construction=EF_CONSTRUCTION)
        index.add_items(self.vectors, self.ids)  # every core, as hnswlib does by default
        self.index = index
        del self.vectors
        self.folder.mkdir(parents=True, exist_ok=True)
        index.save_index(str(self.folder / "index.hnswlib"))

    def set_ef(self, ef: int) -> None:
        self.ef = ef
        self.index.set_ef(ef)

    def _filter(self, below: int) -> Callable[[int], bool]:
        if below not in self._filters:
            allowed = (self.bucket < below).tolist()
            self._filters[below] = allowed.__getitem__
        return self._filters[below]

    def search(self, queries: np.ndarray, k: int, below: int | None) -> list[list[int]]:
        threads = 1 if queries.shape[0] == 1 else -1
        predicate = None if below is None else self._filter(below)
        labels, _ = self.index.knn_query(queries, k=k, num_threads=threads, filter=predicate)
        rows: list[list[int]] = labels.tolist()
        return rows

    def close(self) -> None:
        self.index = None

    def reopen(self) -> None:
        index = self.hnswlib.Index(space="ip", dim=self.dim)
        index.load_index(str(self.folder / "index.hnswlib"))
        self.index = index


class ChromaRunner(Runner):
    """Chroma ``PersistentClient`` (HNSW from its own hnswlib fork); ``ef_search`` is a collection setting."""

    name = "chroma"
    build_during_ingest = True

    def __init__(self, folder: Path, dim: int) -> None:
        super().__init__(folder, dim)
        import chromadb

        self.chromadb = chromadb
        self.client = chromadb.PersistentClient(path=str(folder / "chroma"))
        self.collection = self.client.create_collection(
            "bench", configuration={"hnsw": {"space": "cosine", "ef_construction": EF_CONSTRUCTION, "max_neighbors": M, "ef_search": 64}}
        )
        self.ef = 64

    def ingest(self, ids: np.ndarray, vectors: np.ndarray, bucket: np.ndarray) -> None:
        step = min(BATCH, self.client.get_max_batch_size())
        for start in range(0, ids.size, step):
            part = slice(start, start + step)
            self.collection.add(
                ids=[str(i) for i in ids[part].tolist()],
                embeddings=vectors[part],
                metadatas=[{"bucket": b} for b in bucket[part].tolist()],
            )

    def set_ef(self, ef: int) -> None:
        if ef != self.ef:
            self.collection.modify(configuration={"hnsw": {"ef_search": ef}})
        self.ef = ef

    def search(self, queries: np.ndarray, k: int, below: int | None) -> list[list[int]]:
        where = {"bucket": {"$lt": below}} if below is not None else None
        result = self.collection.query(query_embeddings=queries, n_results=k, where=where, include=[])
        return [[int(i) for i in ids] for ids in result["ids"]]

    def close(self) -> None:
        del self.collection, self.client

    def reopen(self) -> None:
        self.client = self.chromadb.PersistentClient(path=str(self.folder / "chroma"))
        self.collection = self.client.get_collection("bench")
        self.ef = -1


class LanceRunner(Runner):
    """LanceDB embedded: IVF_HNSW_FLAT with one partition (a plain HNSW graph), filters as prefilters."""

    name = "lancedb"

    def __init__(self, folder: Path, dim: int) -> None:
        super().__init__(folder, dim)
        os.environ.setdefault("RUST_LOG", "error")
        import lancedb
        import pyarrow as pa

        self.lancedb, self.pa = lancedb, pa
        self.db = lancedb.connect(str(folder / "lance"))
        self.table: Any = None

    def ingest(self, ids: np.ndarray, vectors: np.ndarray, bucket: np.ndarray) -> None:
        pa = self.pa
        for start in range(0, ids.size, BATCH):
            part = slice(start, start + BATCH)
            flat = pa.array(np.ascontiguousarray(vectors[part]).ravel())
            batch = pa.table(
                {"id": pa.array(ids[part]), "bucket": pa.array(bucket[part]), "vector": pa.FixedSizeListArray.from_arrays(flat, self.dim)}
            )
            if self.table is None:
                self.table = self.db.create_table("bench", data=batch)
            else:
                self.table.add(batch)

    def build(self) -> None:
        self.table.create_index(metric="cosine", index_type="IVF_HNSW_FLAT", num_partitions=1, m=M, ef_construction=EF_CONSTRUCTION)

    def search(self, queries: np.ndarray, k: int, below: int | None) -> list[list[int]]:
        query = self.table.search(queries[0] if queries.shape[0] == 1 else queries).limit(k).ef(self.ef).nprobes(1)
        if below is not None:
            query = query.where(f"bucket < {below}", prefilter=True)
        result = query.select(["id", "_distance"]).to_arrow()
        if queries.shape[0] == 1:
            return [result.column("id").to_pylist()]
        out: list[list[int]] = [[] for _ in range(queries.shape[0])]
        for q, i in zip(result.column("query_index").to_pylist(), result.column("id").to_pylist(), strict=True):
            out[q].append(i)
        return out

    def close(self) -> None:
        self.table = None
        self.db = None

    def reopen(self) -> None:
        self.db = self.lancedb.connect(str(self.folder / "lance"))
        self.table = self.db.open_table("bench")


class MilvusLiteRunner(Runner):
    """Milvus Lite (pymilvus + milvus-lite): HNSW as asked, filters in Milvus's expression language."""

    name = "milvus-lite"

    def __init__(self, folder: Path, dim: int) -> None:
        super().__init__(folder, dim)
        from pymilvus import DataType, MilvusClient

        self.MilvusClient = MilvusClient
        folder.mkdir(parents=True, exist_ok=True)
        self.client = MilvusClient(str(folder / "milvus.db"))
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("bucket", DataType.INT64)
        self.schema = schema

    def ingest(self, ids: np.ndarray, vectors: np.ndarray, bucket: np.ndarray) -> None:
        self.client.create_collection("bench", schema=self.schema)
        for start in range(0, ids.size, BATCH):
            part = slice(start, start + BATCH)
            rows = [
                {"id": i, "vector": v, "bucket": b}
                for i, v, b in zip(ids[part].tolist(), vectors[part].tolist(), bucket[part].tolist(), strict=True)
            ]
            self.client.insert("bench", rows)
        self.client.flush("bench")

    def build(self) -> None:
        params = self.client.prepare_index_params()
        params.add_index(field_name="vector", index_type="HNSW", metric_type="COSINE", params={"M": M, "efConstruction": EF_CONSTRUCTION})
        self.client.create_index("bench", params)
        self.client.load_collection("bench")

    def search(self, queries: np.ndarray, k: int, below: int | None) -> list[list[int]]:
        result = self.client.search(
            "bench",
            data=queries.tolist(),
            limit=k,
            filter=f"bucket < {below}" if below is not None else "",
            output_fields=["id"],
            search_params={"metric_type": "COSINE", "params": {"ef": max(self.ef, k)}},
        )
        return [[hit["id"] for hit in query] for query in result]

    def close(self) -> None:
        self.client.close()

    def reopen(self) -> None:
        self.client = self.MilvusClient(str(self.folder / "milvus.db"))
        self.client.load_collection("bench")

    def extra(self) -> dict[str, Any]:
        return {"index": self.client.describe_index("bench", "vector")}


RUNNERS: dict[str, Callable[[Path, int], Runner]] = {
    "embedb": EmbedbRunner,
    "faiss": FaissRunner,
    "hnswlib": HnswlibRunner,
    "chroma": ChromaRunner,
    "lancedb": LanceRunner,
    "milvus-lite": MilvusLiteRunner,
}


def fresh_folder(root: Path, name: str) -> Path:
    folder = root / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start
