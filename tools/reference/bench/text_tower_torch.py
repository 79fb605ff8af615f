"""PyTorch eager CLIPTextModel on the prompts of `spurscope bench --suite text`,
for the ratio in BENCHMARKS.md: ViT-B/32's text size, random weights, the
same 1,040 prompts, tokenized by transformers and padded to the longest prompt
of each batch, on the same threads. Prints one JSON line.

    .venv-extract/bin/python tools/reference/bench/text_tower_torch.py [--threads 2] [--batch 1040]
"""

import argparse
import json
import pathlib
import time

import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[3]


def templates():
    namespace = {}
    exec((ROOT / "tools/extract/spurscope_extract/templates.py").read_text(), namespace)
    return namespace["IMAGENET80"]


# TextBenchmark.swift's words, in its order.
WORDS = ["water", "tree", "boat", "sky", "grass", "forest", "beach", "lake", "road", "sand", "snow", "rock", "field"]


def tokenizer():
    """transformers' CLIPTokenizer on openai-clip's real vocabulary."""
    import importlib.util
    import tempfile
    spec = importlib.util.find_spec("clip")
    folder = pathlib.Path(list(spec.submodule_search_locations)[0])
    st_spec = importlib.util.spec_from_file_location("st", folder / "simple_tokenizer.py")
    st = importlib.util.module_from_spec(st_spec)
    st_spec.loader.exec_module(st)
    simple = st.SimpleTokenizer(str(folder / "bpe_simple_vocab_16e6.txt.gz"))
    out = pathlib.Path(tempfile.mkdtemp())
    (out / "vocab.json").write_text(json.dumps(simple.encoder))
    merges = sorted(simple.bpe_ranks, key=simple.bpe_ranks.get)
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return CLIPTokenizer.from_pretrained(str(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=1040, help="Prompts per forward pass (each batch padded to its longest).")
    p.add_argument("--repetitions", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    config = CLIPTextConfig(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
                            num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu")
    model = CLIPTextModel(config).eval()
    tok = tokenizer()
    texts = [t.replace("{}", f"bird on {w}") for t in templates() for w in WORDS]
    phrase = [t.replace("{}", "waterbird swimming on a misty lake") for t in templates()]

    def run(prompts):
        for i in range(0, len(prompts), args.batch):
            inputs = tok(prompts[i:i + args.batch], padding="longest", return_tensors="pt")
            model(**inputs)

    def best(prompts):
        times = []
        with torch.inference_mode():
            run(prompts[:8])
            for _ in range(args.repetitions):
                t0 = time.perf_counter()
                run(prompts)
                times.append(time.perf_counter() - t0)
        return min(times)

    batch_s, verdict_s = best(texts), best(phrase)
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "batch_prompts": len(texts),
                      "batch_s": batch_s, "prompts_per_s": len(texts) / batch_s, "verdict_s": verdict_s}))


if __name__ == "__main__":
    main()
