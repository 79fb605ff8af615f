"""The native text tower against transformers' CLIPTextModel (Hugging Face
layout) and OpenAI's model.py (OpenAI / open_clip layout), random weights
at ViT-B/32's text size: width 512, 12 layers, 8 heads, 49,408 tokens, 77
positions. Target: max |Δ| ≤ 1e-4 of the largest reference value, in f32."""

import json

import pytest
import torch
from safetensors.torch import save_file
from transformers import CLIPConfig, CLIPModel

from conftest import json_lines, perturb, relative_error, run_spurscope

START, END, VOCAB, CONTEXT, WIDTH, LAYERS, HEADS = 49406, 49407, 49408, 77, 512, 12, 8


def token_sequences(seed=0, count=24):
    """Start … end sequences of every length from 2 to 77 tokens (the
    shortest, the longest and random ones between), ids below the specials."""
    g = torch.Generator().manual_seed(seed)
    lengths = [2, 3, CONTEXT] + torch.randint(4, CONTEXT, (count - 3,), generator=g).tolist()
    return [[START] + torch.randint(0, START, (n - 2,), generator=g).tolist() + [END] for n in lengths]


def padded(sequences, pad=0):
    return torch.tensor([s + [pad] * (CONTEXT - len(s)) for s in sequences])


def write_ids(tmp_path, sequences):
    path = tmp_path / "ids.json"
    path.write_text(json.dumps(sequences))
    return path


def native(checkpoint, ids_file):
    out = run_spurscope("encode", "--checkpoint", checkpoint, "--token-ids", ids_file, "--json")
    return torch.tensor([row["feature"] for row in json_lines(out.stdout)])


def hf_model(seed, hidden_act="quick_gelu", eos_token_id=END):
    torch.manual_seed(seed)
    text = dict(vocab_size=VOCAB, hidden_size=WIDTH, intermediate_size=4 * WIDTH, num_hidden_layers=LAYERS,
                num_attention_heads=HEADS, max_position_embeddings=CONTEXT, hidden_act=hidden_act,
                bos_token_id=START, eos_token_id=eos_token_id, pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=32, patch_size=16)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=256)).eval()
    perturb(model, seed=seed)
    return model


@pytest.mark.parametrize("hidden_act", ["quick_gelu", "gelu"])
def test_hugging_face_layout_matches_clip_text_model(tmp_path, hidden_act):
    model = hf_model(1, hidden_act)
    model.save_pretrained(tmp_path / "ckpt")
    seqs = token_sequences(1)
    # Padding after the end token, as a batch from the tokenizer has it: the
    # causal mask keeps it from reaching the pooled token.
    with torch.no_grad():
        ref = model.text_model(input_ids=padded(seqs, pad=END)).pooler_output
    ours = native(tmp_path / "ckpt", write_ids(tmp_path, seqs))
    assert ours.shape == ref.shape
    err = relative_error(ours, ref)
    print(f"HF {hidden_act}: max |Δ| / max |ref| = {err:.2e}")
    assert err <= 1e-4


def test_hugging_face_legacy_eos_pools_at_the_largest_id(tmp_path):
    # Configs from before transformers' fix say eos_token_id 2 and pool at the
    # argmax id; with an end token that is not the largest id, the two rules
    # disagree, so this fails if the legacy rule is not followed.
    model = hf_model(2, eos_token_id=2)
    model.save_pretrained(tmp_path / "ckpt")
    seqs = [[START, 49000, 17, END - 100, 5] for _ in range(2)] + token_sequences(2, 4)
    with torch.no_grad():
        ref = model.text_model(input_ids=padded(seqs)).pooler_output
    ours = native(tmp_path / "ckpt", write_ids(tmp_path, seqs))
    assert relative_error(ours, ref) <= 1e-4


def test_hugging_face_f16_checkpoint(tmp_path):
    model = hf_model(3).half()
    model.save_pretrained(tmp_path / "ckpt")
    seqs = token_sequences(3, 8)
    # The reference runs the same f16 weights in f32: what the native tower
    # computes after widening them.
    with torch.no_grad():
        ref = model.float().text_model(input_ids=padded(seqs, pad=END)).pooler_output
    ours = native(tmp_path / "ckpt", write_ids(tmp_path, seqs))
    err = relative_error(ours, ref)
    print(f"HF f16 weights: {err:.2e}")
    assert err <= 1e-4


def openai_clip(model_py, seed, quick_gelu=True):
    torch.manual_seed(seed)
    model = model_py.CLIP(embed_dim=256, image_resolution=32, vision_layers=1, vision_width=64, vision_patch_size=16,
                          context_length=CONTEXT, vocab_size=VOCAB, transformer_width=WIDTH,
                          transformer_heads=HEADS, transformer_layers=LAYERS).eval()
    perturb(model, seed=seed)
    if not quick_gelu:
        for block in model.transformer.resblocks:
            block.mlp.gelu = torch.nn.GELU()
    return model


def openai_text_features(model, text):
    """encode_text without its last step (the projection): what a bundle stores."""
    x = model.token_embedding(text) + model.positional_embedding
    x = model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
    x = model.ln_final(x)
    return x[torch.arange(x.shape[0]), text.argmax(dim=-1)]


def test_openai_layout_matches_model_py(tmp_path, openai_model_py):
    model = openai_clip(openai_model_py, 4)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, tmp_path / "ViT-B-32.safetensors")
    seqs = token_sequences(4)
    text = padded(seqs)  # OpenAI pads with 0 and always runs all 77 positions
    with torch.no_grad():
        ref = openai_text_features(model, text)
        # The split-off projection is encode_text's own last step.
        assert torch.allclose(ref @ model.text_projection, model.encode_text(text), atol=1e-5)
    ours = native(tmp_path / "ViT-B-32.safetensors", write_ids(tmp_path, seqs))
    err = relative_error(ours, ref)
    print(f"OpenAI layout: {err:.2e}")
    assert err <= 1e-4


def test_open_clip_folder_without_quick_gelu_uses_gelu(tmp_path, openai_model_py):
    model = openai_clip(openai_model_py, 5, quick_gelu=False)
    folder = tmp_path / "hub"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, folder / "open_clip_model.safetensors")
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {
        "embed_dim": 256, "quick_gelu": False,
        "text_cfg": {"context_length": CONTEXT, "vocab_size": VOCAB, "width": WIDTH, "heads": HEADS, "layers": LAYERS}}}))
    seqs = token_sequences(5, 8)
    with torch.no_grad():
        ref = openai_text_features(model, padded(seqs))
    assert relative_error(native(folder, write_ids(tmp_path, seqs)), ref) <= 1e-4


def test_unknown_tensor_in_the_tower_is_refused(tmp_path, openai_model_py):
    model = openai_clip(openai_model_py, 6)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state["transformer.resblocks.0.ls_1.gamma"] = torch.ones(WIDTH)  # open_clip's layer scale
    save_file(state, tmp_path / "scaled.safetensors")
    ids = write_ids(tmp_path, token_sequences(6, 3))
    out = run_spurscope("encode", "--checkpoint", tmp_path / "scaled.safetensors", "--token-ids", ids, check=False)
    assert out.returncode == 2
    assert "transformer.resblocks.0.ls_1.gamma" in out.stderr and "scaled.safetensors" in out.stderr


def test_wrong_shape_names_the_tensor(tmp_path, openai_model_py):
    model = openai_clip(openai_model_py, 7)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state["transformer.resblocks.3.attn.in_proj_bias"] = torch.zeros(WIDTH)
    save_file(state, tmp_path / "bad.safetensors")
    out = run_spurscope("encode", "--checkpoint", tmp_path / "bad.safetensors",
                        "--token-ids", write_ids(tmp_path, token_sequences(7, 3)), check=False)
    assert out.returncode == 2
    assert "transformer.resblocks.3.attn.in_proj_bias" in out.stderr and "1536" in out.stderr
