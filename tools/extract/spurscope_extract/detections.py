"""detections.safetensors: a bundle's detections as compressed rows, the
binary form of attributes.csv that spurscope memory-maps (the layout of
Sources/SpurCore/Bundle/DetectionsFile.swift):

    offsets    I64 [N + 1]  example e's detections are entries offsets[e] ..< offsets[e+1]
    attribute  I32 [nnz]    index into the manifest's attribute vocabulary
    score      F32 [nnz]    the detector's score

Metadata: format = spurscope-detections, version = 1, attributes = the
vocabulary as a JSON list (spurscope refuses a file whose list differs from
the manifest's). A shard of a sharded `detect` is the same file for its slice
of examples, with examples_begin, examples_end and threshold in the metadata.
"""

import json
import os

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

from .errors import InputError

FILE = "detections.safetensors"
FORMAT = "spurscope-detections"
VERSION = "1"


def write(path, offsets, attributes, scores, vocabulary, **metadata):
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    attributes = np.ascontiguousarray(attributes, dtype=np.int32)
    scores = np.ascontiguousarray(scores, dtype=np.float32)
    # The writer's own invariants: a file spurscope would refuse is never written.
    assert offsets[0] == 0 and offsets[-1] == len(attributes) == len(scores) and np.all(np.diff(offsets) >= 0)
    assert len(attributes) == 0 or (attributes.min() >= 0 and attributes.max() < len(vocabulary))
    assert np.all(np.isfinite(scores))
    meta = {"format": FORMAT, "version": VERSION, "attributes": json.dumps(list(vocabulary), ensure_ascii=False)}
    meta.update({k: str(v) for k, v in metadata.items()})
    partial = str(path) + ".partial"
    save_file({"offsets": offsets, "attribute": attributes, "score": scores}, partial, metadata=meta)
    # safetensors creates its file 0600; a bundle shared by a group must be
    # readable as its other files are (the mode open() gives under the umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(partial, 0o666 & ~umask)
    os.replace(partial, path)


def read(path):
    """(offsets, attributes, scores, metadata) of a file written by `write`."""
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            arrays = [f.get_tensor(name) for name in ("offsets", "attribute", "score")]
    except FileNotFoundError:
        raise InputError(str(path), "does not exist")
    except Exception as e:   # safetensors raises its own error types for a malformed file
        raise InputError(str(path), f"is not a detections file: {e}")
    if meta.get("format") != FORMAT:
        raise InputError(str(path), f"is '{meta.get('format')}', expected '{FORMAT}'", field="__metadata__.format")
    return (*arrays, meta)


def rows(per_example):
    """Compressed rows from one (attribute indices, scores) pair per example, in order."""
    counts = np.array([len(a) for a, _ in per_example], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    attributes = np.concatenate([a for a, _ in per_example] + [np.zeros(0, np.int32)]).astype(np.int32)
    scores = np.concatenate([s for _, s in per_example] + [np.zeros(0, np.float32)]).astype(np.float32)
    return offsets, attributes, scores
