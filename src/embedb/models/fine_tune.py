"""Fine-tuning a registered sentence-transformers version on (query, relevant document) pairs; refitting an LSA one.

``fine_tune_pairs`` loads the version's verified artifact, trains it with in-batch
negatives — the loss of sentence-transformers' MultipleNegativesRankingLoss,
written out here: the cross-entropy of each query against every document of its
batch, scored by ``scale`` times the cosine similarity, the query's own document
being the right answer — with AdamW, and returns the trained model (not yet
registered: the caller scores it on held-out pairs first and registers it with
those numbers and its lineage). It runs on a GPU when one is present, else on
the CPU; shuffling and initialisation are seeded. ``refit_lsa`` is the cheaper
path for a scikit-learn LSA version: the same pipeline fitted again on today's texts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from typing import Any

from embedb.errors import InvalidArgumentError, InvalidStateError, ModelError
from embedb.models import ModelVersion
from embedb.models.registry import ModelRegistry

FINE_TUNE_FLAVOR = "sentence_transformers"
StepProgress = Callable[[int, int], None]
"""``progress(steps_done, steps)``."""


def check_fine_tune_settings(epochs: int, batch_size: int, learning_rate: float, scale: float) -> None:
    for name, value, ok, wanted in (
        (
            "epochs",
            epochs,
            isinstance(epochs, int) and not isinstance(epochs, bool) and 1 <= epochs <= 100,
            "in [1, 100]",
        ),
        (
            "batch_size",
            batch_size,
            isinstance(batch_size, int) and not isinstance(batch_size, bool) and 2 <= batch_size <= 1024,
            "in [2, 1024]",
        ),
        ("learning_rate", learning_rate, isinstance(learning_rate, float | int) and 0 < learning_rate < 1, "in (0, 1)"),
        ("scale", scale, isinstance(scale, float | int) and 0 < scale <= 100, "in (0, 100]"),
    ):
        if not ok:
            raise InvalidArgumentError(f"{name}={value!r} is out of range: use a number {wanted}", argument=name)


def fine_tune_pairs(
    registry: ModelRegistry,
    parent: ModelVersion,
    pairs: Sequence[tuple[str, str]],
    *,
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    scale: float = 20.0,
    seed: int = 0,
    progress: StepProgress | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Train ``parent`` on ``pairs`` (query text, document text); return the model and what the training did."""
    if parent.flavor != FINE_TUNE_FLAVOR or parent.artifact_hash is None:
        raise InvalidStateError(
            f"{parent.uri} is a {parent.flavor} model; fine-tuning needs a sentence-transformers one"
        )
    check_fine_tune_settings(epochs, batch_size, learning_rate, scale)
    if len(pairs) < 2:
        raise InvalidArgumentError(f"fine-tuning needs at least 2 training pairs, got {len(pairs)}", argument="pairs")
    from embedb.models.flavors.sentence_transformers import load_sentence_transformer

    model = load_sentence_transformer(registry.artifacts.verify(parent.artifact_hash))
    import torch

    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
    order = list(pairs)
    shuffle = random.Random(seed)
    steps = epochs * -(-len(order) // batch_size)
    done, losses, started = 0, [], time.perf_counter()
    model.train()
    try:
        for _ in range(epochs):
            shuffle.shuffle(order)
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                if len(batch) < 2:  # one pair has no in-batch negative
                    continue
                queries = _embed(model, [query for query, _ in batch], device)
                documents = _embed(model, [document for _, document in batch], device)
                scores = scale * queries @ documents.T
                loss = torch.nn.functional.cross_entropy(scores, torch.arange(len(batch), device=device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                done += 1
                if progress is not None:
                    progress(done, steps)
    except RuntimeError as error:  # out of memory, a broken model
        raise ModelError(f"fine-tuning {parent.uri} failed: {error}") from error
    finally:
        model.eval()
    model.to("cpu")
    return model, {
        "method": "in-batch negatives (MultipleNegativesRankingLoss), scale 20",
        "device": device,
        "steps": done,
        "seconds": time.perf_counter() - started,
        "first_loss": losses[0] if losses else None,
        "last_loss": losses[-1] if losses else None,
        "torch": torch.__version__,
        "sentence_transformers": _version("sentence_transformers"),
    }


def refit_lsa(parent: ModelVersion, texts: Sequence[str], *, seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """The cheaper path for a scikit-learn LSA version: fit it again, same dimension, on ``texts`` (today's corpus)."""
    from embedb.models.recipes import train_lsa

    if parent.flavor != "sklearn" or not parent.dimension:
        raise InvalidStateError(f"{parent.uri} is a {parent.flavor} model; refitting needs a scikit-learn LSA one")
    started = time.perf_counter()
    pipeline = train_lsa(list(texts), dims=parent.dimension, seed=seed)
    return pipeline, {
        "device": "cpu",
        "steps": 0,
        "seconds": time.perf_counter() - started,
        "first_loss": None,
        "last_loss": None,
        "method": f"LSA refit on {len(texts)} texts",
        "scikit_learn": _version("scikit-learn"),
    }


def _embed(model: Any, texts: list[str], device: str) -> Any:
    import torch

    prepare = getattr(model, "preprocess", None) or model.tokenize
    features = {name: value.to(device) if hasattr(value, "to") else value for name, value in prepare(texts).items()}
    return torch.nn.functional.normalize(model(features)["sentence_embedding"], dim=-1)


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None
