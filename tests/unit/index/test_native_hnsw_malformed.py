"""embedb._native.Graph given malformed arguments must raise a Python exception (or cope), never crash the process.

Each call runs in a child interpreter: a crash there (SIGSEGV) fails the test
instead of taking pytest down. Found by adversarial testing of the kernel:

- ``k`` or ``ef`` so large that ``nq * k * itemsize`` (or the scratch sizes)
  overflow: the size checks pass and the kernel writes far past the buffers;
- a ``cum`` array that is negative or decreasing, or a layer wider than a
  thread's stack: ``Graph()`` accepts them and the first search reads out of
  bounds (or overflows the stack, the neighbour list being a VLA).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

GRAPH = textwrap.dedent(
    """
    import numpy as np, faiss
    from embedb._native import Graph

    rng = np.random.default_rng(0)
    base = rng.standard_normal((200, 8)).astype(np.float32)
    raw = faiss.IndexHNSWFlat(8, 4)
    raw.add(base)
    hnsw, array = raw.hnsw, faiss.vector_to_array
    arrays = dict(
        vectors=array(faiss.downcast_index(raw.storage).codes).view(np.float32).copy(), dim=8,
        levels=array(hnsw.levels).astype(np.int32), offsets=array(hnsw.offsets).astype(np.uint64),
        neighbors=array(hnsw.neighbors).astype(np.int32), cum=array(hnsw.cum_nneighbor_per_level).astype(np.int32),
        entry_point=int(hnsw.entry_point), max_level=int(hnsw.max_level), inner_product=False,
    )
    query = base[:1].copy()
    """
)

CASES = {
    "k_overflows_the_size_check": """
        graph = Graph(**arrays)
        graph.search(query, 2**61, 16, None, np.empty(1, np.float32), np.empty(1, np.int64))
    """,
    "ef_overflows_the_scratch_size": """
        graph = Graph(**arrays)
        graph.search(query, 10, 2**61, None, np.empty(10, np.float32), np.empty(10, np.int64))
    """,
    "cum_negative": """
        arrays["cum"][0] = -100_000
        graph = Graph(**arrays)
        graph.search(query, 5, 16, None, np.empty(5, np.float32), np.empty(5, np.int64))
    """,
    "cum_decreasing": """
        arrays["cum"][0], arrays["cum"][1] = 4, 0
        graph = Graph(**arrays)
        graph.search(query, 5, 16, None, np.empty(5, np.float32), np.empty(5, np.int64))
    """,
    "layer_wider_than_the_stack": """
        width = 3_000_000
        graph = Graph(
            vectors=np.zeros(8, np.float32), dim=8, levels=np.array([1], np.int32), offsets=np.array([0, width], np.uint64),
            neighbors=np.full(width, -1, np.int32), cum=np.array([0, width], np.int32), entry_point=0, max_level=0,
            inner_product=False,
        )
        graph.search(np.zeros((1, 8), np.float32), 1, 1, None, np.empty(1, np.float32), np.empty(1, np.int64))
    """,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_arguments_raise_instead_of_crashing(case: str) -> None:
    body = textwrap.dedent(CASES[case])
    script = GRAPH + "\ntry:\n" + textwrap.indent(body, "    ") + (
        "\nexcept (ValueError, OverflowError, MemoryError) as error:\n"
        "    print('refused:', type(error).__name__, error)\n"
        "else:\n"
        "    print('accepted')\n"
    )
    child = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert child.returncode == 0, f"{case}: the child died with {child.returncode} ({child.stderr[-500:]!r})"
    assert child.stdout.startswith(("refused:", "accepted")), f"{case}: {child.stdout!r} {child.stderr[-500:]!r}"
