"""Drivers: one generic file writer and reader over the streaming codec contract, and the file-level
compress / decompress built on it (re-exported by :mod:`omnicodec.api`)."""
