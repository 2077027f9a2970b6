"""Codec registry: stable string ids (written into files) to codec classes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ..errors import DuplicateCodecError, UnknownCodecError

_REGISTRY: dict[str, type] = {}
T = TypeVar("T", bound=type)


def register_codec(codec_id: str) -> Callable[[T], T]:
    """Class decorator: register a codec under ``codec_id`` (``"media/name"``)."""
    if not isinstance(codec_id, str) or codec_id.count("/") != 1 or not all(codec_id.split("/")):
        raise ValueError(f"codec ids look like 'media/name', got {codec_id!r}")

    def wrap(cls: T) -> T:
        if codec_id in _REGISTRY:
            raise DuplicateCodecError(f"codec id {codec_id!r} is already registered by {_REGISTRY[codec_id].__name__}")
        cls.codec_id = codec_id
        cls.media = codec_id.split("/")[0]
        _REGISTRY[codec_id] = cls
        return cls

    return wrap


def get_codec_class(codec_id: str) -> type:
    _load_builtin()
    try:
        return _REGISTRY[codec_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise UnknownCodecError(f"unknown codec {codec_id!r} (registered: {known})") from None


def create_codec(codec_id: str, config: dict | None = None):
    """Build a codec from its id and the plain-data config its ``config()`` returned."""
    return get_codec_class(codec_id).from_config(config or {})


def available_codecs() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def _load_builtin() -> None:
    # importing the media packages runs their @register_codec decorators
    from . import image, speech, video  # noqa: F401
