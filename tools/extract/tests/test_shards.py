"""`--shard N/M` and `merge`: three workers make the bundle one worker makes."""

import os
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from conftest import extract, read_manifest, spurscope


@pytest.fixture(scope="module")
def parts(work, clip_dir, dataset):
    out = []
    for n in (1, 2, 3):
        part = work / f"shard-{n}"
        extract("clip", "--model", clip_dir, "--images", dataset["images"], "--labels", dataset["labels"],
                "--vocabulary", dataset["vocabulary"], "--out", part, "--shard", f"{n}/3", "--batch", 3, "--quiet")
        out.append(part)
    return out


def test_three_shards_merge_into_the_unsharded_bundle(work, parts, bundle):
    merged = work / "merged"
    extract("merge", parts[2], parts[0], parts[1], "--out", merged)   # any order
    for name in ("manifest.json", "examples.csv", "prompts.csv", "cam_tail.safetensors"):
        assert (merged / name).read_bytes() == (bundle / name).read_bytes(), name
    a, b = load_file(merged / "features.safetensors"), load_file(bundle / "features.safetensors")
    assert list(a) == list(b)
    assert a["image_tail_input"].shape == (12, 17, 48) and "image_spatial" not in a
    for name in a:
        assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape, name
        # Same computation; only the batch boundaries differ (3 vs 5 a batch).
        np.testing.assert_allclose(a[name].astype(np.float32), b[name].astype(np.float32), atol=1e-6, rtol=1e-6, err_msg=name)
    views = sorted(os.listdir(merged / "images"))
    assert views == sorted(os.listdir(bundle / "images")) and len(views) == 12
    for v in views:
        assert (merged / "images" / v).read_bytes() == (bundle / "images" / v).read_bytes()
    spurscope("validate", merged)


def test_merge_refuses_a_shard_with_another_cam_tail(work, parts):
    """Every shard carries the whole cam_tail.safetensors; one that differs
    (here one weight changed) comes from another checkpoint."""
    copies = [work / f"cam-shard-{n}" for n in (1, 2, 3)]
    for src, dst in zip(parts, copies):
        shutil.copytree(src, dst)
    tail = load_file(copies[1] / "cam_tail.safetensors")
    tail["ln_post.bias"][0] += 1
    save_file(tail, copies[1] / "cam_tail.safetensors")
    r = extract("merge", *copies, "--out", work / "never-merged-cam", check=False)
    assert r.returncode == 2
    assert f"error: {copies[1] / 'cam_tail.safetensors'}: differs from {copies[0] / 'cam_tail.safetensors'}" in r.stderr, r.stderr
    assert not os.path.exists(work / "never-merged-cam")
    # A shard without it (the manifest names a cam_tail) is refused too.
    os.remove(copies[1] / "cam_tail.safetensors")
    r = extract("merge", *copies, "--out", work / "never-merged-cam", check=False)
    assert r.returncode == 2 and f"error: {copies[1] / 'cam_tail.safetensors'}: does not exist" in r.stderr, r.stderr
    assert not os.path.exists(work / "never-merged-cam")


def test_merge_refuses_an_incomplete_set(work, clip_dir, dataset):
    part = work / "lonely-shard"
    extract("clip", "--model", clip_dir, "--images", dataset["images"], "--labels", dataset["labels"],
            "--vocabulary", dataset["vocabulary"], "--out", part, "--shard", "2/3", "--quiet")
    r = extract("merge", part, "--out", work / "never-merged", check=False)
    assert r.returncode == 2 and "shards 1, 3 are missing" in r.stderr
    assert not os.path.exists(work / "never-merged")


def test_sharded_detection_merges_into_the_unsharded_file(work, bundle, owlvit_dir):
    whole, split = work / "det-whole", work / "det-split"
    for d in (whole, split):
        shutil.copytree(bundle, d, ignore=shutil.ignore_patterns(".spurscope"))
    extract("detect", "--model", owlvit_dir, "--bundle", whole, "--threshold", 0.9, "--csv", "--quiet")
    for n in (1, 2, 3):
        extract("detect", "--model", owlvit_dir, "--bundle", split, "--threshold", 0.9, "--shard", f"{n}/3", "--csv", "--quiet")
    assert "detections" not in read_manifest(split)   # named only once the shards are merged
    extract("merge-detections", split)
    for name in ("attributes.csv", "owlvit-detections.csv", "manifest.json"):
        assert (split / name).read_text() == (whole / name).read_text(), name
    a, b = load_file(split / "detections.safetensors"), load_file(whole / "detections.safetensors")
    assert list(a) == list(b) and all(np.array_equal(a[k], b[k]) for k in a)
    assert not any(".shard-" in f for f in os.listdir(split))
    spurscope("validate", split)


def test_merge_detections_refuses_a_missing_shard(work, bundle, owlvit_dir):
    d = work / "det-missing"
    shutil.copytree(bundle, d, ignore=shutil.ignore_patterns(".spurscope"))
    for n in (1, 3):
        extract("detect", "--model", owlvit_dir, "--bundle", d, "--threshold", 0.9, "--shard", f"{n}/3", "--quiet")
    r = extract("merge-detections", d, check=False)
    assert r.returncode == 2 and "needs detection shards 1..3 of 3" in r.stderr
    assert not os.path.exists(d / "detections.safetensors")
