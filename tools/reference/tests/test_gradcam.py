"""Grad-CAM from a bundle's cached tail input (`spurscope cam --json`)
against torch autograd through the whole image tower, with hooks at the
target layer, on random weights:

- Hugging Face CLIPModel at `vision_model.encoder.layers[-1].layer_norm1`
  (pytorch-grad-cam's CLIP target), a small ViT and ViT-B/32's size;
- OpenAI's model.py ViT at `visual.transformer.resblocks[-1].ln_1`;
- OpenAI's model.py RN50 at `visual.layer4` (the paper's), BatchNorm
  calibrated on images so the map depends on the image.

The class score is `s · cos(W_v·f, ĉ_y)` with `ĉ_y` the normalised mean of
the class's normalised template embeddings `W_t·t`, under the bundle's
pre-trained heads and under perturbed ones (a fine-tuned model: only the
heads move, the tail is frozen). Grad-CAM as Selvaraju et al.: weights =
the spatial mean of the gradient at the target, map = ReLU(Σ_c w_c A_c) on
the feature grid (a ViT's class token left out). Target: maps within 1e-4
of their maximum, gradients at the target within 1e-4 relative.

The pixels torch sees are the ones spurscope saw (`spurscope preprocess`),
and the tail input is stored in f32. The reference runs in float64: in
float32 torch's own backward through RN50's attention pool is 3e-3 off its
float64 one (measured; ours is 3e-7 off it), which would hide a real error
of that size."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from safetensors.torch import load_file, save_file
from transformers import CLIPConfig, CLIPModel

from conftest import perturb, relative_error, run_spurscope
from test_resnet_tower import resnet_clip

CLASSES = ["heron", "sparrow"]
TEXT = dict(vocab_size=49408, hidden_size=64, intermediate_size=128, num_hidden_layers=1, num_attention_heads=2,
            max_position_embeddings=77, bos_token_id=49406, eos_token_id=49407, pad_token_id=49407)


def photos(directory, count=3, seed=0):
    """Photograph-shaped pictures (500 × 375 and 375 × 500, JPEG and PNG)
    with smooth shading and a few shapes, and a labels.csv for them."""
    directory.mkdir()
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(count):
        w, h = (500, 375) if i % 2 == 0 else (375, 500)
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([128 + 100 * np.sin(xx / (30 + 20 * c) + yy / (45 + 10 * c) + rng.uniform(0, 6)) for c in range(3)], -1)
        img = Image.fromarray(np.clip(base + rng.normal(0, 8, base.shape), 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(img)
        for _ in range(3):
            x0, y0 = rng.integers(0, w // 2), rng.integers(0, h // 2)
            draw.ellipse([x0, y0, x0 + rng.integers(40, w // 2), y0 + rng.integers(40, h // 2)],
                         fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
        name = f"{i:02d}.{'jpg' if i % 2 else 'png'}"
        img.save(directory / name, quality=95)
        rows.append([f"p{i}", name, CLASSES[i % 2], "test"])
    labels = directory.parent / "labels.csv"
    with open(labels, "w", newline="") as f:
        csv.writer(f).writerows([["id", "image", "label", "split"]] + rows)
    return labels


def preprocessed(tmp_path, checkpoint):
    """The photos (made once per test) as spurscope's pre-processing gives
    them to the tower."""
    images = tmp_path / "images"
    if not images.exists():
        photos(images)
    px = tmp_path / "pixels.safetensors"
    run_spurscope("preprocess", "--checkpoint", checkpoint, *sorted(images.iterdir()), "--out", px)
    return load_file(px)["pixel_values"]


def extract(tmp_path, checkpoint, vocab_gz):
    pixels = preprocessed(tmp_path, checkpoint)
    out, words = tmp_path / "bundle", tmp_path / "words.txt"
    words.write_text("water\ntree\n")
    run_spurscope("extract", "--checkpoint", checkpoint, "--images", tmp_path / "images", "--labels", tmp_path / "labels.csv",
                  "--vocabulary", words, "--vocab", vocab_gz, "--spatial-dtype", "f32", "--out", out, "--quiet")
    ids = [row["id"] for row in csv.DictReader(open(out / "examples.csv"))]
    assert ids == [f"p{i}" for i in range(len(pixels))]
    return out, ids, pixels


def perturb_heads(bundle, seed):
    """The bundle's heads moved as fine-tuning moves them (W_v, W_t, the
    scale); everything else kept."""
    f = load_file(bundle / "features.safetensors")
    g = torch.Generator().manual_seed(seed)
    for name in ("W_v", "W_t"):
        w = f[name]
        f[name] = w + 0.5 * w.std() * torch.randn(w.shape, generator=g)
    f["logit_scale"] = torch.tensor(math.log(30.0))
    save_file(f, bundle / "features.safetensors")


def class_score_parts(bundle):
    """W_v, the class embeddings ĉ [C, E] and the scale s, from the bundle."""
    f = load_file(bundle / "features.safetensors")
    prompts = [row["prompt"] for row in csv.DictReader(open(bundle / "prompts.csv"))]
    manifest = json.loads((bundle / "manifest.json").read_text())
    k = len(manifest["templates"])
    text = torch.nn.functional.normalize(f["text_prompts"].double() @ f["W_t"].double().T, dim=1)
    classes = [torch.nn.functional.normalize(text[c * k:(c + 1) * k].mean(0), dim=0) for c in range(len(manifest["classes"]))]
    assert prompts[k] == manifest["templates"][0].replace("{}", manifest["classes"][1])
    scale = min(math.exp(float(f["logit_scale"])), 100.0)
    return f["W_v"].double(), torch.stack(classes), scale


def torch_gradcam(forward, pixels, target_module, to_grid, bundle, y):
    """Activations and gradient at `target_module` of class `y`'s score, and
    the Grad-CAM map. `forward(pixels)` returns the pooled feature;
    `to_grid(t)` turns the module's output into `[T, C]` rows and says
    which rows are the map."""
    W_v, classes, scale = class_score_parts(bundle)
    caught = {}

    def hook(module, inputs, output):
        output.retain_grad()
        caught["a"] = output

    handle = target_module.register_forward_hook(hook)
    pooled = forward(pixels).double()
    handle.remove()
    v = torch.nn.functional.normalize(pooled @ W_v.T, dim=-1)
    (scale * (v[0] @ classes[y])).backward()
    a, rows = to_grid(caught["a"].detach())
    g, _ = to_grid(caught["a"].grad)
    w = g[rows].double().mean(0)
    return torch.relu(a[rows].double() @ w), g, w


def native_gradcam(bundle, example, y):
    out = run_spurscope("cam", bundle, "--example", example, "--class", CLASSES[y], "--json", "--gradients").stdout
    return json.loads(out)


def compare(name, ours, ref_map, ref_grad, ref_weights, layer):
    assert ours["layer"] == layer
    grid = torch.tensor(ours["grid"], dtype=torch.float64).flatten()
    errors = {"map": float((grid - ref_map).abs().max() / ref_map.abs().max()),
              "gradient": relative_error(torch.tensor(ours["gradient"]), ref_grad),
              "weights": relative_error(torch.tensor(ours["channel_weights"]), ref_weights)}
    print(f"{name}: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    assert ref_map.abs().max() > 0, "a map that is zero everywhere checks nothing"
    assert max(errors.values()) <= 1e-4, errors


def check_all(tmp_path, bundle, ids, pixels, model, forward, module, to_grid, layer, name, double=True):
    if double:
        model.double()
        pixels = pixels.double()
    for heads in ("pre-trained", "perturbed"):
        if heads == "perturbed":
            perturb_heads(bundle, seed=7)
        for i, example in enumerate(ids):
            for y in range(len(CLASSES)):
                ref_map, ref_grad, ref_w = torch_gradcam(forward, pixels[i:i + 1], module(), to_grid, bundle, y)
                compare(f"{name} {heads} {example} class {y}", native_gradcam(bundle, example, y),
                        ref_map, ref_grad, ref_w, layer)


def vit_rows(t):
    """[1, T, D] (NLD) to rows, the class token left out of the map."""
    return t[0], slice(1, None)


@pytest.mark.parametrize("size", ["small", "B32"])
def test_hugging_face_vit_at_the_last_layer_norm1(tmp_path, vocab_gz, size):
    width, layers, patch, image, heads = {"small": (128, 2, 16, 64, 4), "B32": (768, 12, 32, 224, 12)}[size]
    torch.manual_seed(20)
    vision = dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers, num_attention_heads=heads,
                  image_size=image, patch_size=patch, hidden_act="quick_gelu" if size == "B32" else "gelu")
    model = CLIPModel(CLIPConfig(text_config=TEXT, vision_config=vision, projection_dim=32)).eval()
    perturb(model, seed=20)
    model.save_pretrained(tmp_path / "ckpt")
    bundle, ids, pixels = extract(tmp_path, tmp_path / "ckpt", vocab_gz)
    check_all(tmp_path, bundle, ids, pixels, model, lambda x: model.vision_model(pixel_values=x).pooler_output,
              lambda: model.vision_model.encoder.layers[-1].layer_norm1, vit_rows,
              "vision_model.encoder.layers[-1].layer_norm1", f"HF {size}")


def test_openai_vit_at_the_last_ln_1(tmp_path, openai_model_py, vocab_gz):
    torch.manual_seed(21)
    model = openai_model_py.CLIP(embed_dim=32, image_resolution=64, vision_layers=2, vision_width=128, vision_patch_size=16,
                                 context_length=77, vocab_size=49408, transformer_width=64, transformer_heads=1,
                                 transformer_layers=1).eval()
    perturb(model, seed=21)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, tmp_path / "clip.safetensors")
    bundle, ids, pixels = extract(tmp_path, tmp_path / "clip.safetensors", vocab_gz)
    caught = {}
    model.visual.ln_post.register_forward_hook(lambda m, i, o: caught.update(pooled=o))

    def pooled(x):
        model.visual(x)
        return caught["pooled"]

    # model.py runs its transformer sequence-first: ln_1's output is [T, N, D].
    # Its LayerNorm computes in float32 whatever the weights, so this
    # reference stays in float32 (a ViT's backward is well conditioned).
    check_all(tmp_path, bundle, ids, pixels, model, pooled, lambda: model.visual.transformer.resblocks[-1].ln_1,
              lambda t: (t[:, 0], slice(1, None)), "visual.transformer.resblocks[-1].ln_1", "OpenAI ViT", double=False)


def fit_to_the_photos(visual, pixels, spread=2.0):
    """BatchNorm's running statistics taken on the photos themselves, then
    the pool's query scaled so its scores over the positions have a
    standard deviation of about `spread`. Calibrated on noise, a random
    RN50's layer4 is so large on photos that its pool attends one-hot
    (score spreads of 7·10⁴ measured), where a 1e-6 difference in layer4
    moves a near-tie's softmax by 1e-3 in any two implementations; a trained
    pool attends softly."""
    norms = [m for m in visual.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    caught = {}
    hook = visual.layer4.register_forward_hook(lambda m, i, o: caught.update(x=o))
    with torch.no_grad():
        visual.train()
        visual(pixels)
        visual.eval()
        visual(pixels)
        pool = visual.attnpool
        x = caught["x"].flatten(2).permute(2, 0, 1)
        x = torch.cat([x.mean(0, keepdim=True), x]) + pool.positional_embedding[:, None, :]
        heads, width = pool.num_heads, x.shape[-1]
        q = pool.q_proj(x[:1]).reshape(1, -1, heads, width // heads)
        k = pool.k_proj(x).reshape(x.shape[0], -1, heads, width // heads)
        scores = (q * k).sum(-1) / math.sqrt(width // heads)
        factor = spread / float(scores.std(0).mean())
        pool.q_proj.weight.mul_(factor)
        pool.q_proj.bias.mul_(factor)
    hook.remove()
    return factor


def test_rn50_at_layer4(tmp_path, openai_model_py, vocab_gz):
    model = resnet_clip(openai_model_py, (3, 4, 6, 3), 64, 224, 1024, seed=22, context_length=77, vocab_size=49408)
    checkpoint = tmp_path / "RN50.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, checkpoint)
    factor = fit_to_the_photos(model.visual, preprocessed(tmp_path, checkpoint))
    print(f"RN50: the pool's query scaled by {factor:.3g}")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, checkpoint)
    bundle, ids, pixels = extract(tmp_path, checkpoint, vocab_gz)
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["cam_tail"]["kind"] == "attention-pool" and manifest["pooling"] == "attention"
    assert load_file(bundle / "features.safetensors")["image_tail_input"].shape == (3, 49, 2048)

    def layer4_rows(t):
        # [1, C, H, W] to [H·W, C], row h·W + w: every cell is on the map.
        return t[0].flatten(1).T, slice(None)

    check_all(tmp_path, bundle, ids, pixels, model, lambda x: model.visual(x), lambda: model.visual.layer4, layer4_rows,
              "visual.layer4", "RN50")
