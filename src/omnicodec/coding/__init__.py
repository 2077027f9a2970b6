"""Entropy coding without torch: integer CDF tables, the range coder and the container."""

from .bitstream import Bitstream
from .range_coder import InformationMeter, SymbolDecoder, SymbolEncoder, coder_identity, decode, encode, information_meter
from .tables import CdfTables, build_tables, quantize_pmf

__all__ = [
    "Bitstream", "CdfTables", "InformationMeter", "SymbolDecoder", "SymbolEncoder", "build_tables", "coder_identity", "decode",
    "encode", "information_meter",
    "quantize_pmf",
]
