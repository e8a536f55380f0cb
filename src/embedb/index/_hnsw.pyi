"""Types of the compiled HNSW kernel (src/embedb/index/_hnsw.c)."""

from typing import Any

class Graph:
    nodes: int
    def __init__(
        self,
        vectors: Any,
        dim: int,
        levels: Any,
        offsets: Any,
        neighbors: Any,
        cum: Any,
        entry_point: int,
        max_level: int,
        inner_product: bool,
        labels: Any = None,
        owner: Any = None,
    ) -> None: ...
    def search(self, queries: Any, k: int, ef: int, allowed: Any, scores: Any, rows: Any, threads: int = 1) -> None: ...
