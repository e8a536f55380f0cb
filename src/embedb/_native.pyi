"""Types of the compiled search parts (src/embedb/_native.c)."""

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
    def search(
        self, queries: Any, k: int, ef: int, allowed: Any, scores: Any, rows: Any, threads: int = 1, normalize: bool = False
    ) -> int: ...

def hits(keys: list[Any], distances: Any, k: int) -> list[list[dict[str, Any]]]: ...
