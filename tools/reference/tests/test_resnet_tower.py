"""The native ModifiedResNet image tower against OpenAI's model.py, random
weights: RN50 itself (layers 3-4-6-3, width 64, 224 px, E 1024) on 4 images,
and a small, fast one (layers 2-1-2-1, width 8, 96 px, a 3 × 3 grid).

A deep random ResNet maps every image to nearly the same feature, which
would let an image-independent mistake pass. So every parameter is
perturbed, BatchNorm gains and biases are made far from 1 and 0, and the
running statistics are calibrated on random images (train mode, cumulative
averages) before eval; the comparison covers the raw features and their
image-dependent part (each feature minus the batch mean). Target: max |Δ|
≤ 1e-4 of the largest reference value, in f32."""

import pytest
import torch
from safetensors.torch import load_file, save_file

from conftest import perturb, relative_error, run_spurscope


def resnet_clip(model_py, layers, width, resolution, embed_dim, seed, context_length=16, vocab_size=64):
    """`context_length` and `vocab_size` of the (tiny) text tower: CLIP's
    77 and 49,408 for a checkpoint `spurscope extract` can read whole."""
    torch.manual_seed(seed)
    model = model_py.CLIP(embed_dim=embed_dim, image_resolution=resolution, vision_layers=layers, vision_width=width,
                          vision_patch_size=None, context_length=context_length, vocab_size=vocab_size, transformer_width=64,
                          transformer_heads=1, transformer_layers=1)
    perturb(model, seed=seed)
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, m in model.visual.named_modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                # CLIP's initialisation zeroes every bn3 gain: the residual
                # branches would vanish and a wrong one would pass. Gains
                # below 1 there keep the random network from amplifying
                # rounding block after block (trained ResNets have them small).
                low, high = (0.2, 0.6) if name.endswith("bn3") else (0.75, 1.25)
                m.weight.copy_(low + (high - low) * torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
    calibrate(model.visual, resolution, seed)
    return model.eval()


def calibrate(visual, resolution, seed, batches=2, images=6):
    """BatchNorm's running statistics from random images, so each one keeps
    its activations in range and depends on the image."""
    norms = [m for m in visual.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    g = torch.Generator().manual_seed(seed + 2)
    visual.train()
    with torch.no_grad():
        for _ in range(batches):
            visual(torch.randn(images, 3, resolution, resolution, generator=g))
    visual.eval()


def reference(visual, pixels):
    """Pooled features and the attention pool's value map, from layer4's
    output as the pool sees it: c_proj(v_proj(x + positional[1:]))."""
    seen = {}
    hook = visual.layer4.register_forward_hook(lambda module, inputs, output: seen.update(layer4=output))
    with torch.no_grad():
        pooled = visual(pixels)
        x = seen["layer4"]
        n, c, h, w = x.shape
        pool = visual.attnpool
        tokens = x.reshape(n, c, h * w).permute(0, 2, 1) + pool.positional_embedding[1:]
        spatial = pool.c_proj(pool.v_proj(tokens)).reshape(n, h, w, -1)
    hook.remove()
    return pooled, spatial


def native(tmp_path, model, pixels):
    ckpt, px, out = tmp_path / "RN.safetensors", tmp_path / "pixels.safetensors", tmp_path / "out.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, ckpt)
    save_file({"pixel_values": pixels.contiguous()}, px)
    run_spurscope("encode-images", "--checkpoint", ckpt, "--pixels", px, "--out", out)
    return load_file(out)


def centred_error(ours, ref):
    return relative_error(ours - ours.mean(0, keepdim=True), ref - ref.mean(0, keepdim=True))


@pytest.mark.parametrize("layers,width,resolution,embed_dim,images", [
    ((2, 1, 2, 1), 8, 96, 48, 5),
    ((3, 4, 6, 3), 64, 224, 1024, 4),
], ids=["small", "RN50"])
def test_matches_model_py(tmp_path, openai_model_py, layers, width, resolution, embed_dim, images):
    model = resnet_clip(openai_model_py, layers, width, resolution, embed_dim, seed=sum(layers) + width)
    pixels = torch.randn(images, 3, resolution, resolution, generator=torch.Generator().manual_seed(9))
    ref_pooled, ref_spatial = reference(model.visual, pixels)
    with torch.no_grad():
        assert torch.allclose(ref_pooled, model.encode_image(pixels))
    out = native(tmp_path, model, pixels)
    grid = resolution // 32
    assert out["image_pooled"].shape == (images, embed_dim)
    assert out["image_spatial"].shape == (images, grid, grid, embed_dim)
    assert torch.equal(out["W_v"], torch.eye(embed_dim))
    # The features must depend on the image, or the comparison proves little.
    spread = float((ref_pooled - ref_pooled.mean(0)).abs().max() / ref_pooled.abs().max())
    errors = {
        "pooled": relative_error(out["image_pooled"], ref_pooled),
        "pooled, image-dependent part": centred_error(out["image_pooled"], ref_pooled),
        "spatial": relative_error(out["image_spatial"], ref_spatial),
        "spatial, image-dependent part": centred_error(out["image_spatial"], ref_spatial),
    }
    print(f"\n{layers} width {width} at {resolution} px: image-dependent share of the pooled feature {spread:.2f}")
    for name, err in errors.items():
        print(f"  {name}: max |Δ| / max |ref| = {err:.2e}")
    assert spread > 0.05
    assert all(err <= 1e-4 for err in errors.values()), errors


def test_rn50_f16_checkpoint(tmp_path, openai_model_py):
    """Every tensor stored as F16 (BatchNorm statistics too), as released
    checkpoints often are. The reference runs the same f16-rounded weights
    in f32: what the native tower computes after widening them and folding
    the BatchNorms."""
    layers, width, resolution, embed_dim = (3, 4, 6, 3), 64, 224, 1024
    model = resnet_clip(openai_model_py, layers, width, resolution, embed_dim, seed=77).half()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    assert state["visual.layer1.0.bn1.running_var"].dtype == torch.float16
    assert state["visual.attnpool.c_proj.weight"].dtype == torch.float16
    model = model.float()
    pixels = torch.randn(3, 3, resolution, resolution, generator=torch.Generator().manual_seed(12))
    ref_pooled, ref_spatial = reference(model.visual, pixels)
    ckpt, px, out = tmp_path / "RN50-f16.safetensors", tmp_path / "pixels.safetensors", tmp_path / "out.safetensors"
    save_file(state, ckpt)
    save_file({"pixel_values": pixels.contiguous()}, px)
    run_spurscope("encode-images", "--checkpoint", ckpt, "--pixels", px, "--out", out)
    ours = load_file(out)
    errors = {
        "pooled": relative_error(ours["image_pooled"], ref_pooled),
        "pooled, image-dependent part": centred_error(ours["image_pooled"], ref_pooled),
        "spatial": relative_error(ours["image_spatial"], ref_spatial),
    }
    print("\nRN50 f16 weights: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    assert all(err <= 1e-4 for err in errors.values()), errors


def test_wrong_shape_names_the_tensor(tmp_path, openai_model_py):
    model = resnet_clip(openai_model_py, (1, 1, 1, 1), 8, 64, 32, seed=3)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state["visual.layer2.0.downsample.1.running_mean"] = torch.zeros(31)
    save_file(state, tmp_path / "bad.safetensors")
    save_file({"pixel_values": torch.zeros(1, 3, 64, 64)}, tmp_path / "pixels.safetensors")
    out = run_spurscope("encode-images", "--checkpoint", tmp_path / "bad.safetensors", "--pixels", tmp_path / "pixels.safetensors",
                        "--out", tmp_path / "out.safetensors", check=False)
    assert out.returncode == 2
    assert "visual.layer2.0.downsample.1.running_mean" in out.stderr and "bad.safetensors" in out.stderr and "64" in out.stderr
