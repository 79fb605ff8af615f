"""PyTorch eager CLIPVisionModel at ViT-B/32's size (random weights, 224-pixel
random pixels), for the images/s ratio against the native ViT tower: the same
batch, the same threads, torch.no_grad (`spurscope bench --suite image` runs it
with --batches 1, alternating with its own passes). Prints one JSON line.

    .venv-extract/bin/python tools/reference/bench/image_tower_torch.py [--threads 2] [--batch 32]
"""

import argparse
import json
import time

import torch
from transformers import CLIPVisionConfig, CLIPVisionModel


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32, help="Images per forward pass.")
    p.add_argument("--batches", type=int, default=4, help="Forward passes per timed repetition.")
    p.add_argument("--repetitions", type=int, default=5)
    p.add_argument("--attention", default="sdpa", choices=["sdpa", "eager"], help="transformers' attention implementation.")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    config = CLIPVisionConfig(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                              image_size=224, patch_size=32, hidden_act="quick_gelu")
    config._attn_implementation = args.attention
    model = CLIPVisionModel(config).eval()
    pixels = torch.randn(args.batch, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.no_grad():
        out = model(pixel_values=pixels[:2])
        for _ in range(args.repetitions):
            t0 = time.perf_counter()
            for _ in range(args.batches):
                out = model(pixel_values=pixels)
                # What a bundle stores: the pooled feature and the post-LN map.
                model.post_layernorm(out.last_hidden_state[:, 1:])
            times.append(time.perf_counter() - t0)
    best = min(times)
    images = args.batch * args.batches
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "attention": args.attention,
                      "batch": args.batch, "images": images, "best_s": best, "images_per_s": images / best}))


if __name__ == "__main__":
    main()
