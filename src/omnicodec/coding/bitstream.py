"""In-memory form of a compressed item: named streams, their shapes and side information."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Bitstream:
    """What a codec's ``compress`` returns and its ``decompress`` consumes.

    ``streams`` are range-coded byte strings by name (``"y"``, ``"z"``...), ``shapes`` the
    tensor shapes the decoder needs to rebuild them, and ``side_info`` any other plain JSON
    data (for example the original image size before padding). ``stats`` reports on the
    encoding (symbol counts, skip rate) and is not stored in files.
    """

    streams: dict[str, bytes] = field(default_factory=dict)
    shapes: dict[str, list[int]] = field(default_factory=dict)
    side_info: dict = field(default_factory=dict)
    stats: dict = field(default_factory=dict)

    @property
    def num_bytes(self) -> int:
        return sum(len(s) for s in self.streams.values())

    def merge(self, other: Bitstream, prefix: str = "") -> None:
        """Add ``other``'s streams and shapes, optionally under a name prefix."""
        for k, v in other.streams.items():
            self.streams[prefix + k] = v
        for k, v in other.shapes.items():
            self.shapes[prefix + k] = list(v)
        self.side_info.update(other.side_info)

    def select(self, prefix: str) -> Bitstream:
        """The streams and shapes stored under ``prefix``, with the prefix removed."""
        n = len(prefix)
        return Bitstream(
            {k[n:]: v for k, v in self.streams.items() if k.startswith(prefix)},
            {k[n:]: v for k, v in self.shapes.items() if k.startswith(prefix)},
            dict(self.side_info),
        )
