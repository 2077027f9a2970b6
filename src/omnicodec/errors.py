"""Exceptions raised by omnicodec.

Every failure a user can cause (a bad file, a wrong option, a stale model) raises a
subclass of :class:`OmnicodecError`, so callers and the CLI can catch one type and
print a one-line message instead of a traceback.
"""

from __future__ import annotations


class OmnicodecError(Exception):
    """Base class of every error omnicodec raises on purpose."""


# --- files written by omnicodec -------------------------------------------------


class ContainerError(OmnicodecError):
    """A compressed file cannot be read."""


class ForeignFileError(ContainerError):
    """The file is not an omnicodec file (wrong magic bytes)."""


class UnsupportedVersionError(ContainerError):
    """The file was written by a newer (or unknown) version of the format."""


class CorruptFileError(ContainerError):
    """The file is damaged: checksum mismatch or inconsistent structure."""


class TruncatedFileError(CorruptFileError):
    """The file ends before its declared content."""


class WeightsMismatchError(ContainerError):
    """The file was written with other model weights than the ones loaded to decode it."""


# --- entropy coding --------------------------------------------------------------


class CodingError(OmnicodecError):
    """The range coder was given inconsistent symbols, tables or data."""


class DecodeError(CodingError):
    """A stream does not decode to what its header declares (desync or damage)."""


class StaleTablesError(OmnicodecError):
    """An entropy model's frozen CDF tables are missing or older than its parameters."""


# --- codecs, zoo and user input ------------------------------------------------------


class UnknownCodecError(OmnicodecError):
    """No codec is registered under the requested id."""


class DuplicateCodecError(OmnicodecError):
    """A codec id was registered twice."""


class WeightsError(OmnicodecError):
    """Shipped or exported weights are missing, unreadable or fail their sha256 check."""


class InputError(OmnicodecError):
    """A user-supplied input file or option cannot be used."""


class MemoryLimitError(OmnicodecError):
    """Coding a declared or actual size would need more memory than the limit (``--max-memory``)."""


class OutputExistsError(OmnicodecError):
    """The output file exists and overwriting was not requested.

    ``path`` names the existing output, so each front end can say how to overwrite it
    (``overwrite=True`` in Python, ``--force`` on the command line).
    """

    def __init__(self, message: str, path=None) -> None:
        super().__init__(message)
        self.path = path


# --- evaluation ---------------------------------------------------------------------


class EvaluationError(OmnicodecError):
    """Results cannot be computed or compared (e.g. RD curves that do not overlap)."""


class MissingToolError(OmnicodecError):
    """An optional tool or package needed for this step is not installed."""


class TrainingDivergedError(OmnicodecError):
    """The training loss became NaN or infinite."""
