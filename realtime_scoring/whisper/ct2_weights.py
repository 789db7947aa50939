"""Reader for CTranslate2's `model.bin`: variable name -> numpy array, aliases resolved."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# The binary layout this reader understands is the one CTranslate2 writes as version 6.
SUPPORTED_BINARY_VERSION = 6

# Type ids in CTranslate2's DataType order.
_DTYPES: tuple[np.dtype, ...] = (
    np.dtype("<f4"),
    np.dtype("i1"),
    np.dtype("<i2"),
    np.dtype("<i4"),
    np.dtype("<f2"),
)
_BFLOAT16_ID = 5


@dataclass(frozen=True)
class Ct2Model:
    spec_name: str  # e.g. "WhisperSpec"
    spec_revision: int
    variables: dict[str, np.ndarray]  # aliases appear under their own name, sharing the target's array


class _Cursor:
    """Little-endian reads from an in-memory buffer, with a clear error at a truncated file."""

    def __init__(self, data: bytes, origin: str) -> None:
        self._data = data
        self._pos = 0
        self._origin = origin

    def take(self, size: int) -> memoryview:
        end = self._pos + size
        if end > len(self._data):
            raise ValueError(f"{self._origin}: truncated at byte {self._pos} (wanted {size} more)")
        view = memoryview(self._data)[self._pos : end]
        self._pos = end
        return view

    def unpack(self, fmt: str) -> int:
        (value,) = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))
        return int(value)

    def string(self) -> str:
        length = self.unpack("H")  # includes the trailing NUL
        return bytes(self.take(length))[:-1].decode("utf-8")

    @property
    def at_end(self) -> bool:
        return self._pos == len(self._data)


def _bfloat16_to_float32(raw: memoryview, shape: tuple[int, ...]) -> np.ndarray:
    # bfloat16 is the upper half of a float32; numpy has no native type for it.
    upper = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
    return upper.view(np.float32).reshape(shape)


def read_ct2_model(path: Path) -> Ct2Model:
    """Parse the file at `path`; arrays keep their stored dtype (Whisper base: float16)."""
    return parse_ct2_model(path.read_bytes(), str(path))


def parse_ct2_model(data: bytes, origin: str = "model.bin") -> Ct2Model:
    """Parse a whole `model.bin` held in memory (arrays are views into `data`, read-only)."""
    cursor = _Cursor(data, origin)
    version = cursor.unpack("I")
    if version != SUPPORTED_BINARY_VERSION:
        raise ValueError(f"{origin}: CTranslate2 binary version {version}, this reader knows {SUPPORTED_BINARY_VERSION}")
    spec_name = cursor.string()
    revision = cursor.unpack("I")
    variables: dict[str, np.ndarray] = {}
    for _ in range(cursor.unpack("I")):
        name = cursor.string()
        rank = cursor.unpack("B")
        shape = tuple(cursor.unpack("I") for _ in range(rank))
        type_id = cursor.unpack("B")
        raw = cursor.take(cursor.unpack("I"))
        if type_id == _BFLOAT16_ID:
            variables[name] = _bfloat16_to_float32(raw, shape)
        elif type_id < len(_DTYPES):
            variables[name] = np.frombuffer(raw, dtype=_DTYPES[type_id]).reshape(shape)
        else:
            raise ValueError(f"{origin}: variable {name!r} has unknown type id {type_id}")
    for _ in range(cursor.unpack("I")):
        alias, target = cursor.string(), cursor.string()
        if target not in variables:
            raise ValueError(f"{origin}: alias {alias!r} points at missing variable {target!r}")
        variables[alias] = variables[target]
    if not cursor.at_end:
        raise ValueError(f"{origin}: unexpected bytes after the alias table")
    return Ct2Model(spec_name=spec_name, spec_revision=revision, variables=variables)


def read_ct2_weights(path: Path) -> dict[str, np.ndarray]:
    """Variable name -> array, for converters that only need the weights."""
    return read_ct2_model(path).variables
