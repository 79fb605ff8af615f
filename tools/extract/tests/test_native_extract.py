"""`spurscope extract` (native, no Python) against `python -m spurscope_extract
clip` on the same tiny checkpoint and images: the same small files byte for
byte, the same tensors within the pre-processing tolerance; a killed run
resumes to the bundle an uninterrupted one writes; shards merge either way."""

import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
from PIL import Image
from safetensors.numpy import load_file

from conftest import extract, spurscope, spurscope_binary

SMALL_FILES = ("manifest.json", "examples.csv", "prompts.csv")


def native(clip_dir, dataset, out, *extra, check=True):
    return spurscope("extract", "--checkpoint", clip_dir, "--images", dataset["images"], "--labels", dataset["labels"],
                     "--vocabulary", dataset["vocabulary"], "--out", out, "--quiet", *extra, check=check)


def relative(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))


def test_native_bundle_equals_the_python_extractors(work, clip_dir, dataset, bundle):
    out = work / "native"
    native(clip_dir, dataset, out, "--batch", 5)
    # The same manifest (each extractor spells its JSON its own way) and
    # the same CSVs byte for byte.
    assert json.loads((out / "manifest.json").read_text()) == json.loads((bundle / "manifest.json").read_text())
    for name in ("examples.csv", "prompts.csv"):
        assert (out / name).read_bytes() == (bundle / name).read_bytes(), name
    ours, ref = load_file(out / "features.safetensors"), load_file(bundle / "features.safetensors")
    assert sorted(ours) == sorted(ref)
    errors = {k: relative(ours[k], ref[k]) for k in ref}
    print("native vs tools/extract, max |Δ| / max |ref|:", errors)
    # Pixels are equal (Pillow-exact resampling); what is left is float
    # summation order, and f16 rounding of the stored tail input.
    assert errors["image_pooled"] <= 1e-4 and errors["text_prompts"] <= 1e-4
    assert errors["image_tail_input"] <= 2e-3
    assert errors["W_v"] == errors["W_t"] == errors["logit_scale"] == 0
    # The same frozen tail, tensor for tensor (each writer lays out its header its own way).
    tail, ref_tail = load_file(out / "cam_tail.safetensors"), load_file(bundle / "cam_tail.safetensors")
    assert sorted(tail) == sorted(ref_tail) and all(np.array_equal(tail[k], ref_tail[k]) for k in ref_tail)
    # The maps both bundles give are the same Grad-CAM.
    a = json.loads(spurscope("cam", out, "--example", "e05", "--json").stdout)
    b = json.loads(spurscope("cam", bundle, "--example", "e05", "--json").stdout)
    assert a["layer"] == b["layer"] == "vision_model.encoder.layers[-1].layer_norm1"
    assert relative(a["grid"], b["grid"]) <= 1e-2, (a["grid"], b["grid"])
    # The model's views are the same pictures.
    for row in range(3):
        view = f"images/{row:07d}.png"
        assert np.array_equal(np.asarray(Image.open(out / view)), np.asarray(Image.open(bundle / view))), view
    spurscope("validate", out)
    a = spurscope("eval", out, "--zeroshot", "--json").stdout
    b = spurscope("eval", bundle, "--zeroshot", "--json").stdout
    assert json.loads(a)["worst_group"] == json.loads(b)["worst_group"]


def test_a_killed_extraction_resumes_to_the_same_bundle(work, clip_dir, dataset):
    whole = work / "resume-whole"
    native(clip_dir, dataset, whole, "--batch", 1)
    out = work / "resume"
    args = [spurscope_binary(), "extract", "--checkpoint", clip_dir, "--images", dataset["images"], "--labels", dataset["labels"],
            "--vocabulary", dataset["vocabulary"], "--out", out, "--batch", 1, "--quiet"]
    progress = work / ".resume.partial" / "progress.json"
    killed_at = None
    for _ in range(20):   # a run can finish before it is caught; try again
        p = subprocess.Popen([str(a) for a in args], stderr=subprocess.PIPE)
        while p.poll() is None:
            try:
                done = json.loads(progress.read_text())["images_done"]
            except (OSError, ValueError, KeyError):
                continue
            if done >= 2:
                p.send_signal(signal.SIGKILL)
                p.wait()
                killed_at = done
                break
        if killed_at is not None:
            break
        subprocess.run(["rm", "-rf", str(out)])
    assert killed_at is not None, "the extraction always finished before it could be killed"
    assert not out.exists()
    r = subprocess.run([str(a) for a in args if a != "--quiet"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "resumed after" in r.stderr
    a, b = load_file(out / "features.safetensors"), load_file(whole / "features.safetensors")
    for k in b:
        assert np.array_equal(a[k], b[k]), k
    assert not (work / ".resume.partial").exists()


def test_native_shards_merge_natively_and_with_the_python_merger(work, clip_dir, dataset):
    whole = work / "native-shard-whole"
    native(clip_dir, dataset, whole)
    shards = [work / f"native-shard-{n}" for n in (1, 2, 3)]
    for n, d in enumerate(shards, start=1):
        native(clip_dir, dataset, d, "--shard", f"{n}/3")
    # torchrun's environment names the worker for --shard auto.
    auto = work / "native-shard-auto"
    r = subprocess.run([spurscope_binary(), "extract", "--checkpoint", str(clip_dir), "--images", str(dataset["images"]),
                        "--labels", str(dataset["labels"]), "--vocabulary", str(dataset["vocabulary"]), "--out", str(auto),
                        "--shard", "auto", "--quiet"], env=dict(os.environ, RANK="1", WORLD_SIZE="3"), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (auto / "shard.json").read_bytes() == (shards[1] / "shard.json").read_bytes()
    merged = work / "native-shard-merged"
    spurscope("extract", "merge", *reversed(shards), "--out", merged)
    python_merged = work / "native-shard-merged-py"
    extract("merge", *shards, "--out", python_merged)
    ref = load_file(whole / "features.safetensors")
    ours, theirs = load_file(merged / "features.safetensors"), load_file(python_merged / "features.safetensors")
    for k in ref:
        assert np.array_equal(ours[k], theirs[k]), k
        # A worker batches other rows together (and shares other prompt
        # prefixes) than one whole run: equal up to float summation order.
        assert ours[k].shape == ref[k].shape and relative(ours[k], ref[k]) <= 1e-5, k
    for m in (merged, python_merged):
        for name in SMALL_FILES:
            assert (m / name).read_bytes() == (whole / name).read_bytes()
        assert sorted(os.listdir(m / "images")) == sorted(os.listdir(whole / "images"))
    r = spurscope("extract", "merge", shards[0], shards[2], "--out", work / "native-shard-missing", check=False)
    assert r.returncode == 2 and "shards 2 are missing" in r.stderr


def test_bad_input_exits_2_naming_the_file(work, clip_dir, dataset):
    labels = work / "bad-labels.csv"
    labels.write_text("id,image,label,split\na,missing.jpg,landbird,train\nb,00.png,waterbird,val\n")
    r = spurscope("extract", "--checkpoint", clip_dir, "--images", dataset["images"], "--labels", labels,
                  "--out", work / "bad", check=False)
    assert r.returncode == 2 and "missing.jpg" in r.stderr and "line 2, column image" in r.stderr
    broken = dataset["images"] / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    labels.write_text("id,image,label,split\na,broken.jpg,landbird,train\nb,00.png,waterbird,val\n")
    r = spurscope("extract", "--checkpoint", clip_dir, "--images", dataset["images"], "--labels", labels,
                  "--out", work / "bad", check=False)
    assert r.returncode == 2 and "broken.jpg" in r.stderr, r.stderr
    assert not (work / "bad").exists()
    r = spurscope("extract", "--checkpoint", dataset["labels"], "--images", dataset["images"], "--labels", labels,
                  "--out", work / "bad", check=False)
    assert r.returncode == 2 and "labels.csv" in r.stderr


def test_validate_refuses_a_tail_from_another_checkpoint(work, clip_dir, dataset, bundle, tmp_path):
    """Shapes alone cannot tell a tail copied from another model of the same
    size: validate forwards the tail from a few examples' cached input and
    compares with image_pooled."""
    import shutil
    from safetensors.numpy import save_file
    copy = tmp_path / "other-tail"
    shutil.copytree(bundle, copy)
    spurscope("validate", copy)
    tail = load_file(copy / "cam_tail.safetensors")
    rng = np.random.default_rng(3)
    tail["mlp.c_proj.weight"] = tail["mlp.c_proj.weight"] + rng.normal(0, 1, tail["mlp.c_proj.weight"].shape).astype(np.float32)
    save_file(tail, copy / "cam_tail.safetensors")
    r = spurscope("validate", copy, check=False)
    assert r.returncode == 2, r.stdout
    assert "cam_tail.safetensors: example" in r.stderr and "off image_pooled" in r.stderr, r.stderr
