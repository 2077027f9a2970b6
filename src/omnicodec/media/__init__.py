"""File-level compression for each medium (used by :mod:`omnicodec.api`)."""
