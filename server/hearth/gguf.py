"""Read a GGUF file's header (metadata and tensor shapes) without loading its weights.

GGUF is llama.cpp's single-file model format: a header of typed key/value pairs
and tensor descriptions, then the tensor data. Reading the header is enough to
say what a file is (architecture, size, context length, quantization, chat
template) before anyone spends minutes or gigabytes loading it.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hearth.errors import InvalidInput

MAGIC = b"GGUF"

# Value types of the key/value pairs: struct format of the fixed-size ones.
_SCALARS = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q",
            12: "d"}
_STRING, _ARRAY = 8, 9

# general.file_type: how most of the weights are quantized (llama.cpp's llama_ftype).
FILE_TYPES = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K",
    11: "Q3_K_S", 12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S",
    17: "Q5_K_M", 18: "Q6_K", 19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS",
    23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL", 26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S",
    29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0", 37: "TQ2_0",
}

# Bytes per block and values per block of the common tensor types (ggml_type), to
# find where the data must end: a download cut short is caught here, not at load.
_TENSOR_SIZES = {0: (4, 1), 1: (2, 1), 30: (2, 1), 2: (18, 32), 3: (20, 32), 6: (22, 32),
                 7: (24, 32), 8: (34, 32), 10: (84, 256), 11: (110, 256), 12: (144, 256),
                 13: (176, 256), 14: (210, 256)}


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    type: int
    offset: int  # from the start of the data section


@dataclass(frozen=True)
class GGUFHeader:
    version: int
    metadata: dict[str, Any]  # arrays of more than 16 items (the vocabulary) read as None
    tensors: list[Tensor]
    data_start: int  # byte offset of the tensor data

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def parameters(self) -> int:
        total = 0
        for t in self.tensors:
            n = 1
            for d in t.shape:
                n *= d
            total += n
        return total

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def quantization(self) -> str:
        file_type = self.metadata.get("general.file_type")
        if not isinstance(file_type, int):
            return "unknown"
        return FILE_TYPES.get(file_type, f"type {file_type}")

    @property
    def chat_template(self) -> str | None:
        template = self.metadata.get("tokenizer.chat_template")
        return template if isinstance(template, str) and template.strip() else None

    def data_end(self) -> int | None:
        """Where the last tensor's data ends, when its type's size is known."""
        if not self.tensors:
            return self.data_start
        last = max(self.tensors, key=lambda t: t.offset)
        size = _TENSOR_SIZES.get(last.type)
        if size is None:
            return None
        n = 1
        for d in last.shape:
            n *= d
        return self.data_start + last.offset + n // size[1] * size[0]


class _Reader:
    def __init__(self, buf: mmap.mmap) -> None:
        self.buf, self.pos = buf, 0

    def take(self, fmt: str) -> Any:
        value = struct.unpack_from("<" + fmt, self.buf, self.pos)[0]
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        n = self.take("Q")
        if self.pos + n > len(self.buf):
            raise ValueError("a string runs past the end of the file")
        raw = self.buf[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8", errors="replace")

    def value(self, kind: int, keep: bool = True) -> Any:
        if kind in _SCALARS:
            return self.take(_SCALARS[kind])
        if kind == _STRING:
            return self.string() if keep else self._skip_string()
        if kind == _ARRAY:
            item, count = self.take("I"), self.take("Q")
            if item in _SCALARS and not (keep and count <= 16):
                self.pos += count * struct.calcsize(_SCALARS[item])  # skipped: no use here
                return None
            small = keep and count <= 16
            values = [self.value(item, keep=small) for _ in range(count)]
            return values if small else None
        raise ValueError(f"unknown value type {kind}")

    def _skip_string(self) -> None:
        n = self.take("Q")
        self.pos += n


def read_header(path: Path) -> GGUFHeader:
    """The header of the GGUF at `path`; `InvalidInput` if it is not one, or is damaged."""
    path = Path(path)
    with path.open("rb") as f:
        if f.read(4) != MAGIC:
            raise InvalidInput(
                f"{path.name} is not a GGUF model file (llama.cpp's format: it starts with "
                "'GGUF'); convert it with llama.cpp's convert_hf_to_gguf.py, or pick a .gguf file"
            )
        try:
            with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
                return _parse(_Reader(buf), path)
        except (ValueError, struct.error, UnicodeError) as e:
            raise InvalidInput(
                f"{path.name} is a damaged or incomplete GGUF file ({e}); download it again"
            ) from e


def _parse(r: _Reader, path: Path) -> GGUFHeader:
    r.pos = 4
    version = r.take("I")
    if version not in (2, 3):
        raise InvalidInput(
            f"{path.name} is GGUF version {version}; this Hearth reads versions 2 and 3 "
            "(convert it again with a current llama.cpp)"
        )
    n_tensors, n_kv = r.take("Q"), r.take("Q")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = r.string()
        kind = r.take("I")
        metadata[key] = r.value(kind)
    tensors = []
    for _ in range(n_tensors):
        name = r.string()
        dims = r.take("I")
        shape = tuple(r.take("Q") for _ in range(dims))
        tensors.append(Tensor(name, shape, r.take("I"), r.take("Q")))
    align = metadata.get("general.alignment", 32)
    align = align if isinstance(align, int) and align > 0 else 32
    header = GGUFHeader(version, metadata, tensors, data_start=-(-r.pos // align) * align)
    end = header.data_end()
    if end is not None and end > len(r.buf):
        raise ValueError(f"its tensors need {end} bytes but the file has {len(r.buf)}")
    return header
