"""Frozen integer CDF tables carried by an entropy model as buffers.

Tables are built once by ``freeze()`` (at export time), saved with the weights and loaded
back verbatim; a decoder never rebuilds them. With them the model stores a fingerprint
(sha256) of everything the tables were built from. Before coding, the current fingerprint
is compared with the stored one, so training a model further and compressing without
re-freezing raises :class:`StaleTablesError` instead of writing undecodable files.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from torch import nn

from ..coding import CdfTables
from ..errors import StaleTablesError

_BUFFERS = ("_cdf", "_cdf_lengths", "_offsets", "_fingerprint")


class FrozenTables(nn.Module):
    """Base for entropy models that code with integer tables.

    Subclasses implement :meth:`_fingerprint_parts` (bytes the tables depend on) and
    :meth:`_build_tables` (a :class:`CdfTables` from the current parameters).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("_cdf", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("_cdf_lengths", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("_offsets", torch.zeros(0, dtype=torch.int32))
        self.register_buffer("_precision", torch.zeros(1, dtype=torch.int32))
        self.register_buffer("_fingerprint", torch.zeros(0, dtype=torch.uint8))
        self._tables_cache: CdfTables | None = None

    # --- to implement --------------------------------------------------------------

    def _fingerprint_parts(self) -> list[bytes]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _build_tables(self) -> CdfTables:  # pragma: no cover - abstract
        raise NotImplementedError

    # --- public ------------------------------------------------------------------------

    def fingerprint(self) -> bytes:
        h = hashlib.sha256()
        h.update(type(self).__name__.encode())
        for part in self._fingerprint_parts():
            h.update(part)
        return h.digest()

    @torch.no_grad()
    def freeze(self) -> None:
        """Build the integer tables from the current parameters and store them."""
        tables = self._build_tables()
        device = self._cdf.device
        self._cdf = torch.from_numpy(tables.cdf.copy()).to(device)
        self._cdf_lengths = torch.from_numpy(tables.lengths.copy()).to(device)
        self._offsets = torch.from_numpy(tables.offsets.copy()).to(device)
        self._precision = torch.tensor([tables.precision], dtype=torch.int32, device=device)
        self._fingerprint = torch.tensor(list(self.fingerprint()), dtype=torch.uint8, device=device)
        self._tables_cache = tables

    @property
    def is_frozen(self) -> bool:
        return self._fingerprint.numel() > 0

    def tables(self) -> CdfTables:
        """The stored tables, after checking they still match the parameters."""
        name = type(self).__name__
        if not self.is_frozen:
            raise StaleTablesError(f"{name} has no CDF tables; call freeze() (or export the model) first")
        stored = bytes(self._fingerprint.cpu().tolist())
        if stored != self.fingerprint():
            raise StaleTablesError(
                f"{name}'s CDF tables are older than its parameters; call freeze() again before compressing"
            )
        if self._tables_cache is None:
            self._tables_cache = CdfTables(
                self._cdf.cpu().numpy(),
                self._cdf_lengths.cpu().numpy(),
                self._offsets.cpu().numpy(),
                int(self._precision.item()),
            )
        return self._tables_cache

    # --- state dict: buffers whose shape is only known after freezing --------------------

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        for name in _BUFFERS:
            key = prefix + name
            if key in state_dict:
                incoming = state_dict[key]
                current = getattr(self, name)
                setattr(self, name, torch.empty_like(incoming, device=current.device))
        self._tables_cache = None
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)


def tensor_bytes(t: torch.Tensor) -> bytes:
    """Canonical bytes of a tensor's values (float32 or int64, C order, on the CPU)."""
    t = t.detach().cpu()
    dtype = np.float32 if t.is_floating_point() else np.int64
    return np.ascontiguousarray(t.numpy().astype(dtype)).tobytes()
