"""Codecs: one file per codec, grouped by media, found by string id in the registry."""

from .base import Codec, CodecOutput
from .registry import available_codecs, create_codec, get_codec_class, register_codec

__all__ = ["Codec", "CodecOutput", "available_codecs", "create_codec", "get_codec_class", "register_codec"]
