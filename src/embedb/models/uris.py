"""Model URIs: ``models:/name/3``, ``models:/name@alias``, ``models:/name`` and short forms."""

from __future__ import annotations

from dataclasses import dataclass

from embedb.errors import InvalidArgumentError
from embedb.schema import check_name

URI_SCHEME = "models:/"
LATEST = "latest"


@dataclass(frozen=True)
class ModelRef:
    """A parsed model URI: a name plus at most one of ``version`` and ``alias``.

    With neither, the reference means the newest READY version of the model.
    """

    name: str
    version: int | None = None
    alias: str | None = None

    @property
    def uri(self) -> str:
        """The canonical long form of this reference."""
        if self.version is not None:
            return f"{URI_SCHEME}{self.name}/{self.version}"
        if self.alias is not None:
            return f"{URI_SCHEME}{self.name}@{self.alias}"
        return f"{URI_SCHEME}{self.name}"

    def __str__(self) -> str:
        return self.uri


def parse_model_uri(uri: str) -> ModelRef:
    """Parse a model URI or short form into a ``ModelRef``.

    Accepts ``models:/name/3``, ``models:/name@alias``, ``models:/name``,
    ``models:/name/latest`` and the same without ``models:/``. Raises
    ``InvalidArgumentError`` for a malformed URI and ``InvalidNameError`` for a
    bad model or alias name. Does not look anything up.
    """
    if not isinstance(uri, str):
        raise InvalidArgumentError(f"a model URI must be a string, got {type(uri).__name__}")
    body = uri[len(URI_SCHEME) :] if uri.startswith(URI_SCHEME) else uri
    if not body:
        raise InvalidArgumentError(f"model URI {uri!r} names no model; expected models:/name/3 or models:/name@alias")
    if "@" in body:
        name, _, alias = body.partition("@")
        check_name(name, kind="model")
        check_name(alias, kind="alias")
        return ModelRef(name=name, alias=alias)
    if "/" in body:
        name, _, version_text = body.partition("/")
        check_name(name, kind="model")
        if version_text == LATEST:
            return ModelRef(name=name)
        if not version_text.isascii() or not version_text.isdigit() or int(version_text) < 1:
            raise InvalidArgumentError(
                f"model URI {uri!r}: the version must be a positive integer or 'latest', got {version_text!r}"
            )
        return ModelRef(name=name, version=int(version_text))
    check_name(body, kind="model")
    return ModelRef(name=body)
