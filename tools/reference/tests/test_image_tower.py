"""The native ViT image tower against transformers' CLIPModel (Hugging Face
layout) and OpenAI's model.py VisionTransformer (OpenAI / open_clip layout),
random perturbed weights at ViT-B/32's size (width 768, 12 layers, 32-pixel
patches on 224 pixels: 50 tokens) and at a small size whose token count is
no power of two (16-pixel patches on 64 pixels: 17 tokens). Compared: the
pooled feature (post-LN of the class token), the spatial map (post-LN of
every patch token, [N, H, W, Dv]) and W_v (W_v · pooled = the joint-space
image feature). Target: max |Δ| ≤ 1e-4 of the largest reference value, f32."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import CLIPConfig, CLIPModel

from conftest import perturb, relative_error, run_spurscope

# (width, layers, patch, image size); Hugging Face heads = width / 64 as
# OpenAI's, except where a test says otherwise.
SIZES = {"B32": (768, 12, 32, 224), "small": (128, 2, 16, 64)}
EMBED = 96
IMAGES = 5  # not a token count of either size, so a transposed batch cannot pass
SMALL_TEXT = dict(vocab_size=100, hidden_size=64, intermediate_size=128, num_hidden_layers=1,
                  num_attention_heads=2, max_position_embeddings=16, bos_token_id=98, eos_token_id=99, pad_token_id=1)


def pixels(tmp_path, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(IMAGES, 3, size, size, generator=g)
    path = tmp_path / "pixels.safetensors"
    save_file({"pixel_values": x}, path)
    return x, path


def native(tmp_path, checkpoint, pixel_file):
    out = tmp_path / "features.safetensors"
    run_spurscope("encode-images", "--checkpoint", checkpoint, "--pixels", pixel_file, "--out", out)
    return load_file(out)


def check(name, ours, pooled, spatial, joint):
    """Errors of pooled, spatial and W_v · pooled, printed, all within 1e-4."""
    assert ours["image_pooled"].shape == pooled.shape and ours["image_spatial"].shape == spatial.shape
    errors = {"pooled": relative_error(ours["image_pooled"], pooled),
              "spatial": relative_error(ours["image_spatial"], spatial),
              "W_v·pooled": relative_error(ours["image_pooled"].double() @ ours["W_v"].double().T, joint)}
    print(f"{name}: " + ", ".join(f"{k} {v:.2e}" for k, v in errors.items()))
    assert max(errors.values()) <= 1e-4, errors


def hf_model(seed, size, hidden_act="quick_gelu", heads=None):
    width, layers, patch, image = SIZES[size]
    torch.manual_seed(seed)
    vision = dict(hidden_size=width, intermediate_size=4 * width, num_hidden_layers=layers,
                  num_attention_heads=heads or width // 64, image_size=image, patch_size=patch, hidden_act=hidden_act)
    model = CLIPModel(CLIPConfig(text_config=SMALL_TEXT, vision_config=vision, projection_dim=EMBED)).eval()
    perturb(model, seed=seed)
    return model


def hf_reference(model, x):
    with torch.no_grad():
        out = model.vision_model(pixel_values=x)
        n, tokens, width = out.last_hidden_state.shape
        grid = int(round((tokens - 1) ** 0.5))
        spatial = model.vision_model.post_layernorm(out.last_hidden_state[:, 1:]).reshape(n, grid, grid, width)
        joint = model.get_image_features(pixel_values=x).pooler_output
    return out.pooler_output, spatial, joint


@pytest.mark.parametrize("size", ["B32", "small"])
@pytest.mark.parametrize("hidden_act", ["quick_gelu", "gelu"])
def test_hugging_face_layout_matches_clip_model(tmp_path, size, hidden_act):
    # 4 heads of 32 at the small size: a head width other than OpenAI's 64.
    model = hf_model(10, size, hidden_act, heads=4 if size == "small" else None)
    model.save_pretrained(tmp_path / "ckpt")
    x, pixel_file = pixels(tmp_path, SIZES[size][3], seed=10)
    ours = native(tmp_path, tmp_path / "ckpt", pixel_file)
    assert torch.equal(ours["W_v"], model.visual_projection.weight.detach())
    check(f"HF {size} {hidden_act}", ours, *hf_reference(model, x))


def test_hugging_face_f16_checkpoint(tmp_path):
    model = hf_model(11, "B32").half()
    model.save_pretrained(tmp_path / "ckpt")
    x, pixel_file = pixels(tmp_path, 224, seed=11)
    # The reference runs the same f16-rounded weights in f32: what the
    # native tower computes after widening them.
    ours = native(tmp_path, tmp_path / "ckpt", pixel_file)
    check("HF B32 f16 weights", ours, *hf_reference(model.float(), x))


def openai_clip(model_py, seed, size, quick_gelu=True):
    width, layers, patch, image = SIZES[size]
    torch.manual_seed(seed)
    model = model_py.CLIP(embed_dim=EMBED, image_resolution=image, vision_layers=layers, vision_width=width,
                          vision_patch_size=patch, context_length=16, vocab_size=100, transformer_width=64,
                          transformer_heads=1, transformer_layers=1).eval()
    perturb(model, seed=seed)
    if not quick_gelu:
        for block in model.visual.transformer.resblocks:
            block.mlp.gelu = torch.nn.GELU()
    return model


def openai_reference(visual, x):
    """ln_post of every token after the transformer (caught by a hook), and
    model.visual's own output, which is ln_post(class token) @ proj."""
    caught = {}
    hook = visual.transformer.register_forward_hook(lambda module, inputs, output: caught.update(x=output))
    with torch.no_grad():
        joint = visual(x)
        tokens = caught["x"].permute(1, 0, 2)  # LND -> NLD
        pooled = visual.ln_post(tokens[:, 0])
        grid = int(round((tokens.shape[1] - 1) ** 0.5))
        spatial = visual.ln_post(tokens[:, 1:]).reshape(x.shape[0], grid, grid, -1)
    hook.remove()
    assert torch.allclose(pooled @ visual.proj, joint, atol=1e-5)
    return pooled, spatial, joint


def state_dict(model):
    return {k: v.contiguous() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("size", ["B32", "small"])
def test_openai_layout_matches_model_py(tmp_path, openai_model_py, size):
    model = openai_clip(openai_model_py, 12, size)
    save_file(state_dict(model), tmp_path / "clip.safetensors")
    x, pixel_file = pixels(tmp_path, SIZES[size][3], seed=12)
    ours = native(tmp_path, tmp_path / "clip.safetensors", pixel_file)
    assert torch.equal(ours["W_v"], model.visual.proj.detach().T)
    check(f"OpenAI {size}", ours, *openai_reference(model.visual, x))


def test_open_clip_folder_without_quick_gelu_uses_gelu(tmp_path, openai_model_py):
    model = openai_clip(openai_model_py, 13, "small", quick_gelu=False)
    folder = tmp_path / "hub"
    folder.mkdir()
    save_file(state_dict(model), folder / "open_clip_model.safetensors")
    width, layers, patch, image = SIZES["small"]
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {
        "embed_dim": EMBED, "quick_gelu": False,
        "vision_cfg": {"image_size": image, "layers": layers, "width": width, "patch_size": patch},
        "text_cfg": {"context_length": 16, "vocab_size": 100, "width": 64, "heads": 1, "layers": 1}}}))
    x, pixel_file = pixels(tmp_path, image, seed=13)
    check("open_clip small gelu", native(tmp_path, folder, pixel_file), *openai_reference(model.visual, x))


def test_unknown_tensor_in_the_tower_is_refused(tmp_path, openai_model_py):
    state = state_dict(openai_clip(openai_model_py, 14, "small"))
    state["visual.transformer.resblocks.1.ls_2.gamma"] = torch.ones(SIZES["small"][0])  # open_clip's layer scale
    save_file(state, tmp_path / "scaled.safetensors")
    _, pixel_file = pixels(tmp_path, 64)
    out = run_spurscope("encode-images", "--checkpoint", tmp_path / "scaled.safetensors", "--pixels", pixel_file,
                        "--out", tmp_path / "out.safetensors", check=False)
    assert out.returncode == 2
    assert "visual.transformer.resblocks.1.ls_2.gamma" in out.stderr and "scaled.safetensors" in out.stderr
