"""`--shard N/M`: worker N of M extracts a contiguous slice of the examples and
of the prompt table into a shard directory; `merge` puts the M slices back in
order. A shard directory holds the whole bundle's manifest, examples.csv and
prompts.csv (identical in every shard), `shard.json` naming its slices, a
features.safetensors with only its rows of `image_pooled`, `image_tail_input`
(or an older extraction's `image_spatial`) and `text_prompts` (and the full
`W_v`, `W_t`, `logit_scale`), and -- when the manifest names a `cam_tail` --
the whole cam_tail.safetensors, the same in every shard and copied once."""

import hashlib
import os
import shutil

import numpy as np
from safetensors import safe_open

from . import bundle
from .errors import InputError
from .tensorfile import TensorFileWriter

SHARD_FILE = "shard.json"
ROW_TENSORS = ("image_pooled", "image_tail_input", "image_spatial")
SHARED_TENSORS = ("W_v", "W_t", "logit_scale")
CHUNK_ELEMENTS = 1 << 24   # rows are copied in blocks of about 64 MB (f32)


def parse(text):
    """'N/M' with 1 ≤ N ≤ M."""
    try:
        n, m = (int(x) for x in text.split("/"))
    except ValueError:
        raise InputError("--shard", f"'{text}' is not N/M (e.g. 2/3: the second of three workers)")
    if not 1 <= n <= m:
        raise InputError("--shard", f"'{text}' needs 1 ≤ N ≤ M")
    return n, m


def slice_range(count, n, m):
    """Rows of worker n (1-based) of m: contiguous, sizes differing by at most one."""
    return (n - 1) * count // m, n * count // m


def merge(shard_dirs, out, overwrite=False, log=lambda s: None):
    """The bundle the M shards make together; they must be all M shards of one
    extraction (same manifest, examples, prompts and heads)."""
    if not shard_dirs:
        raise InputError("merge", "no shard directories given")
    shards = []
    for d in shard_dirs:
        info = bundle.read_json(os.path.join(d, SHARD_FILE))
        try:
            shards.append((int(info["shard"]), int(info["of"]), d, info))
        except (KeyError, TypeError, ValueError):
            raise InputError(os.path.join(d, SHARD_FILE), "does not name 'shard' and 'of' as integers")
    m = shards[0][1]
    for n, of, d, _ in shards:
        if of != m:
            raise InputError(os.path.join(d, SHARD_FILE), f"is shard {n} of {of}, but {shard_dirs[0]} is one of {m}", field="of")
    have = sorted(n for n, *_ in shards)
    if have != list(range(1, m + 1)):
        missing = sorted(set(range(1, m + 1)) - set(have))
        repeated = sorted({n for n in have if have.count(n) > 1})
        what = (f"shards {', '.join(map(str, missing))} are missing" if missing else "") + \
               ("; " if missing and repeated else "") + \
               (f"shards {', '.join(map(str, repeated))} are given twice" if repeated else "")
        raise InputError("merge", f"needs all {m} shards of the extraction: {what}")
    shards.sort()
    first = shards[0][2]
    for name in (bundle.MANIFEST, bundle.EXAMPLES, bundle.PROMPTS):
        reference = _read_bytes(os.path.join(first, name))
        for _, _, d, _ in shards[1:]:
            if _read_bytes(os.path.join(d, name)) != reference:
                raise InputError(os.path.join(d, name), f"differs from {os.path.join(first, name)}: the shards come from different extractions")
    manifest = bundle.read_json(os.path.join(first, bundle.MANIFEST))
    if "cam_tail" in manifest:
        reference = _digest(os.path.join(first, bundle.CAM_TAIL))
        for _, _, d, _ in shards[1:]:
            if _digest(os.path.join(d, bundle.CAM_TAIL)) != reference:
                raise InputError(os.path.join(d, bundle.CAM_TAIL), f"differs from {os.path.join(first, bundle.CAM_TAIL)}: "
                                 "the shards come from different checkpoints")

    files = [safe_open(os.path.join(d, bundle.FEATURES), framework="numpy") for _, _, d, _ in shards]
    for name in SHARED_TENSORS:
        reference = files[0].get_tensor(name)
        for (_, _, d, _), f in zip(shards[1:], files[1:]):
            if not np.array_equal(f.get_tensor(name), reference):
                raise InputError(os.path.join(d, bundle.FEATURES), "differs from the first shard's: the shards come from different checkpoints",
                                 field=f"tensor '{name}'")
    # Each shard's slices must tile the rows in order.
    for key, total_key, tensor in (("rows", "total_rows", "image_pooled"), ("prompt_rows", "total_prompts", "text_prompts")):
        expected = 0
        for (n, _, d, info), f in zip(shards, files):
            begin, end = info[key]
            if begin != expected or f.get_slice(tensor).get_shape()[0] != end - begin:
                raise InputError(os.path.join(d, SHARD_FILE), f"rows {begin}..<{end} do not continue the previous shard's "
                                 f"(expected to start at {expected}, with {end - begin} rows of '{tensor}')", field=key)
            expected = end
        total = shards[0][3][total_key]
        if expected != total:
            raise InputError(os.path.join(shards[-1][2], SHARD_FILE), f"the shards end at row {expected}, expected {total}", field=key)

    with bundle.staged_directory(out, overwrite) as staging:
        for name in (bundle.MANIFEST, bundle.EXAMPLES, bundle.PROMPTS):
            with open(os.path.join(first, name), "rb") as src, open(os.path.join(staging, name), "wb") as dst:
                dst.write(src.read())
        if "cam_tail" in manifest:
            shutil.copyfile(os.path.join(first, bundle.CAM_TAIL), os.path.join(staging, bundle.CAM_TAIL))
        for _, _, d, _ in shards:       # each shard wrote the views of its own rows
            for sub in ("images", "masks"):
                if os.path.isdir(os.path.join(d, sub)):
                    shutil.copytree(os.path.join(d, sub), os.path.join(staging, sub), dirs_exist_ok=True)
        declarations, metadata = _declarations(files, manifest["tensors"], shards)
        with TensorFileWriter(os.path.join(staging, bundle.FEATURES), declarations, metadata) as w:
            for name, _, shape in declarations:
                if name in SHARED_TENSORS:
                    w.write(name, files[0].get_tensor(name))
                    continue
                row = 0
                per_row = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 1
                step = max(1, CHUNK_ELEMENTS // max(per_row, 1))
                for f in files:
                    s = f.get_slice(name)
                    count = s.get_shape()[0]
                    for a in range(0, count, step):
                        w.write_rows(name, row + a, s[a:min(count, a + step)])
                    row += count
                log(f"merged {name}: {row} rows")
    return out


def _declarations(files, tensor_names, shards):
    out = []
    for name in tensor_names:
        s = files[0].get_slice(name)
        shape = list(s.get_shape())
        if name not in SHARED_TENSORS:
            shape[0] = sum(f.get_slice(name).get_shape()[0] for f in files)
        out.append((name, s.get_dtype(), shape))
    return out, files[0].metadata() or {}


def _digest(path):
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for piece in iter(lambda: f.read(1 << 22), b""):
                digest.update(piece)
    except FileNotFoundError:
        raise InputError(path, "does not exist (the manifest names a cam_tail)")
    return digest.digest()


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise InputError(path, "does not exist")
