"""`detect` against OwlViTForObjectDetection's own forward pass."""

import csv
import json
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoTokenizer, OwlViTForObjectDetection
from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil

from safetensors.numpy import save_file

from conftest import VOCABULARY, extract, read_manifest, spurscope
from spurscope_extract import detections


@pytest.fixture(scope="module")
def detected(work, bundle, owlvit_dir):
    copy = work / "bundle-detect"
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns(".spurscope"))
    # A high operating point: the random model's scores are near 1.
    extract("detect", "--model", owlvit_dir, "--bundle", copy, "--threshold", 0.9, "--batch", 5, "--csv", "--quiet")
    return copy


def owlvit_reference(owlvit_dir, dataset, query="a photo of a {}"):
    """Best-box sigmoid score per image and word from the model's forward pass
    with the words as its text queries."""
    model = OwlViTForObjectDetection.from_pretrained(owlvit_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(owlvit_dir)
    processor = OwlViTImageProcessorPil.from_pretrained(owlvit_dir)
    out = []
    with torch.inference_mode():
        for row in dataset["rows"]:
            pixels = processor(images=Image.open(dataset["images"] / row[1]).convert("RGB"), return_tensors="pt")["pixel_values"]
            tokens = tokenizer([query.replace("{}", w) for w in VOCABULARY], padding="max_length", return_tensors="pt")
            logits = model(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"], pixel_values=pixels).logits
            out.append(torch.sigmoid(logits[0]).max(0).values.numpy())
    return np.stack(out)                                     # [images, words]


def read_binary(bundle_dir):
    offsets, attributes, scores, meta = detections.read(bundle_dir / "detections.safetensors")
    # Every file of the bundle has the same mode (0600 would lock a group out of a shared bundle).
    modes = {p.name: p.stat().st_mode & 0o777 for p in bundle_dir.iterdir() if p.is_file()}
    assert len(set(modes.values())) == 1 and modes["detections.safetensors"] & 0o044, modes
    return offsets, attributes, scores, meta


def test_detections_equal_the_models_forward_pass(detected, owlvit_dir, dataset):
    raw = owlvit_reference(owlvit_dir, dataset)
    ids = [r[0] for r in dataset["rows"]]
    man = read_manifest(detected)
    assert man["detections"] == "detections.safetensors" and man["detection_threshold"] == 0.9
    offsets, attributes, scores, meta = read_binary(detected)
    assert json.loads(meta["attributes"]) == man["attributes"]
    assert offsets.dtype == np.int64 and attributes.dtype == np.int32 and scores.dtype == np.float32
    assert len(offsets) == len(ids) + 1
    got = {}
    for i, e in enumerate(ids):
        for j in range(offsets[i], offsets[i + 1]):
            got[(e, man["attributes"][attributes[j]])] = float(scores[j])
    with open(detected / "owlvit-detections.csv", newline="") as f:
        copy = {(r["id"], r["attribute"]): float(r["owlvit_score"]) for r in csv.DictReader(f)}
    with open(detected / "attributes.csv", newline="") as f:
        readable = {(r["id"], r["attribute"]): float(r["score"]) for r in csv.DictReader(f)}
    expected_rows = 0
    for i, e in enumerate(ids):
        for k, w in enumerate(VOCABULARY):
            if raw[i, k] >= 0.9 / 2 + 1e-5:
                expected_rows += 1
                # The raw OWL-ViT score, as the model's forward pass gives it (f32; 1e-5 for the batch).
                assert got[(e, w)] == pytest.approx(raw[i, k], abs=1e-5)
            elif raw[i, k] < 0.9 / 2 - 1e-5:
                assert (e, w) not in got
    assert len(got) >= expected_rows > 0
    assert copy == readable == pytest.approx(got, abs=1e-7)


def test_spurscope_reads_the_detections(detected):
    r = spurscope("validate", detected)
    nnz = int(read_binary(detected)[0][-1])
    assert "sound" in r.stdout and f" {nnz} detections" in r.stdout and nnz > 0
    spurscope("detect", detected, "--split", "all", "--min-support", 1)


def audit(bundle_dir, *extra):
    """`spurscope detect --json` less the bundle's path."""
    out = json.loads(spurscope("detect", bundle_dir, "--json", "--top", 0, "--split", "all", "--min-support", 1, *extra).stdout)
    del out["bundle"]
    return out


def test_spurscopes_conversion_of_the_csv_gives_the_same_file_and_audit(work, detected):
    """attributes.csv -> `spurscope import detections` -> the extractor's own binary file, and the same audit table."""
    copy = work / "bundle-detect-converted"
    shutil.copytree(detected, copy, ignore=shutil.ignore_patterns(".spurscope", "detections.safetensors"))
    man = read_manifest(copy)
    del man["detections"]
    (copy / "manifest.json").write_text(json.dumps(man))
    from_csv = audit(copy)          # spurscope reading attributes.csv
    spurscope("import", "detections", copy)
    assert read_manifest(copy)["detections"] == "detections.safetensors"
    for a, b in zip(read_binary(copy)[:3], read_binary(detected)[:3]):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    # The manifest's threshold (0.9) decides presence, from either file.
    assert audit(copy) == from_csv == audit(detected) == audit(detected, "--threshold", 0.9)
    # ... and it matters: the file keeps entries from T/2 = 0.45, and counting those below 0.9 changes the table.
    assert read_binary(detected)[2].min() < 0.9
    assert audit(detected, "--threshold", 0.45) != from_csv


def test_a_corrupted_file_from_the_extractor_is_refused(work, detected):
    copy = work / "bundle-detect-corrupt"
    shutil.copytree(detected, copy, ignore=shutil.ignore_patterns(".spurscope"))
    offsets, attributes, scores, meta = read_binary(copy)
    man = read_manifest(copy)
    scores = scores.copy()
    scores[0] = np.nan
    save_file({"offsets": offsets, "attribute": attributes, "score": scores}, str(copy / "detections.safetensors"), metadata=meta)
    r = spurscope("validate", copy, check=False)
    assert r.returncode == 2
    assert f"{copy}/detections.safetensors: tensor 'score': entry 0 (example row 0) is nan" in r.stderr
    attributes = attributes.copy()
    attributes[-1] = len(man["attributes"])
    save_file({"offsets": offsets, "attribute": attributes, "score": np.nan_to_num(scores)},
              str(copy / "detections.safetensors"), metadata=meta)
    r = spurscope("detect", copy, check=False)
    assert r.returncode == 2 and "tensor 'attribute'" in r.stderr and "expected an index 0..<" in r.stderr


def test_words_outside_the_bundles_vocabulary_are_refused(work, bundle, owlvit_dir):
    words = work / "other-words.txt"
    words.write_text("water\nzeppelin\n")
    r = extract("detect", "--model", owlvit_dir, "--bundle", bundle, "--vocabulary", words, check=False)
    assert r.returncode == 2
    assert "'zeppelin'" in r.stderr and "re-run `clip` with this --vocabulary" in r.stderr
    assert not os.path.exists(bundle / "attributes.csv") and not os.path.exists(bundle / "detections.safetensors")


def test_reimporting_an_extracted_bundle_keeps_what_it_is_not_told_to_change(work, detected):
    """`import tensors` from a bundle's own files: the detection threshold,
    the binary detections, the text checkpoint, the pooling and the
    Grad-CAM tail come along, so the audit and the maps are the same."""
    out = work / "reimported"
    spurscope("import", "tensors", "--examples", detected / "examples.csv", "--features", detected / "features.safetensors",
              "--prompts", detected / "prompts.csv", "--out", out, "--force")
    old, new = read_manifest(detected), read_manifest(out)
    for key in ("detection_threshold", "detections", "pooling", "cam_tail", "grid", "attributes", "groups"):
        assert new.get(key) == old.get(key), (key, new.get(key), old.get(key))
    assert new["text_checkpoint"]["digest"] == old["text_checkpoint"]["digest"]
    assert os.path.isabs(new["text_checkpoint"]["path"])
    assert (out / "detections.safetensors").exists() and (out / "cam_tail.safetensors").exists()
    assert audit(out) == audit(detected)
    a = json.loads(spurscope("cam", out, "--example", "e05", "--json").stdout)
    b = json.loads(spurscope("cam", detected, "--example", "e05", "--json").stdout)
    assert a == b
    spurscope("validate", out)
