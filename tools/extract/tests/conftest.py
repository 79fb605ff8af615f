"""Shared fixtures: tiny random-weight checkpoints, a handful of generated
non-square images with labels, the spurscope binary, and one extracted bundle."""

import contextlib
import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw

import tiny_models
from spurscope_extract.__main__ import main

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(TOOLS))
CLASSES = ["landbird", "waterbird"]
VOCABULARY = ["water", "tree", "boat", "bird"]
SIZES = [(500, 375), (375, 500), (320, 320), (640, 480)]


def spurscope_binary():
    path = os.environ.get("SPURSCOPE", os.path.join(REPO, ".build", "debug", "spurscope"))
    if not os.access(path, os.X_OK):
        pytest.fail(f"no spurscope binary at {path}: run `swift build` (or set SPURSCOPE)")
    return path


def spurscope(*args, check=True):
    r = subprocess.run([spurscope_binary(), *map(str, args)], capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError(f"spurscope {' '.join(map(str, args))} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def extract(*args, check=True, subprocess_run=False):
    """`python -m spurscope_extract ARGS`: in a fresh process as a user runs it
    (`subprocess_run`), or in this one (the same `main`, without paying for
    importing torch again)."""
    argv = [str(a) for a in args]
    if subprocess_run:
        env = dict(os.environ, PYTHONPATH=TOOLS)
        r = subprocess.run([sys.executable, "-m", "spurscope_extract", *argv], capture_output=True, text=True, env=env)
    else:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
        r = subprocess.CompletedProcess(argv, code, out.getvalue(), err.getvalue())
    if check and r.returncode != 0:
        raise AssertionError(f"spurscope_extract {' '.join(argv)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def read_examples(bundle):
    with open(os.path.join(bundle, "examples.csv"), newline="") as f:
        return list(csv.DictReader(f))


def read_prompts(bundle):
    with open(os.path.join(bundle, "prompts.csv"), newline="") as f:
        return [r["prompt"] for r in csv.DictReader(f)]


def read_manifest(bundle):
    with open(os.path.join(bundle, "manifest.json")) as f:
        return json.load(f)


@pytest.fixture(scope="session")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("extract")


@pytest.fixture(scope="session")
def clip_dir(work):
    d = work / "tiny-clip"
    tiny_models.save_clip(d)
    return d


@pytest.fixture(scope="session")
def owlvit_dir(work):
    d = work / "tiny-owlvit"
    tiny_models.save_owlvit(d)
    return d


@pytest.fixture(scope="session")
def dataset(work):
    """12 images in four sizes (two non-square), both classes in every split,
    ground truth `attr:water`; labels.csv with paths relative to images/."""
    images = work / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        w, h = SIZES[i % 4]
        img = Image.new("RGB", (w, h), tuple(int(x) for x in rng.integers(0, 256, 3)))
        draw = ImageDraw.Draw(img)
        draw.ellipse([w // 5, h // 4, 3 * w // 4, 4 * h // 5], fill=tuple(int(x) for x in rng.integers(0, 256, 3)))
        draw.rectangle([0, 2 * h // 3, w, h], fill=tuple(int(x) for x in rng.integers(0, 256, 3)))
        img.save(images / f"{i:02d}.{'jpg' if i % 3 else 'png'}")
        rows.append([f"e{i:02d}", f"{i:02d}.{'jpg' if i % 3 else 'png'}", CLASSES[i % 2],
                     ["train", "val", "test"][(i // 2) % 3], str((i // 3) % 2)])
    labels = work / "labels.csv"
    with open(labels, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "image", "label", "split", "attr:water"])
        w.writerows(rows)
    vocabulary = work / "vocabulary.txt"
    vocabulary.write_text("# test words\n" + "\n".join(VOCABULARY + ["landbird"]) + "\n")
    return {"images": images, "labels": labels, "vocabulary": vocabulary, "rows": rows}


@pytest.fixture(scope="session")
def bundle(work, clip_dir, dataset):
    out = work / "bundle"
    extract("clip", "--model", clip_dir, "--images", dataset["images"], "--labels", dataset["labels"],
            "--vocabulary", dataset["vocabulary"], "--out", out, "--batch", 5, "--quiet", subprocess_run=True)
    return out
