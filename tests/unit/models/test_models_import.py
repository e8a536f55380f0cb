"""Importing the model layer stays cheap: no torch, scikit-learn, model2vec or onnxruntime."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "sklearn", "model2vec", "onnxruntime", "sentence_transformers", "transformers", "skops")


def test_import_embedb_models_loads_no_heavy_library() -> None:
    code = (
        "import sys, embedb, embedb.models, embedb.models.flavors, embedb.datasets; "
        "import embedb.models.flavors.sentence_transformers, embedb.models.flavors.sklearn, embedb.models.flavors.onnx; "
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
