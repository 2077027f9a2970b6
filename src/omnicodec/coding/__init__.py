"""Entropy coding without torch: integer CDF tables, the range coder and the container."""

from .bitstream import Bitstream
from .range_coder import SymbolDecoder, SymbolEncoder, coder_identity, decode, encode
from .tables import CdfTables, build_tables, quantize_pmf

__all__ = [
    "Bitstream", "CdfTables", "SymbolDecoder", "SymbolEncoder", "build_tables", "coder_identity", "decode", "encode",
    "quantize_pmf",
]
