"""python -m spurscope_extract {clip,detect,merge,merge-detections} ..."""

import argparse
import sys

from .errors import InputError


def parser():
    p = argparse.ArgumentParser(prog="python -m spurscope_extract",
                                description="Feature bundles for spurscope from Hugging Face CLIP and OWL-ViT checkpoints.")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("clip", help="Extract a feature bundle (or one shard of it) with a CLIP checkpoint.")
    c.add_argument("--model", required=True, help="Hugging Face model name (from the local cache) or save_pretrained directory.")
    c.add_argument("--waterbirds", metavar="DIR", help="WILDS Waterbirds directory (metadata.csv and the images).")
    c.add_argument("--images", metavar="DIR", help="Directory the image (and mask) paths of --labels are relative to.")
    c.add_argument("--labels", metavar="CSV", help="id, image, label, split; optional attr:NAME, mask, bbox.")
    c.add_argument("--classes", help="Comma-separated class names in label order (default: order of first appearance).")
    c.add_argument("--vocabulary", metavar="FILE", help="Attribute words, one a line (default: the shipped vg-objects.txt); class names are removed.")
    c.add_argument("--exclude", action="append", metavar="WORD", help="Also remove this word from the vocabulary (repeatable).")
    c.add_argument("--group-vocabulary", metavar="FILE", help="Encode L_ls group prompts and StarFT captions only for these words (default: all).")
    c.add_argument("--all-prompts", action="store_true",
                   help="Encode every prompt a method may ask for (L_ls group prompts, StarFT captions) even when the bundle "
                        "records its text checkpoint, from which spurscope encodes them when needed (a --model folder with "
                        "model.safetensors; other models always get the whole table).")
    c.add_argument("--out", required=True, help="The bundle directory (with --shard: this shard's directory).")
    c.add_argument("--shard", metavar="N/M", help="Extract only worker N's slice of M (1 ≤ N ≤ M).")
    c.add_argument("--device", default="cpu", help="torch device (cpu, cuda, cuda:1, ...).")
    c.add_argument("--batch", type=int, default=64, help="Images per forward pass.")
    c.add_argument("--text-batch", type=int, default=256, help="Prompts per forward pass.")
    c.add_argument("--workers", type=int, default=0, help="Image decoding processes.")
    c.add_argument("--originals", action="store_true",
                   help="List the original images in examples.csv instead of writing the model's square center-cropped views "
                        "(images/, masks/) that the Grad-CAM grid covers.")
    c.add_argument("--no-spatial", action="store_true",
                   help="Leave out image_tail_input (the tokens entering the last block) and cam_tail.safetensors "
                        "(that block's and post_layernorm's weights): no Grad-CAM, no AIoU.")
    c.add_argument("--spatial-dtype", choices=["f16", "f32"], default="f16",
                   help="Storage type of image_tail_input (cam_tail.safetensors is always f32).")
    c.add_argument("--force", action="store_true", help="Replace an existing --out.")
    c.add_argument("--quiet", action="store_true", help="No progress on stderr.")

    d = sub.add_parser("detect", help="OWL-ViT detections over the bundle's vocabulary -> detections.safetensors.")
    d.add_argument("--model", required=True, help="OWL-ViT model name or directory (e.g. google/owlvit-base-patch32).")
    d.add_argument("--bundle", required=True, help="The bundle directory.")
    d.add_argument("--vocabulary", metavar="FILE", help="Words to detect (default: the manifest's attributes); each must be in the manifest.")
    d.add_argument("--threshold", type=float, default=0.1,
                   help="OWL-ViT score at which a word is present (the manifest's detection_threshold); scores below half of it are left out.")
    d.add_argument("--csv", action="store_true",
                   help="Also write readable copies: attributes.csv and owlvit-detections.csv (with each best box).")
    d.add_argument("--query", default="a photo of a {}", help="Text query per word, {} for the word.")
    d.add_argument("--shard", metavar="N/M", help="Detect only in worker N's slice of M; then run merge-detections.")
    d.add_argument("--device", default="cpu")
    d.add_argument("--batch", type=int, default=16)
    d.add_argument("--workers", type=int, default=0)
    d.add_argument("--quiet", action="store_true")

    mg = sub.add_parser("merge", help="Merge the M shard directories of a sharded `clip` into one bundle.")
    mg.add_argument("shards", nargs="+", help="All M shard directories, in any order.")
    mg.add_argument("--out", required=True)
    mg.add_argument("--force", action="store_true")

    md = sub.add_parser("merge-detections", help="Merge the detections.safetensors.shard-N-of-M files (and CSV copies) of a sharded `detect`.")
    md.add_argument("bundle")
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    if getattr(args, "quiet", False):
        from transformers.utils import logging
        logging.disable_progress_bar()
    try:
        if args.command == "clip":
            from . import clip
            clip.run(args)
        elif args.command == "detect":
            from . import detect
            detect.run(args)
        elif args.command == "merge":
            from . import shards
            out = shards.merge(args.shards, args.out, args.force)
            print(f"wrote {out} from {len(args.shards)} shards", file=sys.stderr)
        elif args.command == "merge-detections":
            from . import detect
            detect.merge(args.bundle)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
