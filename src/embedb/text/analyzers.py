"""Analyzers: text to tokens, as Milvus's ``analyzer_params`` describe them.

An analyzer is a tokenizer and a chain of token filters. Built in:

- ``{"type": "standard"}`` (the default): words (Unicode letters, digits and
  ``_``), lowercased;
- ``{"type": "english"}``: standard, lowercased, English stop words removed,
  Snowball (Porter 2) stemming;
- ``{"type": "chinese"}``: jieba word segmentation, punctuation and spaces
  dropped (needs ``pip install embedb[text]``).

Custom: ``{"tokenizer": "standard" | "whitespace" | {"type": "jieba"} |
{"type": "lindera", "dict_kind": "ipadic"}, "filter": [...]}`` with filters
``"lowercase"``, ``"asciifolding"``, ``"alphanumonly"``, ``"cnalphanumonly"``,
``{"type": "stop", "stop_words": ["_english_", "extra", ...]}``,
``{"type": "length", "max": n}``, ``{"type": "stemmer", "language": "english"}``.
Anything else is an ``InvalidArgumentError`` naming the key, before any row is
written. An analyzer is a pure function of its parameters, so it is rebuilt
the same from a schema after a restart.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from embedb.errors import InvalidArgumentError

Tokenizer = Callable[[str], list[str]]
TokenFilter = Callable[[list[str]], list[str]]

# The stop words Lucene's English analyzer drops (Milvus's "_english_").
ENGLISH_STOP_WORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "if",
        "in",
        "into",
        "is",
        "it",
        "no",
        "not",
        "of",
        "on",
        "or",
        "such",
        "that",
        "the",
        "their",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "will",
        "with",
    ]
)
_WORD = re.compile(r"\w+", re.UNICODE)
_ALPHANUMERIC = re.compile(r"\A[^\W_]+\Z|\A\w+\Z")
_CJK_OR_ALPHANUMERIC = re.compile(r"\A[\w\u3400-\u9fff]+\Z")
BUILT_IN = ("standard", "english", "chinese")


class Analyzer:
    """A tokenizer and its filters; ``tokens(text)`` is what a field's analyzer makes of one value."""

    def __init__(self, tokenizer: Tokenizer, filters: Sequence[TokenFilter], description: str) -> None:
        self._tokenizer = tokenizer
        self._filters = tuple(filters)
        self.description = description

    def tokens(self, text: str) -> list[str]:
        tokens = self._tokenizer(text)
        for token_filter in self._filters:
            tokens = token_filter(tokens)
        return tokens


def analyzer(params: Mapping[str, Any] | None) -> Analyzer:
    """The analyzer ``params`` describe (None: standard); ``InvalidArgumentError`` names what is wrong."""
    try:
        text = json.dumps(dict(params or {}), sort_keys=True)
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            "analyzer_params must hold JSON values (text, numbers, lists, dicts)", argument="analyzer_params"
        ) from None
    return _cached(text)


@lru_cache(maxsize=64)
def _cached(text: str) -> Analyzer:
    return _build(json.loads(text))


def _build(params: dict[str, Any]) -> Analyzer:
    kind = params.get("type", "standard" if not params else None)  # no parameters: the standard analyzer
    if kind is not None:
        extra = sorted(set(params) - {"type", "stop_words"})
        if extra:
            raise InvalidArgumentError(
                f"analyzer_params: a built-in analyzer takes only type and stop_words, not {extra}",
                argument="analyzer_params",
            )
        if kind == "standard":
            return Analyzer(_standard, [_lowercase, *_stop_filter(params)], "standard")
        if kind == "english":
            stop = params.get("stop_words", ["_english_"])
            return Analyzer(_standard, [_lowercase, _stop({"stop_words": stop}), _stemmer("english")], "english")
        if kind == "chinese":
            return Analyzer(_jieba(), [_keep(_CJK_OR_ALPHANUMERIC), *_stop_filter(params)], "chinese")
        raise InvalidArgumentError(
            f"analyzer_params: unknown analyzer type {kind!r}; built in: {list(BUILT_IN)}", argument="analyzer_params"
        )
    unknown = sorted(set(params) - {"tokenizer", "filter"})
    if unknown:
        raise InvalidArgumentError(
            f"analyzer_params: unknown key(s) {unknown}; use type, or tokenizer and filter", argument="analyzer_params"
        )
    tokenizer = _tokenizer(params.get("tokenizer", "standard"))
    filters = params.get("filter", [])
    if not isinstance(filters, list):
        raise InvalidArgumentError("analyzer_params: filter must be a list", argument="analyzer_params")
    return Analyzer(tokenizer, [_filter(item) for item in filters], "custom")


def _stop_filter(params: Mapping[str, Any]) -> list[TokenFilter]:
    return [_stop({"stop_words": params["stop_words"]})] if "stop_words" in params else []


def _standard(text: str) -> list[str]:
    return _WORD.findall(text)


def _whitespace(text: str) -> list[str]:
    return text.split()


def _lowercase(tokens: list[str]) -> list[str]:
    return [token.lower() for token in tokens]


def _ascii_folding(tokens: list[str]) -> list[str]:
    folded = (unicodedata.normalize("NFKD", token) for token in tokens)
    return ["".join(c for c in token if not unicodedata.combining(c)) for token in folded]


def _keep(pattern: re.Pattern[str]) -> TokenFilter:
    return lambda tokens: [token for token in tokens if pattern.match(token)]


_FILTER_KEYS = {"stop": {"stop_words"}, "length": {"max"}, "stemmer": {"language"}}


def _known_keys(spec: Any, allowed: set[str], what: str) -> None:
    """A tokenizer's or filter's object holds ``type`` and the keys its kind takes, nothing else."""
    if isinstance(spec, Mapping):
        unknown = sorted(set(spec) - {"type"} - allowed)
        if unknown:
            raise InvalidArgumentError(
                f"analyzer_params: {what} {spec.get('type')!r} takes no {unknown}", argument="analyzer_params"
            )


def _tokenizer(spec: Any) -> Tokenizer:
    kind = spec.get("type") if isinstance(spec, Mapping) else spec
    _known_keys(spec, {"dict_kind"} if kind == "lindera" else set(), "tokenizer")
    if kind == "standard":
        return _standard
    if kind == "whitespace":
        return _whitespace
    if kind == "jieba":
        return _jieba()
    if kind == "lindera":
        dictionary = spec.get("dict_kind", "ipadic") if isinstance(spec, Mapping) else "ipadic"
        return _lindera(str(dictionary))
    raise InvalidArgumentError(
        f"analyzer_params: unknown tokenizer {spec!r}; use standard, whitespace, jieba or lindera",
        argument="analyzer_params",
    )


def _filter(spec: Any) -> TokenFilter:
    kind = spec.get("type") if isinstance(spec, Mapping) else spec
    _known_keys(spec, _FILTER_KEYS.get(str(kind), set()), "filter")
    if kind == "lowercase":
        return _lowercase
    if kind == "asciifolding":
        return _ascii_folding
    if kind == "alphanumonly":
        return _keep(_ALPHANUMERIC)
    if kind == "cnalphanumonly":
        return _keep(_CJK_OR_ALPHANUMERIC)
    if kind == "stop" and isinstance(spec, Mapping):
        return _stop(spec)
    if kind == "length" and isinstance(spec, Mapping):
        limit = spec.get("max")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidArgumentError(
                f"analyzer_params: a length filter needs max, a positive integer, got {limit!r}",
                argument="analyzer_params",
            )
        return lambda tokens: [token for token in tokens if len(token) <= limit]
    if kind == "stemmer" and isinstance(spec, Mapping):
        return _stemmer(str(spec.get("language", "english")))
    raise InvalidArgumentError(
        f"analyzer_params: unknown filter {spec!r}; use lowercase, asciifolding, alphanumonly, cnalphanumonly, stop, length or stemmer",
        argument="analyzer_params",
    )


def _stop(spec: Mapping[str, Any]) -> TokenFilter:
    words = spec.get("stop_words")
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        raise InvalidArgumentError(
            "analyzer_params: a stop filter needs stop_words, a list of words", argument="analyzer_params"
        )
    stop = set(word for word in words if word != "_english_")
    if "_english_" in words:
        stop |= ENGLISH_STOP_WORDS
    return lambda tokens: [token for token in tokens if token not in stop]


def _stemmer(language: str) -> TokenFilter:
    import Stemmer  # PyStemmer: Snowball's stemmers in C

    if not language.isascii() or not language.isalpha():
        raise InvalidArgumentError(f"analyzer_params: no stemmer for language {language!r}", argument="analyzer_params")
    try:
        stemmer = Stemmer.Stemmer(language.lower())
    except KeyError:
        raise InvalidArgumentError(
            f"analyzer_params: no stemmer for language {language!r}", argument="analyzer_params"
        ) from None
    return lambda tokens: stemmer.stemWords(tokens)


def _jieba() -> Tokenizer:
    try:
        import jieba
    except ImportError:
        raise InvalidArgumentError(
            "the chinese analyzer and the jieba tokenizer need jieba: pip install embedb[text]",
            argument="analyzer_params",
        ) from None
    jieba.setLogLevel(60)  # no "Building prefix dict" lines on stderr
    return lambda text: [token for token in jieba.cut(text) if token.strip()]


def _lindera(dictionary: str) -> Tokenizer:
    try:
        from lindera import Tokenizer as LinderaTokenizer
        from lindera import load_dictionary
    except ImportError:
        raise InvalidArgumentError(
            "the lindera tokenizer needs lindera with an embedded dictionary: pip install embedb[text] (lindera-python-ipadic)",
            argument="analyzer_params",
        ) from None
    try:
        tokenizer = LinderaTokenizer(load_dictionary(f"embedded://{dictionary}"), mode="normal")
    except Exception as error:  # lindera raises its own error type for a dictionary it does not embed
        raise InvalidArgumentError(
            f"analyzer_params: lindera has no embedded dictionary {dictionary!r} ({error})", argument="analyzer_params"
        ) from None
    return lambda text: [token.surface for token in tokenizer.tokenize(text) if token.surface.strip()]


__all__ = ["BUILT_IN", "ENGLISH_STOP_WORDS", "Analyzer", "analyzer"]
