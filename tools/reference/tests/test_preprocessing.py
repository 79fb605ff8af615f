"""`spurscope preprocess` against the checkpoints' own pipelines: transformers'
CLIPImageProcessorPil (what tools/extract uses) for Hugging Face folders, and
OpenAI's / open_clip's Resize + CenterCrop + ToTensor + Normalize, written
here with Pillow and numpy (torchvision does not load here; on a PIL picture
its Resize is Pillow's resize, its CenterCrop offset int(round(margin / 2))).
Every picture is read as the extractor reads it:
ImageOps.exif_transpose(Image.open(p)).convert("RGB").

Pictures: photograph-like (gradients, noise, hard edges) in the sizes and
modes datasets hold. The views (uint8, S x S) must be equal to the byte; the
pixels, once normalisation is undone, within 1/255 (float32 rounding only)."""

import io
import json
import os
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps
from safetensors.numpy import load_file, save_file
from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

from conftest import run_spurscope

# Pillow warns when a palette PNG's transparency is a table, which is the point of that case.
pytestmark = pytest.mark.filterwarnings("ignore:Palette images with Transparency:UserWarning")

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
SIZES = [(500, 375), (375, 500), (333, 501), (224, 224), (100, 80), (1024, 768)]
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "Tests", "SpurCoreTests", "Fixtures", "images")


def photo(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([255 * x / w, 255 * (1 - y / h), 128 + 90 * np.sin(x / 23.0 + y / 37.0)], -1)
    img = Image.fromarray(np.clip(base + rng.normal(0, 9, base.shape), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(6):
        x0, y0 = int(rng.integers(0, w - 2)), int(rng.integers(0, h - 2))
        x1, y1 = x0 + int(rng.integers(1, max(2, w // 3))), y0 + int(rng.integers(1, max(2, h // 3)))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)([x0, y0, x1, y1], fill=colour)
    return img


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def raw_png(w, h, bit_depth, colour_type, rows):
    """A PNG of 16-bit samples, which Pillow does not write for RGB."""
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + r for r in rows))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def tiff_orientation(value, big_endian):
    e = ">" if big_endian else "<"
    return (b"MM" if big_endian else b"II") + struct.pack(e + "HIH", 42, 8, 1) + struct.pack(e + "HHIHH", 0x0112, 3, 1, value, 0) + b"\0\0\0\0"


def stored_for(upright, orientation):
    """The picture a camera stores so that `orientation` shows `upright`."""
    inverse = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
               5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
               8: Image.Transpose.ROTATE_270}
    return upright.transpose(inverse[orientation]) if orientation in inverse else upright


def make_images(d):
    """{case name: path}."""
    out = {}
    for i, (w, h) in enumerate(SIZES):
        img = photo(w, h, i)
        tag = f"{w}x{h}"
        out[f"rgb-png-{tag}"] = d / f"rgb-{tag}.png"
        img.save(out[f"rgb-png-{tag}"])
        out[f"jpeg420-{tag}"] = d / f"j420-{tag}.jpg"
        img.save(out[f"jpeg420-{tag}"], quality=90)
        if i in (0, 2, 4):
            out[f"jpeg444-{tag}"] = d / f"j444-{tag}.jpg"
            img.save(out[f"jpeg444-{tag}"], quality=95, subsampling=0)
            out[f"progressive-{tag}"] = d / f"prog-{tag}.jpg"
            img.save(out[f"progressive-{tag}"], quality=85, progressive=True)
            out[f"grey-jpeg-{tag}"] = d / f"grey-{tag}.jpg"
            img.convert("L").save(out[f"grey-jpeg-{tag}"], quality=90)
            out[f"cmyk-jpeg-{tag}"] = d / f"cmyk-{tag}.jpg"
            img.convert("CMYK").save(out[f"cmyk-jpeg-{tag}"], quality=90)
            out[f"grey-png-{tag}"] = d / f"grey-{tag}.png"
            img.convert("L").save(out[f"grey-png-{tag}"])
            pal = img.quantize(colors=200, method=Image.Quantize.MEDIANCUT)
            out[f"palette-png-{tag}"] = d / f"pal-{tag}.png"
            pal.save(out[f"palette-png-{tag}"])
            out[f"palette-trns-png-{tag}"] = d / f"paltrns-{tag}.png"
            pal.save(out[f"palette-trns-png-{tag}"], transparency=bytes(range(0, 200)))
            pal16 = img.quantize(colors=16)
            out[f"palette4bit-png-{tag}"] = d / f"pal4-{tag}.png"
            pal16.save(out[f"palette4bit-png-{tag}"], bits=4)
            rgba = img.copy()
            rgba.putalpha(Image.fromarray((np.arange(w * h).reshape(h, w) % 256).astype(np.uint8)))
            out[f"rgba-png-{tag}"] = d / f"rgba-{tag}.png"
            rgba.save(out[f"rgba-png-{tag}"])
            la = rgba.convert("LA")
            out[f"la-png-{tag}"] = d / f"la-{tag}.png"
            la.save(out[f"la-png-{tag}"])
            out[f"grey-trns-png-{tag}"] = d / f"greytrns-{tag}.png"
            img.convert("L").save(out[f"grey-trns-png-{tag}"], transparency=128)
            out[f"palette-key-png-{tag}"] = d / f"palkey-{tag}.png"
            pal.save(out[f"palette-key-png-{tag}"], transparency=7)
            out[f"rgb-key-png-{tag}"] = d / f"rgbkey-{tag}.png"
            img.save(out[f"rgb-key-png-{tag}"], transparency=tuple(int(c) for c in np.asarray(img)[h // 2, w // 2]))
            out[f"onebit-png-{tag}"] = d / f"onebit-{tag}.png"
            img.convert("1").save(out[f"onebit-png-{tag}"])
            a = np.asarray(img).astype(np.uint32)
            noise = np.random.default_rng(i).integers(0, 256, a.shape, dtype=np.uint32)
            sixteen = (a << 8 | noise).astype(">u2")   # low bytes that a scaling reduction would notice
            out[f"rgb16-png-{tag}"] = d / f"rgb16-{tag}.png"
            out[f"rgb16-png-{tag}"].write_bytes(raw_png(w, h, 16, 2, [r.tobytes() for r in sixteen]))
            rgba16 = np.concatenate([sixteen, np.full((h, w, 1), 0x8000, ">u2")], -1)
            out[f"rgba16-png-{tag}"] = d / f"rgba16-{tag}.png"
            out[f"rgba16-png-{tag}"].write_bytes(raw_png(w, h, 16, 6, [r.tobytes() for r in rgba16]))
            grey16 = (np.asarray(img.convert("L")).astype(np.uint16) * 2 + 1).astype(">u2")   # half past 255: clipped
            out[f"grey16-png-{tag}"] = d / f"grey16-{tag}.png"
            out[f"grey16-png-{tag}"].write_bytes(raw_png(w, h, 16, 0, [r.tobytes() for r in grey16]))
    # Noise on both sides of Pillow 13's pass-order switch for a squash to
    # 224 x 224 (vertical first when the height shrinks by more than twice
    # the width's shrink: 2 * 76 < 156, 2 * 78 = 156).
    noise = np.random.default_rng(7)
    for w, h in [(300, 380), (302, 380), (240, 900)]:
        out[f"noise-{w}x{h}"] = d / f"noise-{w}x{h}.png"
        Image.fromarray(noise.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(out[f"noise-{w}x{h}"])
    upright = photo(500, 375, 99)
    for o in range(1, 9):
        for big in (False, True):
            name = f"exif{o}-{'mm' if big else 'ii'}-jpeg"
            out[name] = d / f"{name}.jpg"
            stored_for(upright, o).save(out[name], quality=90, exif=b"Exif\0\0" + tiff_orientation(o, big))
        name = f"exif{o}-png"
        out[name] = d / f"{name}.png"
        stored_for(upright, o).save(out[name], exif=b"Exif\0\0" + tiff_orientation(o, o % 2 == 0))
    out["ycck-jpeg-7x5"] = os.path.abspath(os.path.join(FIXTURES, "ycck.jpg"))
    return {k: str(v) for k, v in out.items()}


def tower_weights(layout, image_size, patch=32, width=4):
    """Just the tensors that tell the layout and the image size."""
    g = image_size // patch
    if layout == "hf":
        return {"vision_model.embeddings.patch_embedding.weight": np.zeros((width, 3, patch, patch), np.float32),
                "vision_model.embeddings.position_embedding.weight": np.zeros((1 + g * g, width), np.float32),
                "text_model.embeddings.token_embedding.weight": np.zeros((8, width), np.float32)}
    return {"visual.conv1.weight": np.zeros((width, 3, patch, patch), np.float32),
            "visual.positional_embedding": np.zeros((1 + g * g, width), np.float32),
            "visual.class_embedding": np.zeros((width,), np.float32),
            "token_embedding.weight": np.zeros((8, width), np.float32)}


def openai_reference(rgb, size, mean, std, resample=Image.BICUBIC, squash=False):
    """Resize(size) + CenterCrop(size) (or Resize((size, size))), ToTensor, Normalize."""
    w, h = rgb.size
    if squash:
        nw, nh = size, size
    else:
        short, long = min(w, h), max(w, h)
        nw, nh = (size, int(size * long / short)) if w <= h else (int(size * long / short), size)
    resized = np.asarray(rgb.resize((nw, nh), resample))
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    view = resized[top:top + size, left:left + size]
    pixels = (view.astype(np.float32) / 255 - np.array(mean, np.float32)) / np.array(std, np.float32)
    return view, pixels.transpose(2, 0, 1)


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    return make_images(tmp_path_factory.mktemp("pictures"))


def read_upright(path):
    """As tools/extract's images.open_rgb: transformers' convert_to_rgb would
    paint a tRNS colour key, which convert("RGB") keeps in info, white."""
    with Image.open(path) as img:
        rgb = ImageOps.exif_transpose(img).convert("RGB")
    rgb.info.pop("transparency", None)
    return rgb


def run_preprocess(checkpoint, paths, tmp):
    out, views = tmp / "pixels.safetensors", tmp / "views"
    run_spurscope("preprocess", "--checkpoint", checkpoint, *paths, "--out", out, "--views", views)
    pixels = load_file(str(out))["pixel_values"]
    return pixels, [np.asarray(Image.open(views / f"{i:07d}.png").convert("RGB")) for i in range(len(paths))]


def compare(names, pixels, views, references, mean, std):
    """Max |Δ| per case, in 8-bit steps, once normalisation is undone."""
    mean, std = np.array(mean, np.float32)[:, None, None], np.array(std, np.float32)[:, None, None]
    worst = {}
    for k, name in enumerate(names):
        ref_view, ref_pixels = references[k]
        assert views[k].shape == ref_view.shape, name
        view_delta = int(np.abs(views[k].astype(int) - ref_view.astype(int)).max())
        pixel_delta = float(np.abs((pixels[k] * std + mean) - (ref_pixels * std + mean)).max() * 255)
        worst[name] = (view_delta, pixel_delta)
        print(f"  {name:28s} view max|Δ| {view_delta}   pixels max|Δ| {pixel_delta:.2e} / 255")
    bad = {n: d for n, d in worst.items() if d[0] != 0 or d[1] > 1.0}
    assert not bad, f"differs from the reference: {bad}"


HF_RECIPES = {
    # CLIPImageProcessorPil's defaults, as openai/clip-vit-base-patch32 ships them.
    "hf-224": dict(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}),
    # A larger resize than the crop, bilinear, other statistics.
    "hf-256-crop-224-bilinear": dict(size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=2,
                                      image_mean=[0.5, 0.4, 0.3], image_std=[0.2, 0.25, 0.3]),
}


@pytest.mark.parametrize("recipe", sorted(HF_RECIPES))
def test_hugging_face_recipe(recipe, pictures, tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(tower_weights("hf", 224), str(folder / "model.safetensors"))
    processor = CLIPImageProcessorPil(**HF_RECIPES[recipe])
    processor.save_pretrained(folder)
    processor = CLIPImageProcessorPil.from_pretrained(folder)
    names = sorted(pictures)
    pixels, views = run_preprocess(folder, [pictures[n] for n in names], tmp_path)
    references = []
    for n in names:
        rgb = read_upright(pictures[n])
        ref = processor(images=rgb, return_tensors="np")["pixel_values"][0]
        raw = processor(images=rgb, do_rescale=False, do_normalize=False, return_tensors="np")["pixel_values"][0]
        references.append((np.clip(np.rint(raw.transpose(1, 2, 0)), 0, 255).astype(np.uint8), ref))
    print(f"\n{recipe}:")
    compare(names, pixels, views, references, processor.image_mean, processor.image_std)


OPENAI_RECIPES = {
    # No open_clip_config.json: OpenAI's own transform.
    "openai-default": (None, dict()),
    "open-clip-config": ({"mean": [0.45, 0.41, 0.39], "std": [0.27, 0.26, 0.28], "interpolation": "bicubic",
                          "resize_mode": "shortest"}, dict(mean=(0.45, 0.41, 0.39), std=(0.27, 0.26, 0.28))),
    "open-clip-bilinear-squash": ({"interpolation": "bilinear", "resize_mode": "squash"},
                                  dict(resample=Image.BILINEAR, squash=True)),
}


@pytest.mark.parametrize("recipe", sorted(OPENAI_RECIPES))
def test_openai_recipe(recipe, pictures, tmp_path):
    config, options = OPENAI_RECIPES[recipe]
    folder = tmp_path / "oc"
    folder.mkdir()
    save_file(tower_weights("openai", 224), str(folder / "open_clip_model.safetensors"))
    if config is not None:
        (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": {"embed_dim": 4}, "preprocess_cfg": config}))
    mean, std = options.pop("mean", OPENAI_MEAN), options.pop("std", OPENAI_STD)
    names = sorted(pictures)
    pixels, views = run_preprocess(folder, [pictures[n] for n in names], tmp_path)
    references = [openai_reference(read_upright(pictures[n]), 224, mean, std, **options) for n in names]
    print(f"\n{recipe}:")
    compare(names, pixels, views, references, mean, std)


def test_other_sizes_and_the_tensor_encode_images_reads(pictures, tmp_path):
    """A 336-pixel tower (patch 14, grid 24): the size comes from the weights."""
    folder = tmp_path / "hf336"
    folder.mkdir()
    save_file(tower_weights("hf", 336, patch=14), str(folder / "model.safetensors"))
    processor = CLIPImageProcessorPil(size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336})
    processor.save_pretrained(folder)
    names = ["jpeg420-500x375", "exif6-ii-jpeg", "rgba-png-333x501"]
    pixels, views = run_preprocess(folder, [pictures[n] for n in names], tmp_path)
    assert pixels.shape == (3, 3, 336, 336) and pixels.dtype == np.float32
    ref = processor(images=[read_upright(pictures[n]) for n in names], return_tensors="np")["pixel_values"]
    assert np.abs(pixels - ref).max() * 0.28 * 255 <= 1.0


def test_unreadable_pictures_are_named(pictures, tmp_path):
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file(tower_weights("hf", 224), str(folder / "model.safetensors"))
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture\n")
    r = run_spurscope("preprocess", "--checkpoint", folder, pictures["rgb-png-224x224"], text,
                      "--out", tmp_path / "p.safetensors", check=False)
    assert r.returncode == 2 and r.stderr == f"error: {text}: not a PNG or JPEG image\n", r.stderr
    (folder / "preprocessor_config.json").write_text(json.dumps({"resample": 1}))
    r = run_spurscope("preprocess", "--checkpoint", folder, pictures["rgb-png-224x224"],
                      "--out", tmp_path / "p.safetensors", check=False)
    assert r.returncode == 2 and "preprocessor_config.json: resample: is 1" in r.stderr, r.stderr
