"""The examples to extract: a labels CSV in the columns of a bundle's
`examples.csv`, or the WILDS Waterbirds layout. Everything is checked before a
model is loaded, so a typo costs seconds, not an hour of encoding."""

import csv
import os
from dataclasses import dataclass, field

from .errors import InputError

SPLITS = ("train", "val", "test")
WATERBIRD_CLASSES = ["landbird", "waterbird"]


@dataclass
class Example:
    id: str
    image: str                      # absolute path
    label: str                      # class name
    split: str
    extra: dict = field(default_factory=dict)   # attr:NAME, mask, bbox columns as written


@dataclass
class Dataset:
    examples: list
    classes: list
    extra_columns: list             # column order of `extra` in examples.csv
    groups: list = None             # manifest `groups`, when the layout defines them
    source: str = ""                # the file the examples came from, for messages


def read_csv(path):
    """Header and rows of a CSV; row r is on line r + 2."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.reader(f))
    except FileNotFoundError:
        raise InputError(path, "does not exist")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(path, f"cannot be read: {e}")
    if not rows:
        raise InputError(path, "is empty, expected a header line")
    return [h.strip() for h in rows[0]], rows[1:]


def _column(path, header, name):
    if name not in header:
        raise InputError(path, f"has no column '{name}' (columns: {', '.join(header)})")
    return header.index(name)


def _cell(row, index):
    return row[index].strip() if index < len(row) else ""


def from_labels(labels_path, images_dir, classes=None):
    """`id, image, label, split` and optionally `attr:NAME`, `mask`, `bbox`;
    image and mask paths relative to `images_dir` (or absolute)."""
    header, rows = read_csv(labels_path)
    cols = {n: _column(labels_path, header, n) for n in ("id", "image", "label", "split")}
    extra_columns = [h for h in header if h.startswith("attr:") or h in ("mask", "bbox")]
    extra_index = {h: header.index(h) for h in extra_columns}
    root = os.path.abspath(images_dir)
    examples, seen = [], {}
    for r, row in enumerate(rows):
        line = r + 2
        ex_id = _cell(row, cols["id"])
        if not ex_id:
            raise InputError(labels_path, "is empty", field=f"line {line}, column id")
        if ex_id in seen:
            raise InputError(labels_path, f"'{ex_id}' repeats the id of line {seen[ex_id]}", field=f"line {line}, column id")
        seen[ex_id] = line
        split = _cell(row, cols["split"])
        if split not in SPLITS:
            raise InputError(labels_path, f"'{split}' is not a split (expected train, val or test)",
                             field=f"line {line}, column split")
        label = _cell(row, cols["label"])
        if not label:
            raise InputError(labels_path, "is empty, expected a class name", field=f"line {line}, column label")
        extra = {h: _cell(row, i) for h, i in extra_index.items()}
        if extra.get("mask"):
            extra["mask"] = os.path.join(root, extra["mask"])
        examples.append(Example(ex_id, os.path.join(root, _cell(row, cols["image"])), label, split, extra))
    if not examples:
        raise InputError(labels_path, "has no examples")
    found = list(dict.fromkeys(e.label for e in examples))
    if classes is None:
        classes = found
    else:
        for e, line in zip(examples, range(2, len(examples) + 2)):
            if e.label not in classes:
                raise InputError(labels_path, f"'{e.label}' is not a class (expected one of: {', '.join(classes)})",
                                 field=f"line {line}, column label")
    if len(classes) < 2:
        raise InputError(labels_path, f"has {len(classes)} class, expected at least 2", field="label")
    check_images(examples, labels_path)
    return Dataset(examples, list(classes), extra_columns, source=labels_path)


def from_waterbirds(directory):
    """WILDS Waterbirds: `metadata.csv` with `img_id, img_filename, y (1 =
    waterbird), split (0 train, 1 val, 2 test), place (0 land, 1 water)`; the
    ground truth `water` (= place) defines the groups."""
    path = os.path.join(directory, "metadata.csv")
    header, rows = read_csv(path)
    cols = {n: _column(path, header, n) for n in ("img_id", "img_filename", "y", "split", "place")}
    root = os.path.abspath(directory)
    examples = []

    def code(row, line, name, allowed):
        text = _cell(row, cols[name])
        if text not in allowed:
            raise InputError(path, f"'{text}' is not one of {', '.join(allowed)}", field=f"line {line}, column {name}")
        return int(text)

    for r, row in enumerate(rows):
        line = r + 2
        y = code(row, line, "y", ("0", "1"))
        split = SPLITS[code(row, line, "split", ("0", "1", "2"))]
        place = code(row, line, "place", ("0", "1"))
        examples.append(Example(_cell(row, cols["img_id"]), os.path.join(root, _cell(row, cols["img_filename"])),
                                WATERBIRD_CLASSES[y], split, {"attr:water": str(place)}))
    if not examples:
        raise InputError(path, "has no examples")
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise InputError(path, f"'{dup}' appears twice", field="column img_id")
    check_images(examples, path)
    return Dataset(examples, list(WATERBIRD_CLASSES), ["attr:water"], groups=["water"], source=path)


def check_images(examples, source):
    for line, e in enumerate(examples, start=2):
        if not os.path.isfile(e.image):
            raise InputError(source, f"'{e.image}' does not exist", field=f"line {line}, column image")


def read_vocabulary(path):
    """One word or phrase per line; blank lines and `#` comments skipped,
    repeats dropped (first kept)."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        raise InputError(path, "does not exist")
    words = [w.strip() for w in lines]
    words = list(dict.fromkeys(w for w in words if w and not w.startswith("#")))
    for i, w in enumerate(words):
        if "," in w or '"' in w:
            raise InputError(path, f"'{w}' contains a comma or quote, which an attribute name cannot", field=f"word {i + 1}")
    if not words:
        raise InputError(path, "lists no words")
    return words


def vocabulary_without_classes(words, classes, exclude=()):
    """The paper's vocabulary: object names minus the dataset's classes. A word
    is dropped when it is a class name, a whole word of one (`bird` for `song
    bird`), or listed in `exclude`; case is ignored."""
    drop = {w.lower() for w in exclude}
    for c in classes:
        drop.add(c.lower())
        drop.update(part.lower() for part in c.replace("_", " ").split())
    return [w for w in words if w.lower() not in drop]
