"""The one compiled part of EmbeDB: the HNSW search kernel (src/embedb/_native.c).

Everything else is declared in pyproject.toml. The extension is optional: when it
cannot be built (no C compiler), the install goes on and HNSW searches use Faiss's
own search (``embedb.index.faiss_index`` picks whichever is there).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "embedb._native",
            sources=["src/embedb/_native.c"],
            extra_compile_args=["-O3", "-std=c11", "-fno-strict-aliasing"],
            optional=True,
        )
    ]
)
