"""`detect`: OWL-ViT scores for every image of a bundle and every word of its
vocabulary, written as the bundle's attributes.csv.

For image i and word a, the OWL-ViT score is the best box's
`sigmoid(class logit)` for the query "a photo of a {a}" (the query template is
an option): `r = max_boxes sigmoid(logit)`. spurscope counts an attribute as
present at score ≥ 0.5 by default (`spurscope detect --threshold`, the UI, the
trainer), while OWL-ViT's usual operating point is far lower (0.1). So the
score written is `r` mapped piecewise-linearly with the detector's threshold T
at 0.5: `score = 0.5·r/T` for r ≤ T and `0.5 + 0.5·(r − T)/(1 − T)` above --
monotone, 0 ↦ 0, T ↦ 0.5, 1 ↦ 1, so `r ≥ T` exactly when `score ≥ 0.5`.
Rows with score below 0.25 (r < T/2) are left out to keep the file sparse (an
absent row counts as absent). The raw scores and the best box of every written
row go to owlvit-detections.csv (`id, attribute, owlvit_score, box` with the
box `x0 y0 x1 y1` in the original image's pixels).
"""

import csv
import os
import sys

import numpy as np
import torch

from . import bundle, dataset, images, shards
from .clip import _require_model_type
from .errors import InputError

RAW_FILE = "owlvit-detections.csv"
KEEP_FROM = 0.25


def spurscope_score(raw, threshold):
    raw = np.asarray(raw, dtype=np.float64)
    return np.where(raw <= threshold, 0.5 * raw / threshold, 0.5 + 0.5 * (raw - threshold) / (1 - threshold))


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

    model, tokenizer, processor = load_owlvit(args.model, args.device)
    queries = query_embeddings(model, tokenizer, [args.query.replace("{}", w) for w in words])
    suffix = f".shard-{n}-of-{m}" if args.shard else ""
    out_path = os.path.join(args.bundle, bundle.ATTRIBUTES + suffix)
    raw_path = os.path.join(args.bundle, RAW_FILE + suffix)
    progress = images.Progress("images", end - begin, args.quiet)
    kept = 0
    with open(out_path + ".partial", "w", newline="") as out, open(raw_path + ".partial", "w", newline="") as raw:
        wa, wr = csv.writer(out, lineterminator="\n"), csv.writer(raw, lineterminator="\n")
        if not args.shard or n == 1:
            wa.writerow(["id", "attribute", "score"])
            wr.writerow(["id", "attribute", "owlvit_score", "box"])
        for start, pixels, sizes in images.batches(paths[begin:end], processor, args.batch, args.workers):
            best, boxes = best_boxes(model, pixels, queries)
            scores = spurscope_score(best, args.threshold)
            for k in range(best.shape[0]):
                width, height = sizes[k][0]
                for q in np.nonzero(scores[k] >= KEEP_FROM)[0]:
                    cx, cy, bw, bh = boxes[k, q]
                    box = [(cx - bw / 2) * width, (cy - bh / 2) * height, (cx + bw / 2) * width, (cy + bh / 2) * height]
                    wa.writerow([ids[begin + start + k], words[q], f"{scores[k, q]:.6g}"])
                    wr.writerow([ids[begin + start + k], words[q], f"{best[k, q]:.6g}", " ".join(f"{v:.1f}" for v in box)])
                    kept += 1
            progress.advance(best.shape[0])
    os.replace(out_path + ".partial", out_path)
    os.replace(raw_path + ".partial", raw_path)
    if not args.quiet:
        print(f"wrote {out_path}: {kept} detections of {len(words)} words in {end - begin} images "
              f"(OWL-ViT score ≥ {args.threshold / 2:g}; ≥ {args.threshold:g} is present)", file=sys.stderr)


def merge(bundle_dir):
    """Concatenates attributes.csv.shard-N-of-M (and the raw files) in shard order."""
    names = sorted(f for f in os.listdir(bundle_dir) if f.startswith(bundle.ATTRIBUTES + ".shard-"))
    if not names:
        raise InputError(bundle_dir, "has no attributes.csv.shard-N-of-M files to merge")
    parsed = []
    for f in names:
        try:
            n, m = (int(x) for x in f[len(bundle.ATTRIBUTES + ".shard-"):].split("-of-"))
        except ValueError:
            raise InputError(os.path.join(bundle_dir, f), "is not named attributes.csv.shard-N-of-M")
        parsed.append((n, m, f))
    parsed.sort()
    m = parsed[0][1]
    if [p[0] for p in parsed] != list(range(1, m + 1)) or any(p[1] != m for p in parsed):
        raise InputError(bundle_dir, f"needs detection shards 1..{m} of {m}, found {', '.join(p[2] for p in parsed)}")
    for base in (bundle.ATTRIBUTES, RAW_FILE):
        with open(os.path.join(bundle_dir, base + ".partial"), "wb") as out:
            for n, _, _ in parsed:
                with open(os.path.join(bundle_dir, f"{base}.shard-{n}-of-{m}"), "rb") as f:
                    out.write(f.read())
        os.replace(os.path.join(bundle_dir, base + ".partial"), os.path.join(bundle_dir, base))
        for n, _, _ in parsed:
            os.remove(os.path.join(bundle_dir, f"{base}.shard-{n}-of-{m}"))
