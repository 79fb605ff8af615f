"""`clip` against the library's own forward pass and against spurscope."""

import csv
import hashlib
import json
import os
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors import safe_open
from safetensors.numpy import load_file
from transformers import AutoTokenizer, CLIPModel, CLIPVisionConfig
from transformers.models.clip.modeling_clip import CLIPEncoderLayer
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

import tiny_models
from conftest import CLASSES, REPO, VOCABULARY, extract, read_examples, read_manifest, read_prompts, spurscope
from spurscope_extract.prompts import STAR_CONTEXTS, fill, prompt_table
from spurscope_extract.templates import IMAGENET80

# float32 through the same library on the same machine; only batch composition differs.
ATOL_F32 = 1e-5
# image_tail_input is stored as float16 by default: 11 significant bits.
RTOL_F16 = 1e-3


@pytest.fixture(scope="module")
def reference(clip_dir, dataset):
    """The checkpoint's own outputs for every image, one image at a time."""
    model = CLIPModel.from_pretrained(clip_dir).eval()
    processor = CLIPImageProcessorPil.from_pretrained(clip_dir)
    tokenizer = AutoTokenizer.from_pretrained(clip_dir)
    out = {"model": model, "tokenizer": tokenizer, "image_features": [], "pooled": [], "tokens": [], "tail": []}
    with torch.inference_mode():
        for row in dataset["rows"]:
            pixels = processor(images=Image.open(dataset["images"] / row[1]).convert("RGB"), return_tensors="pt")["pixel_values"]
            out["image_features"].append(model.get_image_features(pixel_values=pixels).pooler_output[0].numpy())
            v = model.vision_model(pixel_values=pixels, output_hidden_states=True)
            out["pooled"].append(v.pooler_output[0].numpy())
            out["tokens"].append(model.vision_model.post_layernorm(v.last_hidden_state)[0].numpy())
            out["tail"].append(v.hidden_states[-2][0].numpy())
    out["pixels"] = torch.cat([processor(images=Image.open(dataset["images"] / r[1]).convert("RGB"), return_tensors="pt")["pixel_values"]
                               for r in dataset["rows"]])
    return out


def test_templates_are_spurscopes():
    swift = open(os.path.join(REPO, "Sources", "SpurCore", "CLIPTemplates.swift")).read()
    assert re.findall(r'^\s*"((?:[^"\\]|\\.)*)",?\s*$', swift, re.M) == IMAGENET80
    assert len(IMAGENET80) == 80


def test_prompt_table_mirrors_the_synthetic_bundle():
    """The synthetic bundle's prompts.csv (written by Swift) is our table's
    first part for its classes and attributes; StarFT's captions follow."""
    synth = os.path.join(REPO, "sample-data", "waterbirds-synth")
    if not os.path.exists(os.path.join(synth, "prompts.csv")):
        pytest.fail("sample-data/waterbirds-synth is missing: run `make sample` first")
    m = read_manifest(synth)
    theirs = read_prompts(synth)
    ours = prompt_table(m["classes"], m["templates"], m["attributes"])
    assert ours[:len(theirs)] == theirs
    captions = ours[len(theirs):]
    contexts = len(STAR_CONTEXTS) + len(m["attributes"])
    assert len(captions) == len(m["classes"]) * len(m["templates"]) * contexts
    first = fill(m["templates"][0], m["classes"][0]).rstrip(".")
    assert captions[0] == f"{first} {STAR_CONTEXTS[0]}."
    assert captions[contexts - 1] == f"{first} with {m['attributes'][-1]}."


def test_star_contexts_mirror_spurscope():
    """The generic StarFT contexts are spurscope's own list, in its order."""
    swift = open(os.path.join(REPO, "Sources", "SpurEngine", "Methods", "StarFTMethod.swift")).read()
    body = swift[swift.index("public static let generic"):]
    body = body[:body.index("\n    ]")]
    assert re.findall(r'"((?:[^"\\]|\\.)*)"', body) == STAR_CONTEXTS


def test_manifest_and_examples(bundle, dataset, clip_dir):
    m = read_manifest(bundle)
    assert m["classes"] == CLASSES
    assert m["attributes"] == VOCABULARY            # 'landbird' (a class) was removed
    assert m["pooling"] == "token" and m["grid"] == {"H": 4, "W": 4}
    assert m["dims"] == {"Dv": 48, "Dt": 32, "E": 24}
    assert m["templates"] == IMAGENET80
    assert m["tensors"] == ["image_pooled", "image_tail_input", "text_prompts", "W_v", "W_t", "logit_scale"]
    assert m["cam_tail"] == {"kind": "vit-last-block", "layer": "vision_model.encoder.layers[-1].layer_norm1",
                             "heads": 4, "activation": "quick_gelu", "layer_norm_eps": 1e-5}
    examples = read_examples(bundle)
    assert [e["id"] for e in examples] == [r[0] for r in dataset["rows"]]
    assert [e["attr:water"] for e in examples] == [r[4] for r in dataset["rows"]]
    # The images listed are the model's views: resized, center-cropped, square.
    assert [e["image"] for e in examples] == [f"images/{i:07d}.png" for i in range(12)]
    assert [e["source_image"] for e in examples] == [str(dataset["images"] / r[1]) for r in dataset["rows"]]
    # The checkpoint is recorded, so the table stops at the class and
    # attribute prompts: spurscope encodes the rest when a method asks.
    assert read_prompts(bundle) == prompt_table(CLASSES, IMAGENET80, VOCABULARY, full=False)
    record = m["text_checkpoint"]
    weights = clip_dir / "model.safetensors"
    assert record == {"path": str(clip_dir.resolve()), "layout": "hf",
                      "digest": "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()}


def test_tensors_equal_the_models_own_forward_pass(bundle, reference):
    f = load_file(os.path.join(bundle, "features.safetensors"))
    model = reference["model"]
    np.testing.assert_array_equal(f["W_v"], model.visual_projection.weight.detach().numpy())
    np.testing.assert_array_equal(f["W_t"], model.text_projection.weight.detach().numpy())
    assert f["logit_scale"].shape == () and f["logit_scale"] == np.float32(model.logit_scale.item())
    np.testing.assert_allclose(f["image_pooled"], np.stack(reference["pooled"]), atol=ATOL_F32, rtol=0)
    # W_v · pooled is the library's get_image_features.
    np.testing.assert_allclose(f["image_pooled"] @ f["W_v"].T, np.stack(reference["image_features"]), atol=ATOL_F32, rtol=0)
    # The pooled feature is the class token after the last block, through post_layernorm.
    np.testing.assert_allclose(np.stack(reference["tokens"])[:, 0, :], f["image_pooled"], atol=ATOL_F32, rtol=0)
    # The tail input is hidden_states[-2], the tokens entering the last block
    # (class token, then the 4×4 patches row-major); no image_spatial beside it.
    assert "image_spatial" not in f
    assert f["image_tail_input"].dtype == np.float16 and f["image_tail_input"].shape == (12, 1 + 4 * 4, 48)
    np.testing.assert_allclose(f["image_tail_input"].astype(np.float32), np.stack(reference["tail"]),
                               rtol=RTOL_F16, atol=RTOL_F16)
    # Text rows against get_text_features of each prompt alone (no padding).
    prompts = read_prompts(bundle)
    with torch.inference_mode():
        for p in [0, 1, 79, 80, 160, 161, len(prompts) // 2, len(prompts) - 1]:
            tokens = reference["tokenizer"]([prompts[p]], return_tensors="pt")
            want = model.get_text_features(**tokens).pooler_output[0].numpy()
            np.testing.assert_allclose(f["text_prompts"][p] @ f["W_t"].T, want, atol=ATOL_F32, rtol=0)


CAM_TAIL_SHAPES = {
    "ln_1.weight": [48], "ln_1.bias": [48],
    "attn.in_proj_weight": [144, 48], "attn.in_proj_bias": [144],
    "attn.out_proj.weight": [48, 48], "attn.out_proj.bias": [48],
    "ln_2.weight": [48], "ln_2.bias": [48],
    "mlp.c_fc.weight": [96, 48], "mlp.c_fc.bias": [96],
    "mlp.c_proj.weight": [48, 96], "mlp.c_proj.bias": [48],
    "ln_post.weight": [48], "ln_post.bias": [48],
}


def fresh_tail(bundle):
    """The tail rebuilt from the bundle alone, not from the checkpoint: a new
    CLIPEncoderLayer configured from the manifest's cam_tail and loaded from
    cam_tail.safetensors (in_proj split back into q, k, v), then a LayerNorm
    loaded from ln_post.*. Returns tokens [N, 1+H·W, D] -> class token [N, D]."""
    t = read_manifest(bundle)["cam_tail"]
    with safe_open(os.path.join(bundle, "cam_tail.safetensors"), framework="numpy") as f:
        assert {k: f.get_slice(k).get_shape() for k in f.keys()} == CAM_TAIL_SHAPES
        assert all(f.get_slice(k).get_dtype() == "F32" for k in f.keys())
        w = {k: torch.from_numpy(f.get_tensor(k)) for k in f.keys()}
    d, ff = w["ln_1.weight"].shape[0], w["mlp.c_fc.weight"].shape[0]
    config = CLIPVisionConfig(hidden_size=d, intermediate_size=ff, num_attention_heads=t["heads"],
                              hidden_act=t["activation"], layer_norm_eps=t["layer_norm_eps"])
    config._attn_implementation = "eager"
    layer = CLIPEncoderLayer(config).eval()
    q, k, v = w["attn.in_proj_weight"].split(d)
    qb, kb, vb = w["attn.in_proj_bias"].split(d)
    layer.load_state_dict({
        "layer_norm1.weight": w["ln_1.weight"], "layer_norm1.bias": w["ln_1.bias"],
        "self_attn.q_proj.weight": q, "self_attn.k_proj.weight": k, "self_attn.v_proj.weight": v,
        "self_attn.q_proj.bias": qb, "self_attn.k_proj.bias": kb, "self_attn.v_proj.bias": vb,
        "self_attn.out_proj.weight": w["attn.out_proj.weight"], "self_attn.out_proj.bias": w["attn.out_proj.bias"],
        "layer_norm2.weight": w["ln_2.weight"], "layer_norm2.bias": w["ln_2.bias"],
        "mlp.fc1.weight": w["mlp.c_fc.weight"], "mlp.fc1.bias": w["mlp.c_fc.bias"],
        "mlp.fc2.weight": w["mlp.c_proj.weight"], "mlp.fc2.bias": w["mlp.c_proj.bias"],
    }, strict=True)
    post = torch.nn.LayerNorm(d, eps=t["layer_norm_eps"])
    post.load_state_dict({"weight": w["ln_post.weight"], "bias": w["ln_post.bias"]}, strict=True)

    def forward(tokens):
        with torch.inference_mode():
            return post(layer(torch.as_tensor(np.asarray(tokens, np.float32)), None)[:, 0]).numpy()
    return forward


def test_the_tail_file_alone_reproduces_the_pooled_feature(bundle, reference):
    """cam_tail.safetensors and the manifest's cam_tail are complete and named
    right: a fresh block built from them alone maps the stored tail input to
    image_pooled (the class token of its output through ln_post)."""
    f = load_file(os.path.join(bundle, "features.safetensors"))
    tail = fresh_tail(bundle)
    # From the exact hidden_states[-2]: float32 throughout.
    np.testing.assert_allclose(tail(np.stack(reference["tail"])), f["image_pooled"], atol=ATOL_F32, rtol=0)
    # From the f16 tokens as stored: their rounding (≤ 2⁻¹¹ relative, values up to ~4)
    # carried through one block and a LayerNorm (8·10⁻⁴ here, features up to ~3).
    np.testing.assert_allclose(tail(f["image_tail_input"]), f["image_pooled"], atol=3e-3, rtol=0)


def test_an_f32_tail_with_exact_gelu(work, dataset):
    """--spatial-dtype f32 stores hidden_states[-2] exactly, and a checkpoint
    with hidden_act gelu says so in cam_tail (the fresh block then uses it)."""
    ckpt = work / "tiny-clip-gelu"
    model = tiny_models.save_clip(ckpt, seed=2, hidden_act="gelu")
    out = work / "bundle-gelu-f32"
    extract("clip", "--model", ckpt, "--images", dataset["images"], "--labels", dataset["labels"],
            "--vocabulary", dataset["vocabulary"], "--out", out, "--spatial-dtype", "f32", "--originals", "--quiet")
    m = read_manifest(out)
    assert m["cam_tail"]["activation"] == "gelu" and m["cam_tail"]["heads"] == 4
    f = load_file(out / "features.safetensors")
    assert f["image_tail_input"].dtype == np.float32
    processor = CLIPImageProcessorPil.from_pretrained(ckpt)
    pixels = torch.cat([processor(images=Image.open(dataset["images"] / r[1]).convert("RGB"), return_tensors="pt")["pixel_values"]
                        for r in dataset["rows"]])
    with torch.inference_mode():
        want = model.vision_model(pixel_values=pixels, output_hidden_states=True).hidden_states[-2].numpy()
    np.testing.assert_allclose(f["image_tail_input"], want, atol=ATOL_F32, rtol=0)
    np.testing.assert_allclose(fresh_tail(out)(f["image_tail_input"]), f["image_pooled"], atol=ATOL_F32, rtol=0)


def test_an_activation_spurscope_lacks_is_refused(work, dataset):
    ckpt = work / "tiny-clip-gelu-new"
    tiny_models.save_clip(ckpt, hidden_act="gelu_new")
    args = ["clip", "--model", ckpt, "--images", dataset["images"], "--labels", dataset["labels"],
            "--vocabulary", dataset["vocabulary"], "--originals", "--quiet"]
    r = extract(*args, "--out", work / "never-gelu-new", check=False)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1].startswith(f"error: {ckpt}: vision_config.hidden_act: is 'gelu_new', expected one of quick_gelu, gelu")
    assert not (work / "never-gelu-new").exists()
    # Without the tail nothing needs the activation.
    extract(*args, "--out", work / "gelu-new-no-spatial", "--no-spatial")
    assert "cam_tail" not in read_manifest(work / "gelu-new-no-spatial")


def test_spurscope_validates_it(bundle):
    r = spurscope("validate", bundle)
    assert "sound" in r.stdout


def hf_zero_shot(reference, classes):
    """The checkpoint's own zero-shot predictions: CLIPModel's normalized
    embeddings, each class the normalized mean of its 80 templates' embeddings."""
    model, tokenizer = reference["model"], reference["tokenizer"]
    texts = [t.replace("{}", c) for c in classes for t in IMAGENET80]
    with torch.inference_mode():
        out = model(**tokenizer(texts, padding=True, return_tensors="pt"), pixel_values=reference["pixels"])
    class_embeds = torch.nn.functional.normalize(out.text_embeds.reshape(len(classes), 80, -1).mean(1), dim=-1)
    logits = out.image_embeds @ class_embeds.T
    top2 = logits.topk(2, dim=1).values
    return logits.argmax(1).numpy(), (top2[:, 0] - top2[:, 1]).min().item()


def test_zero_shot_through_spurscope_equals_the_models(bundle, reference, work):
    """spurscope eval groups by the ground-truth column; filled with 1 where the
    checkpoint itself is right and 0 where it is wrong, every group is 100 % or
    0 % exactly when spurscope's predictions are the checkpoint's."""
    predictions, margin = hf_zero_shot(reference, CLASSES)
    assert margin > 1e-4, "random weights gave a near tie; the comparison would test rounding"
    copy = work / "bundle-hf-correct"
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns(".spurscope"))
    rows = read_examples(bundle)
    with open(copy / "examples.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        for r, p in zip(rows, predictions):
            w.writerow(dict(r, **{"attr:water": int(CLASSES[p] == r["label"])}))
    seen, right = 0, 0
    for split in ("train", "val", "test"):
        result = json.loads(spurscope("eval", copy, "--zeroshot", "--split", split, "--no-aiou", "--json").stdout)
        for g in result["groups"]:
            assert g["accuracy"] == (0.0 if ", no water" in g["group"] else 1.0), (split, g)
            seen += g["n"]
            right += g["n"] * g["accuracy"]
    assert seen == len(rows)
    assert right == sum(CLASSES[p] == r["label"] for r, p in zip(rows, predictions))


METHODS = ["zeroshot", "clip-ft", "erm", "groupdro", "ours-ls", "ours-vs", "sfr", "starft", "dfr", "orth-proj"]


def test_every_method_runs_with_the_experts_own_words(bundle, work, reference, monkeypatch):
    """The expert's phrases were never encoded at extraction: spurscope encodes
    them (and every template, caption and context a method asks for) with the
    checkpoint's own text tower, and caches them per user."""
    copy = work / "bundle-words"
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns(".spurscope"))
    cache = work / "text-cache"
    monkeypatch.setenv("SPURSCOPE_CACHE", str(cache))
    present, absent = "swimming on a misty lake", "perched in a pine forest"
    for c in CLASSES:
        spurscope("mark", copy, "--class", c, "--attribute", "water", "--verdict", "spurious",
                  "--phrase-present", present, "--phrase-absent", absent)
    common = ["--attribute", "water", "--epochs", 2, "--batch-size", 4, "--json"]
    for method in METHODS:
        r = spurscope("train", copy, "--method", method, *common)
        assert '"status":"finished"' in r.stdout.splitlines()[-1], (method, r.stdout, r.stderr)
    # "land" is not in the vocabulary: the official form's absent word is encoded too.
    r = spurscope("train", copy, "--method", "ours-ls", "--loss-form", "official", "--absent-word", "water=land", *common)
    assert '"status":"finished"' in r.stdout.splitlines()[-1], r.stdout
    # What was encoded is the model's own text feature of the phrase prompt.
    text = f"a bad photo of a {CLASSES[0]} {present}."
    rows = [json.loads(line) for line in spurscope("encode", "--checkpoint", reference_checkpoint(bundle), text, "--json").stdout.splitlines()]
    model, tokenizer = reference["model"], reference["tokenizer"]
    with torch.inference_mode():
        want = model.text_model(**tokenizer([text], return_tensors="pt")).pooler_output[0].numpy()
    np.testing.assert_allclose(rows[0]["feature"], want, atol=ATOL_F32 * 10, rtol=0)
    assert rows[0]["tokens"] == tokenizer([text])["input_ids"][0]
    assert (cache / "text-features.sqlite").exists()


def reference_checkpoint(bundle):
    return read_manifest(bundle)["text_checkpoint"]["path"]


def test_a_bundle_whose_checkpoint_changed_says_so(bundle, work, clip_dir):
    copy = work / "bundle-moved"
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns(".spurscope"))
    m = read_manifest(copy)
    m["text_checkpoint"]["digest"] = "sha256:" + "0" * 64
    (copy / "manifest.json").write_text(json.dumps(m))
    r = spurscope("train", copy, "--method", "orth-proj", "--attribute", "water", check=False)
    assert r.returncode == 2
    assert "text_checkpoint.digest: is sha256:000000000000…" in r.stderr and "not the checkpoint that encoded this bundle" in r.stderr, r.stderr
    # Recording it again (after checks against the bundle) mends it.
    r = spurscope("import", "checkpoint", copy, "--checkpoint", clip_dir, "--force")
    assert "prompts encoded again match text_prompts" in r.stdout, r.stdout
    r = spurscope("train", copy, "--method", "orth-proj", "--attribute", "water", "--json")
    assert '"status":"finished"' in r.stdout.splitlines()[-1]


def test_spurscope_cam_reads_the_tail(bundle, work):
    copy = work / "bundle-cam"
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns(".spurscope"))
    # e01's original is 375×500; the bundle lists its square view.
    r = spurscope("cam", copy, "--example", "e01", "--ascii")
    assert "e01: waterbird" in r.stdout


def test_views_are_what_the_model_saw(bundle, reference, dataset):
    """Each listed image is the processor's resized, center-cropped input before
    normalisation: normalising it again gives the model's pixel tensor."""
    processor = CLIPImageProcessorPil.from_pretrained(reference["model"].name_or_path)
    mean, std = np.array(processor.image_mean), np.array(processor.image_std)
    for i, e in enumerate(read_examples(bundle)):
        view = np.asarray(Image.open(bundle / e["image"]))
        assert view.shape == (64, 64, 3)
        pixels = reference["pixels"][i].numpy().transpose(1, 2, 0)
        # uint8 storage rounds each value by at most half a level.
        np.testing.assert_allclose((view / 255 - mean) / std, pixels, atol=0.5 / 255 / std.min() + 1e-6)


def test_waterbirds_layout(work, clip_dir, dataset):
    """WILDS metadata.csv: y, split codes, place -> attr:water and groups; 'bird' leaves the vocabulary."""
    root = work / "waterbirds"
    (root / "001.Some_bird").mkdir(parents=True)
    with open(root / "metadata.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["img_id", "img_filename", "y", "split", "place", "place_filename"])
        for i, row in enumerate(dataset["rows"][:6]):
            shutil.copy(dataset["images"] / row[1], root / "001.Some_bird" / row[1])
            w.writerow([i + 1, f"001.Some_bird/{row[1]}", i % 2, (i // 2) % 3, (i // 3) % 2, "x.jpg"])
    out = work / "waterbirds-bundle"
    extract("clip", "--model", clip_dir, "--waterbirds", root, "--vocabulary", dataset["vocabulary"], "--out", out,
            "--no-spatial", "--originals", "--quiet")
    m = read_manifest(out)
    assert m["classes"] == ["landbird", "waterbird"] and m["groups"] == ["water"]
    assert m["attributes"] == ["water", "tree", "boat"]
    # --no-spatial: neither the tail input nor its weights, so no Grad-CAM.
    assert m["tensors"] == ["image_pooled", "text_prompts", "W_v", "W_t", "logit_scale"] and "cam_tail" not in m
    assert not (out / "cam_tail.safetensors").exists()
    assert sorted(load_file(out / "features.safetensors")) == sorted(m["tensors"])
    examples = read_examples(out)
    assert examples[0]["image"] == str(root / "001.Some_bird" / dataset["rows"][0][1])   # --originals
    assert [(e["label"], e["split"], e["attr:water"]) for e in examples[:4]] == [
        ("landbird", "train", "0"), ("waterbird", "train", "0"), ("landbird", "val", "0"), ("waterbird", "val", "1")]
    spurscope("validate", out)


def test_bad_input_names_the_file_and_exits_2(work, clip_dir, dataset):
    bad = work / "bad-labels.csv"
    rows = [r[:] for r in dataset["rows"]]
    rows[3][1] = "missing.jpg"
    with open(bad, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "image", "label", "split", "attr:water"])
        w.writerows(rows)
    r = extract("clip", "--model", clip_dir, "--images", dataset["images"], "--labels", bad, "--out", work / "never",
                check=False, subprocess_run=True)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == f"error: {bad}: line 5, column image: '{dataset['images'] / 'missing.jpg'}' does not exist"
    assert not (work / "never").exists()
    r = extract("clip", "--model", work / "no-such-model", "--images", dataset["images"], "--labels", dataset["labels"],
                "--out", work / "never", check=False)
    assert r.returncode == 2 and "error: --model:" in r.stderr


def test_a_phrase_longer_than_the_context_is_cut_and_said(bundle, work, monkeypatch):
    copy = work / "bundle-long"
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns(".spurscope"))
    monkeypatch.setenv("SPURSCOPE_CACHE", str(work / "text-cache-long"))
    long = " ".join(["standing in very deep and very cold water"] * 12)
    r = spurscope("mark", copy, "--class", CLASSES[0], "--attribute", "water", "--verdict", "spurious", "--phrase-present", long)
    assert "makes prompts longer than CLIP's 77 tokens" in r.stderr and "without water" not in r.stderr, r.stderr
    r = spurscope("encode", "--bundle", copy, f"a photo of a {CLASSES[0]} {long}.", "--json")
    row = json.loads(r.stdout.splitlines()[0])
    assert row["truncated"] and len(row["tokens"]) == 77 and not row["in_table"]
    r = spurscope("train", copy, "--method", "orth-proj", "--attribute", "water", "--json")
    assert '"status":"finished"' in r.stdout.splitlines()[-1]
