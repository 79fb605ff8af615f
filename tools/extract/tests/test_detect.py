"""`detect` against OwlViTForObjectDetection's own forward pass."""

import csv
import os
import shutil

import numpy as np
import pytest
import torch
from PIL import Image
from transformers import AutoTokenizer, OwlViTForObjectDetection
from transformers.models.owlvit.image_processing_pil_owlvit import OwlViTImageProcessorPil

from conftest import VOCABULARY, extract, spurscope
from spurscope_extract.detect import spurscope_score


@pytest.fixture(scope="module")
def detected(work, bundle, owlvit_dir):
    copy = work / "bundle-detect"
    shutil.copytree(bundle, copy, ignore=shutil.ignore_patterns(".spurscope"))
    # A high operating point: the random model's scores are near 1.
    extract("detect", "--model", owlvit_dir, "--bundle", copy, "--threshold", 0.9, "--batch", 5, "--quiet")
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


def test_score_mapping_puts_the_threshold_at_one_half():
    t = 0.1
    raw = np.array([0, 0.05, 0.1, 0.55, 1.0])
    np.testing.assert_allclose(spurscope_score(raw, t), [0, 0.25, 0.5, 0.75, 1.0])
    grid = np.linspace(0, 1, 1001)
    assert np.all(np.diff(spurscope_score(grid, t)) > 0)
    assert np.array_equal(spurscope_score(grid, t) >= 0.5, grid >= t)


def test_detections_equal_the_models_forward_pass(detected, owlvit_dir, dataset):
    raw = owlvit_reference(owlvit_dir, dataset)
    ids = [r[0] for r in dataset["rows"]]
    with open(detected / "owlvit-detections.csv", newline="") as f:
        got = {(r["id"], r["attribute"]): float(r["owlvit_score"]) for r in csv.DictReader(f)}
    with open(detected / "attributes.csv", newline="") as f:
        mapped = {(r["id"], r["attribute"]): float(r["score"]) for r in csv.DictReader(f)}
    expected_rows = 0
    for i, e in enumerate(ids):
        for k, w in enumerate(VOCABULARY):
            if raw[i, k] >= 0.9 / 2 + 1e-5:
                expected_rows += 1
                assert got[(e, w)] == pytest.approx(raw[i, k], abs=1e-5)
                assert mapped[(e, w)] == pytest.approx(float(spurscope_score(raw[i, k], 0.9)), abs=1e-5)
            elif raw[i, k] < 0.9 / 2 - 1e-5:
                assert (e, w) not in got
    assert len(got) == len(mapped) >= expected_rows > 0


def test_spurscope_reads_the_detections(detected):
    r = spurscope("validate", detected)
    assert "sound" in r.stdout and " 0 detections" not in r.stdout
    spurscope("detect", detected, "--split", "all", "--min-support", 1)


def test_words_outside_the_bundles_vocabulary_are_refused(work, bundle, owlvit_dir):
    words = work / "other-words.txt"
    words.write_text("water\nzeppelin\n")
    r = extract("detect", "--model", owlvit_dir, "--bundle", bundle, "--vocabulary", words, check=False)
    assert r.returncode == 2
    assert "'zeppelin'" in r.stderr and "re-run `clip` with this --vocabulary" in r.stderr
    assert not os.path.exists(bundle / "attributes.csv")
