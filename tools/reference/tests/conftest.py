"""Independent references for native CLIP (Sources/SpurCLIP): torch,
transformers, and OpenAI's own clip/model.py and clip/simple_tokenizer.py,
loaded by file path (the package's __init__ imports torchvision, which does
not load with this torch). Nothing can be downloaded here, so every model is
built with random weights; the tokenizer uses the real vocabulary that the
openai-clip package ships."""

import importlib.util
import json
import os
import pathlib
import subprocess

import pytest
import torch

SPURSCOPE = os.environ.get("SPURSCOPE", str(pathlib.Path(__file__).resolve().parents[3] / ".build/debug/spurscope"))


def clip_file(name):
    """A file of the openai-clip package, found without importing the package."""
    spec = importlib.util.find_spec("clip")
    assert spec is not None and spec.submodule_search_locations, "openai-clip is not installed (make extract-deps)"
    path = pathlib.Path(list(spec.submodule_search_locations)[0]) / name
    assert path.exists(), path
    return path


def load_clip_module(name):
    spec = importlib.util.spec_from_file_location(f"openai_clip_{name}", clip_file(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def openai_model_py():
    return load_clip_module("model")


@pytest.fixture(scope="session")
def vocab_gz():
    return clip_file("bpe_simple_vocab_16e6.txt.gz")


def run_spurscope(*args, check=True):
    out = subprocess.run([SPURSCOPE, *map(str, args)], capture_output=True, text=True)
    if check:
        assert out.returncode == 0, f"spurscope {' '.join(map(str, args))} exited {out.returncode}: {out.stderr}"
    return out


def json_lines(text):
    # split("\n"), not splitlines(): JSON leaves U+2028 and U+001C unescaped.
    return [json.loads(line) for line in text.split("\n") if line.strip()]


def perturb(module, scale=0.02, seed=0):
    """Adds noise to every parameter and buffer that is a float, so LayerNorm
    gains and every bias are non-trivial (default initialisations leave them
    at 1 and 0, which would let a wrong gain or a missing bias pass)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.is_floating_point():
                p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))


def relative_error(ours, ref):
    ours, ref = torch.as_tensor(ours, dtype=torch.float64), torch.as_tensor(ref, dtype=torch.float64)
    return float((ours - ref).abs().max() / ref.abs().max())
