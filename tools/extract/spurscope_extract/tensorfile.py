"""safetensors files written in place, row block by row block.

A bundle's tensors can be far larger than memory (ImageNet's tail tokens are
~100 GB in f16 for ViT-B/32), so the whole file is laid out first -- header,
then every tensor's byte range, sized up front -- and rows are written into
their range as they are computed. The layout is the standard one (8-byte
little-endian header length, JSON header padded with spaces to a multiple of
8, raw little-endian data in header order), which the `safetensors` package
reads; tests read every file written here back with it.
"""

import json
import struct

import numpy as np

DTYPES = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2")}


class TensorFileWriter:
    """`tensors` is a list of (name, dtype "F32"/"F16", shape); rows are the
    first axis. Every tensor must be filled before `close`."""

    def __init__(self, path, tensors, metadata=None):
        self.path = str(path)
        self.layout = {}
        header = {}
        if metadata:
            header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
        offset = 0
        for name, dtype, shape in tensors:
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
            size = count * DTYPES[dtype].itemsize
            header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + size]}
            row = (size // shape[0]) if shape and shape[0] > 0 else size
            self.layout[name] = (offset, size, DTYPES[dtype], tuple(shape), row)
            offset += size
        text = json.dumps(header, separators=(",", ":")).encode()
        text += b" " * (-len(text) % 8)
        self.base = 8 + len(text)
        self.file = open(self.path, "wb")
        self.file.write(struct.pack("<Q", len(text)))
        self.file.write(text)
        self.file.truncate(self.base + offset)

    def write_rows(self, name, start, values):
        """Rows `start ..< start + len(values)` of tensor `name`."""
        offset, size, dtype, shape, row = self.layout[name]
        values = np.ascontiguousarray(np.asarray(values, dtype=np.float32).astype(dtype, copy=False))
        if shape:
            if tuple(values.shape[1:]) != shape[1:] or start < 0 or start + values.shape[0] > shape[0]:
                raise ValueError(f"{name}: rows {start}+{values.shape} do not fit {shape}")
        elif values.size != 1:
            raise ValueError(f"{name}: expected a scalar, got {values.shape}")
        self.file.seek(self.base + offset + start * row)
        self.file.write(values.tobytes())

    def write(self, name, values):
        self.write_rows(name, 0, values)

    def close(self):
        self.file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
