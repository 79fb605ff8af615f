"""PyTorch eager ModifiedResNet (OpenAI's model.py) at RN50 size on random
weights and random images, for the ratio against the native tower
(`spurscope bench --suite image` runs it, alternating with its own passes):
layers 3-4-6-3, width 64, 224 px, E 1024, under torch.no_grad() on the same
threads. Prints one JSON line.

    env -u PYTHONPATH .venv-extract/bin/python tools/reference/bench/resnet_torch.py [--threads 2] [--batch 32]
"""

import argparse
import importlib.util
import json
import pathlib
import time

import torch


def model_py():
    spec = importlib.util.find_spec("clip")
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / "model.py"
    module_spec = importlib.util.spec_from_file_location("openai_clip_model", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repetitions", type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = model_py().ModifiedResNet(layers=(3, 4, 6, 3), output_dim=1024, heads=32, input_resolution=224, width=64).eval()
    pixels = torch.randn(args.batch, 3, 224, 224)
    times = []
    with torch.no_grad():
        model(pixels[:2])
        for _ in range(args.repetitions):
            t0 = time.perf_counter()
            model(pixels)
            times.append(time.perf_counter() - t0)
    best = min(times)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "batch": args.batch,
                      "best_s": best, "images_per_s": args.batch / best, "mkldnn": torch.backends.mkldnn.is_available()}))


if __name__ == "__main__":
    main()
