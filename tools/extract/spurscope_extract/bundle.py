"""Writing bundle directories in spurscope's format (DESIGN.md "Feature
bundle"): manifest.json, examples.csv, prompts.csv, features.safetensors
(and `clip`'s cam_tail.safetensors).
A directory appears only when complete: files go to a hidden sibling that is
renamed into place last, as spurscope's own writer does."""

import contextlib
import csv
import json
import os
import shutil

from .errors import InputError

MANIFEST = "manifest.json"
EXAMPLES = "examples.csv"
PROMPTS = "prompts.csv"
ATTRIBUTES = "attributes.csv"
FEATURES = "features.safetensors"
CAM_TAIL = "cam_tail.safetensors"   # a ViT's last block and post_layernorm, for Grad-CAM (clip.py)
FORMAT_VERSION = 1


def manifest(model, dims, grid, pooling, classes, templates, attributes, tensors, groups=None, text_checkpoint=None,
             cam_tail=None):
    m = {
        "format_version": FORMAT_VERSION,
        "model": model,
        "text_encoder": model,
        "dims": {"Dv": dims[0], "Dt": dims[1], "E": dims[2]},
        "grid": {"H": grid[0], "W": grid[1]},
        "pooling": pooling,
        "classes": list(classes),
        "templates": list(templates),
        "attributes": list(attributes),
        "tensors": list(tensors),
    }
    if groups:
        m["groups"] = list(groups)
    if text_checkpoint:
        m["text_checkpoint"] = dict(text_checkpoint)
    if cam_tail:
        m["cam_tail"] = dict(cam_tail)
    return m


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")


def update_manifest(directory, **fields):
    """Sets manifest fields in place (written to a sibling, then renamed)."""
    path = os.path.join(directory, MANIFEST)
    m = read_json(path)
    m.update(fields)
    write_json(path + ".partial", m)
    os.replace(path + ".partial", path)


def read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise InputError(path, "does not exist")
    except (OSError, ValueError) as e:
        raise InputError(path, f"is not valid JSON: {e}")


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def write_examples(path, dataset):
    header = ["id", "image", "label", "split"] + dataset.extra_columns
    write_csv(path, header, ([e.id, e.image, e.label, e.split] + [e.extra.get(c, "") for c in dataset.extra_columns]
                             for e in dataset.examples))


def write_prompts(path, prompts):
    write_csv(path, ["prompt"], ([p] for p in prompts))


@contextlib.contextmanager
def staged_directory(out, overwrite):
    """Yields a fresh hidden sibling of `out`; on success it replaces `out`,
    on failure it is removed and `out` is left as it was."""
    out = os.path.abspath(out)
    if os.path.exists(out) and not overwrite:
        raise InputError(out, "already exists (pass --force to replace it)")
    parent, name = os.path.split(out)
    staging = os.path.join(parent, f".{name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        os.makedirs(staging)
    except OSError as e:
        raise InputError(out, f"cannot create it: {e}")
    try:
        yield staging
        if os.path.exists(out):
            old = os.path.join(parent, f".{name}.old-{os.getpid()}")
            os.rename(out, old)
            os.rename(staging, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
