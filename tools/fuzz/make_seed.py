#!/usr/bin/env python3
"""Shrinks a `spurscope synth` bundle into the fuzzer's seed bundle.

The fuzzer copies and mutates the seed thousands of times, and every crash
is kept as a regression case relative to it, so the seed is small (a few
hundred KB, committed under Tests/CLITests/FuzzCases/seed) yet valid and
covering every code path the fuzzed commands take: PNG and JPEG images and
masks, non-square images, a non-square feature grid, ground truth with
blanks, detections, benchmark groups.

    spurscope synth --recipe tools/fuzz/seed-recipe.json --out /tmp/synth --quiet
    python3 tools/fuzz/make_seed.py /tmp/synth Tests/CLITests/FuzzCases/seed

Needs numpy (only here; fuzz.py itself is standard library only).
"""
import csv, json, os, re, shutil, struct, sys

import numpy as np

TEMPLATES = 3          # templates kept from the synth bundle
GRID = (4, 2)          # (H, W) after block-averaging the 16 x 16 maps
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "Tests", "SpurCoreTests", "Fixtures", "images")
DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(data[a:b], dtype=DTYPES[v["dtype"]]).reshape(v["shape"])
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"written_by": "spurscope fuzz seed"}}, [], 0
    names = {np.dtype(np.float32): "F32", np.dtype(np.float16): "F16"}
    for k, t in tensors.items():
        b = np.ascontiguousarray(t).tobytes()
        header[k] = {"dtype": names[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def main(src, dst):
    if os.path.exists(dst):
        shutil.rmtree(dst)
    os.makedirs(os.path.join(dst, "images"))
    os.makedirs(os.path.join(dst, "masks"))
    manifest = json.load(open(os.path.join(src, "manifest.json")))
    kept = manifest["templates"][:TEMPLATES]
    manifest["templates"] = kept
    manifest["grid"] = {"H": GRID[0], "W": GRID[1]}

    t = read_safetensors(os.path.join(src, "features.safetensors"))
    prompts = [r[0] for r in csv.reader(open(os.path.join(src, "prompts.csv")))][1:]
    patterns = [re.compile("^" + re.escape(k).replace(re.escape("{}"), ".*") + "$") for k in kept]
    keep = [i for i, p in enumerate(prompts) if p.startswith("a photo of ") or any(r.match(p) for r in patterns)]
    with open(os.path.join(dst, "prompts.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["prompt"])
        for i in keep:
            w.writerow([prompts[i]])
    spatial = t["image_spatial"].astype(np.float32)
    n, h, w, d = spatial.shape
    bh, bw = h // GRID[0], w // GRID[1]
    pooled_maps = spatial.reshape(n, GRID[0], bh, GRID[1], bw, d).mean(axis=(2, 4))
    write_safetensors(os.path.join(dst, "features.safetensors"), {
        "image_pooled": t["image_pooled"], "image_spatial": pooled_maps.astype(np.float16),
        "text_prompts": t["text_prompts"][keep], "W_v": t["W_v"], "W_t": t["W_t"], "logit_scale": t["logit_scale"]})

    rows = list(csv.reader(open(os.path.join(src, "examples.csv"))))
    head, body = rows[0], rows[1:]
    col = {c: i for i, c in enumerate(head)}
    jpeg_done, blank_done = {"val": 0, "test": 0}, 0
    for r in body:
        split = r[col["split"]]
        if split in jpeg_done and jpeg_done[split] < 2:
            # Non-square JPEG image and mask (64 x 48) in place of the 32 x 32 PNG.
            jpeg_done[split] += 1
            r[col["image"]], r[col["mask"]] = "images/scene-64x48.jpg", "masks/mask-64x48.jpg"
            r[col["bbox"]] = "16.0 16.0 32.0 32.0"
        else:
            for c in ("image", "mask"):
                shutil.copy(os.path.join(src, r[col[c]]), os.path.join(dst, r[col[c]]))
        if split == "test" and blank_done < 1 and jpeg_done["test"] == 2:
            r[col["attr:boat"]] = ""     # a blank ground-truth value: unknown
            blank_done += 1
    shutil.copy(os.path.join(FIXTURES, "scene-64x48.jpg"), os.path.join(dst, "images"))
    shutil.copy(os.path.join(FIXTURES, "mask-64x48.jpg"), os.path.join(dst, "masks"))
    with open(os.path.join(dst, "examples.csv"), "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([head] + body)
    shutil.copy(os.path.join(src, "attributes.csv"), dst)
    with open(os.path.join(dst, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
