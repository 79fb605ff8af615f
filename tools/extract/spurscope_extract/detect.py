"""`detect`: OWL-ViT scores for every image of a bundle and every word of its
vocabulary, written as the bundle's detections.safetensors.

For image i and word a, the OWL-ViT score is the best box's
`sigmoid(class logit)` for the query "a photo of a {a}" (the query template is
an option): `r = max_boxes sigmoid(logit)`, written as is. The detector's
operating point `--threshold` T (OWL-ViT's usual 0.1) goes to the manifest as
`detection_threshold`, which spurscope uses as its presence threshold (audit,
training, the UI) unless told otherwise. Entries with r < T/2 are left out to
keep the file sparse (an absent entry counts as absent). The manifest names
the file (`detections`), so spurscope reads it instead of attributes.csv.
`--csv` also writes readable copies: attributes.csv (id, attribute, score) and
owlvit-detections.csv (id, attribute, owlvit_score, box with the box
`x0 y0 x1 y1` in the original image's pixels).
"""

import contextlib
import csv
import json
import os
import sys

import numpy as np
import torch

from . import bundle, dataset, detections, images, shards
from .clip import _require_model_type
from .errors import InputError

RAW_FILE = "owlvit-detections.csv"


def load_owlvit(name, device="cpu"):
    from transformers import AutoTokenizer, OwlViTForObjectDetection
    from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil
    _require_model_type(name, "owlvit")
    model = OwlViTForObjectDetection.from_pretrained(name).eval().to(device)
    return model, AutoTokenizer.from_pretrained(name), OwlViTImageProcessorPil.from_pretrained(name)


@torch.inference_mode()
def query_embeddings(model, tokenizer, queries, batch=256):
    out = []
    for a in range(0, len(queries), batch):
        tokens = tokenizer(queries[a:a + batch], padding="max_length", truncation=True, return_tensors="pt")
        out.append(model.owlvit.get_text_features(input_ids=tokens["input_ids"].to(model.device),
                                                  attention_mask=tokens["attention_mask"].to(model.device)).pooler_output)
    return torch.cat(out)


@torch.inference_mode()
def best_boxes(model, pixel_values, queries):
    """For every image and query: the best box's score (sigmoid of the class
    logit) and that box (cx, cy, w, h relative to the image), computed once
    per image for all queries -- the same numbers OwlViTForObjectDetection's
    forward gives with those queries."""
    feature_map = model.image_embedder(pixel_values=pixel_values.to(model.device))[0]
    b, h, w, d = feature_map.shape
    feats = feature_map.reshape(b, h * w, d)
    logits, _ = model.class_predictor(feats, queries.unsqueeze(0).expand(b, -1, -1), None)   # [B, boxes, Q]
    scores = torch.sigmoid(logits)
    best, where = scores.max(dim=1)                                                           # [B, Q]
    boxes = model.box_predictor(feats, feature_map)                                           # [B, boxes, 4]
    chosen = torch.gather(boxes, 1, where.unsqueeze(-1).expand(-1, -1, 4))
    return best.float().cpu().numpy(), chosen.float().cpu().numpy()


def read_bundle(directory):
    man = bundle.read_json(os.path.join(directory, bundle.MANIFEST))
    path = os.path.join(directory, bundle.EXAMPLES)
    header, rows = dataset.read_csv(path)
    id_col = dataset._column(path, header, "id")
    # Detect on the original image (all of it, as OWL-ViT is meant to see it)
    # when the bundle lists the CLIP model's cropped view of it.
    image_col = header.index("source_image") if "source_image" in header else dataset._column(path, header, "image")
    ids = [r[id_col] for r in rows]
    paths = [r[image_col] if os.path.isabs(r[image_col]) else os.path.join(directory, r[image_col]) for r in rows]
    for line, p in enumerate(paths, start=2):
        if not os.path.isfile(p):
            raise InputError(path, f"'{p}' does not exist", field=f"line {line}, column {header[image_col]}")
    return man, ids, paths


def run(args):
    man, ids, paths = read_bundle(args.bundle)
    vocabulary = man.get("attributes", [])
    words = vocabulary
    if args.vocabulary:
        words = dataset.vocabulary_without_classes(dataset.read_vocabulary(args.vocabulary), man.get("classes", []))
        unknown = [w for w in words if w not in vocabulary]
        if unknown:
            raise InputError(args.vocabulary, f"lists {', '.join(repr(w) for w in unknown[:5])}"
                             f"{f' and {len(unknown) - 5} more' if len(unknown) > 5 else ''}, which the bundle's vocabulary does not have: "
                             "its prompts were encoded for the manifest's attributes only (re-run `clip` with this --vocabulary)")
    if not words:
        raise InputError(os.path.join(args.bundle, bundle.MANIFEST), "lists no attributes to detect", field="attributes")
    if not 0 < args.threshold < 1:
        raise InputError("--threshold", f"is {args.threshold}, expected between 0 and 1")
    n, m = shards.parse(args.shard) if args.shard else (1, 1)
    begin, end = shards.slice_range(len(ids), n, m)
    index = np.array([vocabulary.index(w) for w in words], dtype=np.int32)   # word -> vocabulary row
    keep_from = args.threshold / 2

    model, tokenizer, processor = load_owlvit(args.model, args.device)
    queries = query_embeddings(model, tokenizer, [args.query.replace("{}", w) for w in words])
    suffix = f".shard-{n}-of-{m}" if args.shard else ""
    csv_paths = [os.path.join(args.bundle, f + suffix) for f in (bundle.ATTRIBUTES, RAW_FILE)] if args.csv else []
    progress = images.Progress("images", end - begin, args.quiet)
    per_example = []
    with contextlib.ExitStack() as stack:
        writers = [csv.writer(stack.enter_context(open(p + ".partial", "w", newline="")), lineterminator="\n") for p in csv_paths]
        if writers and (not args.shard or n == 1):
            writers[0].writerow(["id", "attribute", "score"])
            writers[1].writerow(["id", "attribute", "owlvit_score", "box"])
        for start, pixels, sizes in images.batches(paths[begin:end], processor, args.batch, args.workers):
            best, boxes = best_boxes(model, pixels, queries)
            for k in range(best.shape[0]):
                kept = np.nonzero(best[k] >= keep_from)[0]
                per_example.append((index[kept], best[k, kept]))
                width, height = sizes[k][0]
                for q in kept if writers else ():
                    cx, cy, bw, bh = boxes[k, q]
                    box = [(cx - bw / 2) * width, (cy - bh / 2) * height, (cx + bw / 2) * width, (cy + bh / 2) * height]
                    writers[0].writerow([ids[begin + start + k], words[q], f"{best[k, q]:.9g}"])
                    writers[1].writerow([ids[begin + start + k], words[q], f"{best[k, q]:.9g}", " ".join(f"{v:.1f}" for v in box)])
            progress.advance(best.shape[0])
    offsets, attributes, scores = detections.rows(per_example)
    out_path = os.path.join(args.bundle, detections.FILE + suffix)
    detections.write(out_path, offsets, attributes, scores, vocabulary,
                     threshold=repr(float(args.threshold)), examples_begin=begin, examples_end=end)
    for p in csv_paths:
        os.replace(p + ".partial", p)
    if not args.shard:
        bundle.update_manifest(args.bundle, detections=detections.FILE, detection_threshold=float(args.threshold))
    if not args.quiet:
        print(f"wrote {out_path}: {len(scores)} detections of {len(words)} words in {end - begin} images "
              f"(OWL-ViT score ≥ {keep_from:g}; ≥ {args.threshold:g} is present)", file=sys.stderr)


def merge(bundle_dir):
    """Joins the detections.safetensors.shard-N-of-M files (and the CSV copies,
    when written) in shard order into the bundle's files, and names the
    result in the manifest."""
    prefix = detections.FILE + ".shard-"
    names = sorted(f for f in os.listdir(bundle_dir) if f.startswith(prefix) and not f.endswith(".partial"))
    if not names:
        raise InputError(bundle_dir, f"has no {detections.FILE}.shard-N-of-M files to merge")
    parsed = []
    for f in names:
        try:
            n, m = (int(x) for x in f[len(prefix):].split("-of-"))
        except ValueError:
            raise InputError(os.path.join(bundle_dir, f), f"is not named {detections.FILE}.shard-N-of-M")
        parsed.append((n, m, f))
    parsed.sort()
    m = parsed[0][1]
    if [p[0] for p in parsed] != list(range(1, m + 1)) or any(p[1] != m for p in parsed):
        raise InputError(bundle_dir, f"needs detection shards 1..{m} of {m}, found {', '.join(p[2] for p in parsed)}")
    man = bundle.read_json(os.path.join(bundle_dir, bundle.MANIFEST))
    _, ids, _ = read_bundle(bundle_dir)
    parts, threshold, expected_begin = [], None, 0
    for n, _, f in parsed:
        offsets, attributes, scores, meta = detections.read(os.path.join(bundle_dir, f))
        path = os.path.join(bundle_dir, f)
        if json.loads(meta.get("attributes", "null")) != man.get("attributes"):
            raise InputError(path, "was detected over another vocabulary than the manifest's", field="__metadata__.attributes")
        begin, end = int(meta["examples_begin"]), int(meta["examples_end"])
        if begin != expected_begin or end - begin != len(offsets) - 1:
            raise InputError(path, f"covers examples {begin}..<{end}, expected to start at {expected_begin}", field="__metadata__")
        if threshold is not None and meta["threshold"] != threshold:
            raise InputError(path, f"was detected at threshold {meta['threshold']}, shard 1 at {threshold}", field="__metadata__.threshold")
        threshold = meta["threshold"]
        parts.append((offsets, attributes, scores))
        expected_begin = end
    if expected_begin != len(ids):
        raise InputError(bundle_dir, f"the shards cover {expected_begin} examples, examples.csv has {len(ids)}")
    shift = np.cumsum([0] + [len(a) for _, a, _ in parts])
    offsets = np.concatenate([parts[0][0][:1]] + [o[1:] + shift[i] for i, (o, _, _) in enumerate(parts)])
    detections.write(os.path.join(bundle_dir, detections.FILE), offsets,
                     np.concatenate([a for _, a, _ in parts]), np.concatenate([s for _, _, s in parts]),
                     man.get("attributes", []), threshold=threshold, examples_begin=0, examples_end=len(ids))
    for base in (bundle.ATTRIBUTES, RAW_FILE):
        shard_files = [os.path.join(bundle_dir, f"{base}.shard-{n}-of-{m}") for n in range(1, m + 1)]
        if not all(os.path.exists(p) for p in shard_files):
            continue
        with open(os.path.join(bundle_dir, base + ".partial"), "wb") as out:
            for p in shard_files:
                with open(p, "rb") as f:
                    out.write(f.read())
        os.replace(os.path.join(bundle_dir, base + ".partial"), os.path.join(bundle_dir, base))
        for p in shard_files:
            os.remove(p)
    bundle.update_manifest(bundle_dir, detections=detections.FILE, detection_threshold=float(threshold))
    for _, _, f in parsed:
        os.remove(os.path.join(bundle_dir, f))
